-- A handoff picks the active agent with the fewest open (transferred) conversations, under the
-- schema's assignment lock, counting each candidate's: with an index on assigned_to alone,
-- that count read every conversation the agent ever had, resolved ones included (resolving
-- keeps assigned_to), so every handoff got slower as the desk's history grew, and every other
-- handoff waited for it. With status beside assigned_to, the count reads only the open ones,
-- from the index alone; the agents' "assigned to me" list uses the same index as before.
-- Status changes already touch conversations_status_last_message_idx, so the per-message
-- updates that stay on their page (migration 0003) still do.
-- The build blocks writes to the table while it runs (short: one row per chat). On a large
-- table, build it first by hand, `CREATE INDEX CONCURRENTLY conversations_assigned_status_idx
-- ON conversations (assigned_to, status)`, and this finds it.
CREATE INDEX IF NOT EXISTS conversations_assigned_status_idx ON conversations (assigned_to, status);
DROP INDEX IF EXISTS conversations_assigned_to_idx;
