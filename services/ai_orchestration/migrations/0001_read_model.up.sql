-- ai_orchestration's read model of conversation.events.v1 and contacts.v1: what it needs to
-- answer a customer (who answers, whether the AI may answer, the recent messages, the
-- context threads), never read from another service's schema.

-- One row per conversation, from conversation.created / transferred / resolved / reopened
-- and every message.stored.
CREATE TABLE conversations (
  conversation_id uuid PRIMARY KEY,
  contact_id uuid NOT NULL,
  provider text NOT NULL,
  instance text NOT NULL,
  chat_id text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'transferred', 'resolved')),
  mode text NOT NULL DEFAULT 'ai' CHECK (mode IN ('ai', 'human', 'hybrid')),
  assistant_type text NOT NULL DEFAULT 'apresentacao' CHECK (assistant_type IN
    ('apresentacao', 'comercial', 'suporte', 'financeiro', 'cancelamento', 'ouvidoria', 'cobranca')),
  -- Set when the AI asked for a handoff: it stays silent until conversation says who answers.
  handoff_requested_at timestamptz,
  message_count integer NOT NULL DEFAULT 0,
  customer_message_count integer NOT NULL DEFAULT 0,
  ai_reply_count integer NOT NULL DEFAULT 0,
  negative_streak integer NOT NULL DEFAULT 0,
  sentiment text CHECK (sentiment IN ('positive', 'neutral', 'negative')),
  sentiment_score double precision,
  urgency text CHECK (urgency IN ('normal', 'high', 'urgent')),
  last_intent text,
  version bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_chat_idx ON conversations (instance, chat_id);
CREATE INDEX conversations_status_idx ON conversations (status, updated_at);

-- The last messages of each conversation (kept to LIA_AI_RECENT_MESSAGES), the context of
-- the next answer. seq is the conversation's message_count when the message was stored.
CREATE TABLE recent_messages (
  message_id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
  seq integer NOT NULL,
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  author text NOT NULL CHECK (author IN ('customer', 'ai', 'agent', 'system')),
  kind text NOT NULL,
  assistant_type text,
  content text NOT NULL DEFAULT '',
  sent_at timestamptz NOT NULL
);
CREATE INDEX recent_messages_conversation_idx ON recent_messages (conversation_id, seq);

-- Seed 000 conversation_threads: context threads rotated at 55 messages with a summary.
CREATE TABLE conversation_threads (
  id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
  thread_id text NOT NULL,
  message_count integer NOT NULL DEFAULT 0,
  summary text,
  preserved_message_ids text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz,
  closed_reason text CHECK (closed_reason IN ('rotation', 'conversation_ended')),
  CHECK ((closed_at IS NULL) = (closed_reason IS NULL))
);
CREATE INDEX conversation_threads_conversation_id_idx ON conversation_threads (conversation_id);
CREATE UNIQUE INDEX conversation_threads_thread_id_idx ON conversation_threads (thread_id);
CREATE INDEX conversation_threads_active_idx ON conversation_threads (conversation_id, closed_at);
-- At most one open thread per conversation.
CREATE UNIQUE INDEX conversation_threads_one_open_idx ON conversation_threads (conversation_id)
  WHERE closed_at IS NULL;

-- Customers' names from contacts.v1, to greet them by name (first name only).
CREATE TABLE contacts (
  contact_id uuid PRIMARY KEY,
  first_name text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Open outages the lookup_outage tool reports (empty until someone registers one).
CREATE TABLE outages (
  id uuid PRIMARY KEY,
  cep_prefix text NOT NULL CHECK (cep_prefix ~ '^[0-9]{1,8}$'),
  region text NOT NULL,
  description text NOT NULL,
  eta timestamptz,
  opened_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz
);
CREATE INDEX outages_open_idx ON outages (cep_prefix) WHERE closed_at IS NULL;
