ALTER TABLE message_attempts DROP COLUMN code;
