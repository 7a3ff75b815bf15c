ALTER TABLE outbound_messages DROP COLUMN echo_message_id;
