-- A payment promise a debtor makes to the assistants (ai_orchestration's
-- register_payment_promise in ai.events.v1) is kept in voice_promises, and its target becomes
-- `promised`. The look-up is by the chat's phone among the targets a campaign is chasing or
-- that answered it: a partial index keeps that small.
CREATE INDEX voice_targets_promise_phone_idx ON voice_campaign_targets (phone_number)
  WHERE status IN ('pending', 'contacted', 'responded', 'promised');
ALTER TABLE voice_promises ADD COLUMN conversation_id uuid;
