-- The chats a collection campaign messaged (collections.events.v1's message.requested, by the
-- campaign's instance and `to`, which follows ingestion's chat naming): a debtor's answer to it
-- starts with cobranca, not apresentacao. One row per chat, the latest request's time.
CREATE TABLE campaign_chats (
  instance text NOT NULL,
  chat_id text NOT NULL,
  requested_at timestamptz NOT NULL,
  PRIMARY KEY (instance, chat_id)
);
