-- A payment promise is kept for a target whatever became of it but paid (an opted-out,
-- failed or exhausted debtor may still promise), so its look-up by phone needs an index on
-- every target's phone, not only the open ones' (0009's partial index, dropped here). A
-- promise also looks for its target's pending promise, to renegotiate it: an index on
-- voice_promises(target_id) for those.
--
-- Each build reads its whole table and blocks writes to it while it runs: on large tables,
-- build them first by hand with CREATE INDEX CONCURRENTLY and the same definitions; this then
-- finds them.
CREATE INDEX IF NOT EXISTS voice_targets_phone_idx ON voice_campaign_targets (phone_number);
CREATE INDEX IF NOT EXISTS voice_promises_pending_target_idx ON voice_promises (target_id)
  WHERE status = 'pending';
DROP INDEX IF EXISTS voice_targets_promise_phone_idx;
