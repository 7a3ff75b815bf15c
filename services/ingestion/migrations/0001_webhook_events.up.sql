-- The webhook audit log (seed 002's webhook_events), written off the request path: one row
-- per published event (status processed, by the audit consumer) and one per rejected
-- webhook or item, or per event whose webhook was answered 503 (by the in-memory writer).
-- No raw bodies and no personal data: a whole-request row keeps the body's SHA-256 and size.
CREATE TABLE webhook_events (
  id                  uuid PRIMARY KEY,  -- the CloudEvent id, or a UUIDv7 for a request row
  provider            text NOT NULL CHECK (provider IN ('meta', 'evolution')),
  event_kind          text NOT NULL,     -- lia.whatsapp.* type, or 'webhook' (whole request)
  provider_event      text,              -- 'messages' (Meta), 'messages.upsert', ...
  instance            text,              -- phone_number_id / Evolution instance
  provider_message_id text,              -- wamid / key.id
  detail              text,              -- message kind, status, state, or rejection code
  status              text NOT NULL CHECK (status IN ('processed', 'failed', 'rejected')),
  reason              text,
  http_status         integer,
  body_sha256         text,
  body_bytes          bigint,
  topic               text,
  kafka_partition     integer,
  kafka_offset        bigint,
  received_at         timestamptz NOT NULL,
  recorded_at         timestamptz NOT NULL DEFAULT now()
);

-- BRIN: nearly free to maintain on an append-mostly log; serves time-range scans and
-- retention deletes (DELETE ... WHERE received_at < now() - interval '90 days').
CREATE INDEX webhook_events_received_at_idx ON webhook_events USING brin (received_at);
CREATE INDEX webhook_events_message_idx ON webhook_events (provider, instance, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
CREATE INDEX webhook_events_problems_idx ON webhook_events (received_at)
  WHERE status <> 'processed';
