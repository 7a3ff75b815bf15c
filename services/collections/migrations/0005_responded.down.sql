-- Back to the statuses before `responded`: a debtor who answered counts as contacted, still
-- without a next attempt, so nothing more is sent to them.
DROP INDEX voice_targets_open_phone_idx;
UPDATE voice_campaign_targets SET status = 'contacted' WHERE status = 'responded';
ALTER TABLE voice_campaign_targets
  DROP CONSTRAINT voice_campaign_targets_status_check,
  ADD CONSTRAINT voice_campaign_targets_status_check
    CHECK (status IN ('pending', 'contacted', 'promised', 'paid', 'failed', 'exhausted')) NOT VALID;
