DROP TABLE agent_send_keys;
