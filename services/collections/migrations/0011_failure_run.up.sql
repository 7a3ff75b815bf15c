-- Messages not sent for the service's trouble (credentials, the instance, a provider down)
-- give their attempt back to the debtor, which is made again under the same number, like an
-- expired one: such a row is marked given_back and stays out of the one-row-per-attempt rule.
-- A campaign counts its run of them (failures_in_a_row, reset by any message the provider
-- took); at LIA_COLLECTIONS_PAUSE_AFTER_FAILURES it is paused, and paused_reason says why
-- (NULL: paused by a person, or not paused).
-- The unique index's build reads the whole table and blocks writes to it while it runs. On a
-- large table, build it first by hand with CREATE UNIQUE INDEX CONCURRENTLY and the same
-- definition; this then finds it.
ALTER TABLE voice_campaigns
  ADD COLUMN failures_in_a_row integer NOT NULL DEFAULT 0,
  ADD COLUMN paused_reason text;
ALTER TABLE message_attempts ADD COLUMN given_back boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX IF NOT EXISTS message_attempts_target_attempt_once
  ON message_attempts (target_id, attempt)
  WHERE outcome IS DISTINCT FROM 'expired' AND NOT given_back;
DROP INDEX message_attempts_target_id_attempt_key;
