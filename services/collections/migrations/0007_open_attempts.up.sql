-- The scheduler counts, before each batch, a campaign's messages still awaiting their outcome
-- (LIA_COLLECTIONS_MAX_IN_FLIGHT): only those rows are in this index, so the count reads a
-- few hundred entries at most, not the campaign's whole history.
CREATE INDEX message_attempts_open_idx ON message_attempts (campaign_id, requested_at)
  WHERE outcome IS NULL;
