-- Back to the statuses before `responded`: a debtor who answered counts as contacted with
-- every attempt used, so nothing more is sent to them and their campaign can complete.
DROP INDEX message_attempts_target_idx;
DROP INDEX voice_targets_open_phone_idx;
UPDATE voice_campaign_targets t SET status = 'contacted',
    attempt_count = greatest(t.attempt_count, c.max_attempts)
  FROM voice_campaigns c WHERE c.id = t.campaign_id AND t.status = 'responded';
ALTER TABLE voice_campaign_targets
  DROP CONSTRAINT voice_campaign_targets_status_check,
  ADD CONSTRAINT voice_campaign_targets_status_check
    CHECK (status IN ('pending', 'contacted', 'promised', 'paid', 'failed', 'exhausted')) NOT VALID;
