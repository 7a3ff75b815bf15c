-- A debtor who answers a campaign message is `responded`: no further attempts. The status
-- check is added back NOT VALID (the rows were checked by the constraint it replaces, and
-- nothing scans the table under the exclusive lock). The reply handler runs for every inbound
-- message of the suite: it finds a chat's open targets by phone across campaigns (a partial
-- index of the targets still being chased keeps that small), then each one's attempts (the
-- per-target index 0002 left is partial, not one that look-up can use).
ALTER TABLE voice_campaign_targets
  DROP CONSTRAINT voice_campaign_targets_status_check,
  ADD CONSTRAINT voice_campaign_targets_status_check
    CHECK (status IN ('pending', 'contacted', 'responded', 'promised', 'paid', 'failed',
                      'exhausted')) NOT VALID;
CREATE INDEX voice_targets_open_phone_idx ON voice_campaign_targets (phone_number)
  WHERE status IN ('pending', 'contacted');
CREATE INDEX message_attempts_target_idx ON message_attempts (target_id, requested_at);
