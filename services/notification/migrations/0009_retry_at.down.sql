ALTER TABLE outbound_messages DROP COLUMN retry_at;
