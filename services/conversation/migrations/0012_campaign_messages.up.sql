-- A collection campaign's message (collections.events.v1's message.requested), kept until the
-- debtor answers: their answer's conversation then shows it, before the answer, with its
-- ticks. A debtor who never answers gets no conversation (an agent's list is not a campaign's
-- target list); such rows go after LIA_CAMPAIGN_ANSWER_WINDOW_MS.
--
-- notification's message.sent and failures, and the provider's ticks, may come before the
-- request (other topics): a row then starts with only what they tell (the command, its
-- provider id and tick; `content` NULL) and the request fills in the rest. Any other
-- service's send without a conversation (an outage broadcast) leaves such a row, which no
-- request completes, until the same purge.
CREATE TABLE campaign_messages (
  command_id uuid PRIMARY KEY,
  instance text NOT NULL,
  phone text,                 -- E.164 digits (lia::domain::normalize_wa_id of `to`)
  campaign_id uuid,
  target_id uuid,
  content text,               -- NULL until message.requested
  requested_at timestamptz,
  whatsapp_message_id text,
  whatsapp_status text NOT NULL DEFAULT 'PENDING'
    CHECK (whatsapp_status IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')),
  status_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_messages_chat_idx ON campaign_messages (instance, phone)
  WHERE content IS NOT NULL;
CREATE INDEX campaign_messages_provider_id_idx ON campaign_messages (instance, whatsapp_message_id)
  WHERE whatsapp_message_id IS NOT NULL;
-- The purge's order: by the request's time once known.
CREATE INDEX campaign_messages_kept_since_idx ON campaign_messages
  ((COALESCE(requested_at, created_at)));
