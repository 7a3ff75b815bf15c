-- One row per send command (command_id is the idempotency key): what was asked, how many
-- tries it took, what the provider answered, and the delivery tick since.
CREATE TABLE outbound_messages (
  id uuid PRIMARY KEY,
  command_id uuid NOT NULL,
  event_id text NOT NULL,
  command_type text NOT NULL CHECK (command_type IN ('send_text', 'send_template')),
  provider text NOT NULL CHECK (provider IN ('meta', 'evolution')),
  instance text NOT NULL,
  to_chat text NOT NULL,
  conversation_id uuid,
  message_id uuid,
  priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'bulk')),
  body text,
  template_name text,
  template_language text,
  template_parameters jsonb,
  not_after timestamptz,
  status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'dead_lettered')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  provider_message_id text,
  http_status integer,
  last_error text,
  error_code text,
  delivery_status text CHECK (delivery_status IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')),
  delivery_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  sent_at timestamptz,
  finished_at timestamptz,
  delivery_updated_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbound_messages_command_id_key UNIQUE (command_id),
  CONSTRAINT outbound_messages_sent_has_id CHECK (status <> 'sent' OR provider_message_id IS NOT NULL)
);
CREATE INDEX outbound_messages_provider_message_id_idx ON outbound_messages (provider_message_id)
  WHERE provider_message_id IS NOT NULL;
CREATE INDEX outbound_messages_conversation_id_idx ON outbound_messages (conversation_id)
  WHERE conversation_id IS NOT NULL;
CREATE INDEX outbound_messages_status_created_at_idx ON outbound_messages (status, created_at);
