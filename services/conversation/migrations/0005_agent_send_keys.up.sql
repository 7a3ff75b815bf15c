-- POST /api/conversations/{id}/messages with an Idempotency-Key: the key is kept a day with
-- the message it created, per user (the JWT's subject), with the SHA-256 (hex) of the
-- conversation id and the text. A retry with the same key and request answers that message
-- again and sends nothing; the same key with another request is refused. The primary key,
-- not the read before the insert, is what keeps two concurrent requests from both sending
-- (INSERT ... ON CONFLICT DO NOTHING). The desk service deletes keys older than a day.
CREATE TABLE agent_send_keys (
  user_id uuid NOT NULL,
  idempotency_key text NOT NULL,
  request_sha256 text NOT NULL,
  conversation_id uuid NOT NULL,
  message_id uuid NOT NULL,
  command_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX agent_send_keys_created_at_idx ON agent_send_keys (created_at);
