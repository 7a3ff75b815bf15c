-- Back to the statuses before `opted_out`: such a target is failed with the reason, so the
-- version before this one sends it nothing more. The list of numbers is dropped: a campaign
-- made afterwards would message them again.
UPDATE voice_campaign_targets SET status = 'failed', next_attempt_at = NULL,
    last_error = 'the debtor asked for no more collection messages'
  WHERE status = 'opted_out';
ALTER TABLE voice_campaign_targets
  DROP CONSTRAINT voice_campaign_targets_status_check,
  ADD CONSTRAINT voice_campaign_targets_status_check
    CHECK (status IN ('pending', 'contacted', 'responded', 'promised', 'paid', 'failed',
                      'exhausted')) NOT VALID;
DROP TABLE contact_opt_outs;
