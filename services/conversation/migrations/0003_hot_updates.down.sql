ALTER TABLE messages RESET (fillfactor);
ALTER TABLE conversations RESET (fillfactor);
CREATE INDEX conversations_transferred_idx ON conversations (transferred_to_human);
CREATE INDEX conversations_status_idx ON conversations (status);
