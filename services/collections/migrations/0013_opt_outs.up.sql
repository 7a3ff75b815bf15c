-- A debtor who asks an assistant for no more collection messages (ai_orchestration's
-- register_opt_out in ai.events.v1) is kept here by phone, the E.164 digits as targets keep
-- them: no campaign, on any instance, sends to that number again. Their open targets become
-- `opted_out` at once; a target made later, or one a batch had already read, is found by the
-- scheduler before it sends. The status check is added back NOT VALID, as in 0005.
CREATE TABLE contact_opt_outs (
  phone_number text PRIMARY KEY,
  opted_out_at timestamptz NOT NULL,
  conversation_id uuid,
  source text NOT NULL
);
ALTER TABLE voice_campaign_targets
  DROP CONSTRAINT voice_campaign_targets_status_check,
  ADD CONSTRAINT voice_campaign_targets_status_check
    CHECK (status IN ('pending', 'contacted', 'responded', 'promised', 'paid', 'failed',
                      'exhausted', 'opted_out')) NOT VALID;
