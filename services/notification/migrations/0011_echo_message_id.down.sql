DROP INDEX IF EXISTS outbound_messages_unsettled_idx;
ALTER TABLE outbound_messages DROP COLUMN echo_message_id;
