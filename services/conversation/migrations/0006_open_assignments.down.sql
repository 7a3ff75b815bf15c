CREATE INDEX conversations_assigned_to_idx ON conversations (assigned_to);
DROP INDEX conversations_assigned_status_idx;
