-- The version before this one looks promises up among the open targets only (0009's index).
CREATE INDEX IF NOT EXISTS voice_targets_promise_phone_idx ON voice_campaign_targets (phone_number)
  WHERE status IN ('pending', 'contacted', 'responded', 'promised');
DROP INDEX IF EXISTS voice_promises_pending_target_idx;
DROP INDEX IF EXISTS voice_targets_phone_idx;
