-- Every message updates its conversation (last message, time, status) and most ticks update a
-- message. Fewer indexes on conversations and free room on the pages let PostgreSQL keep more
-- of those updates on the same page (HOT), without a new entry in every index.
-- conversations_status_idx is the prefix of conversations_status_last_message_idx, and a
-- boolean index (transferred_to_human) never beats a scan filtered by status.
DROP INDEX conversations_status_idx;
DROP INDEX conversations_transferred_idx;
ALTER TABLE conversations SET (fillfactor = 80);
ALTER TABLE messages SET (fillfactor = 85);
