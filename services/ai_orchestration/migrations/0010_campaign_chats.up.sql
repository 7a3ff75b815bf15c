-- The chats a collection campaign messaged (collections.events.v1's message.requested): a
-- debtor's answer to it starts with cobranca, not apresentacao. By the campaign's instance and
-- the phone as E.164 digits (lia::domain::normalize_wa_id): the debtor answers from the number
-- as WhatsApp names it, which may lack the ninth digit the campaign's `to` has. One row per
-- chat, the latest request's time.
CREATE TABLE campaign_chats (
  instance text NOT NULL,
  phone text NOT NULL,
  requested_at timestamptz NOT NULL,
  PRIMARY KEY (instance, phone)
);
