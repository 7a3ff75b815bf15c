ALTER TABLE outbound_messages DROP COLUMN command_source;
