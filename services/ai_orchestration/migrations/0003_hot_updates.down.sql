ALTER TABLE conversation_threads RESET (fillfactor);
ALTER TABLE conversations RESET (fillfactor);
DROP INDEX conversations_status_idx;
CREATE INDEX conversations_status_idx ON conversations (status, updated_at);
