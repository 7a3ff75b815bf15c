-- The read model's conversation row changes with every message. updated_at in an index made
-- each of those updates touch every index; nothing reads conversations by (status,
-- updated_at), so the index keeps status only and the pages keep room for same-page (HOT)
-- updates.
DROP INDEX conversations_status_idx;
CREATE INDEX conversations_status_idx ON conversations (status);
ALTER TABLE conversations SET (fillfactor = 80);
ALTER TABLE conversation_threads SET (fillfactor = 80);
