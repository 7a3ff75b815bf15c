-- The scheduler counts, before each batch, a campaign's messages still awaiting their outcome
-- (LIA_COLLECTIONS_MAX_IN_FLIGHT): only those rows are in this index, so the count reads a
-- few hundred entries at most, not the campaign's whole history.
-- The build reads the whole table and blocks writes to it while it runs. On a large table,
-- build it first by hand with CREATE INDEX CONCURRENTLY and the same definition; this then
-- finds it.
CREATE INDEX IF NOT EXISTS message_attempts_open_idx ON message_attempts (campaign_id, requested_at)
  WHERE outcome IS NULL;
