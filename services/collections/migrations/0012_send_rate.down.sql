DROP TABLE instance_send_rate;
