-- conversation's core tables: desk users, contacts, conversations, messages, ticks that
-- arrived before their provider message id was known, and the users' activity log.
-- Adapted from the seed schema (snake_case columns, uuid ids, timestamptz).

CREATE TABLE users (
  id uuid PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  full_name text NOT NULL,
  email text UNIQUE,
  role text NOT NULL DEFAULT 'AGENT' CHECK (role IN ('ADMIN', 'SUPERVISOR', 'AGENT')),
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE')),
  departments text[] NOT NULL DEFAULT ARRAY['general']::text[],
  participates_in_gamification boolean NOT NULL DEFAULT true,
  last_login_at timestamptz,
  last_activity_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_role_status_idx ON users (role, status);

CREATE TABLE contacts (
  id uuid PRIMARY KEY,
  phone text NOT NULL UNIQUE,            -- E.164 digits without '+'
  name text,
  push_name text,
  document text,
  document_type text CHECK (document_type IN ('CPF', 'CNPJ', 'CLIENT_CODE')),
  email text,
  address text,
  city text,
  state text,
  zip_code text,
  tags text[] NOT NULL DEFAULT ARRAY[]::text[],
  notes text,
  provider text,                          -- the chat it last wrote from
  instance text,
  chat_id text,
  whatsapp_profile_picture text,
  last_interaction_at timestamptz,
  total_conversations integer NOT NULL DEFAULT 0,
  average_nps integer,
  is_blacklisted boolean NOT NULL DEFAULT false,
  blacklist_reason text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
  id uuid PRIMARY KEY,
  provider text NOT NULL CHECK (provider IN ('meta', 'evolution')),
  instance text NOT NULL,
  chat_id text NOT NULL,
  contact_id uuid NOT NULL REFERENCES contacts (id),
  assistant_type text NOT NULL DEFAULT 'apresentacao',
  department text NOT NULL DEFAULT 'general',
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'transferred', 'resolved')),
  mode text NOT NULL DEFAULT 'ai' CHECK (mode IN ('ai', 'human', 'hybrid')),
  sentiment text NOT NULL DEFAULT 'neutral',
  sentiment_score double precision,
  urgency text NOT NULL DEFAULT 'normal',
  transferred_to_human boolean NOT NULL DEFAULT false,
  transfer_reason text,
  transferred_at timestamptz,
  assigned_to uuid REFERENCES users (id),
  resolved_by uuid REFERENCES users (id),
  resolved_at timestamptz,
  resolution_time integer,                -- seconds from opened_at to resolved_at
  survey_id uuid,
  survey_sent_at timestamptz,
  survey_expires_at timestamptz,
  survey_answered boolean NOT NULL DEFAULT false,
  survey_score integer,
  last_message text,
  last_message_time timestamptz NOT NULL DEFAULT now(),
  conversation_source text NOT NULL DEFAULT 'inbound',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  opened_at timestamptz NOT NULL DEFAULT now(),   -- creation or the last reopening
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (instance, chat_id)
);
CREATE INDEX conversations_last_message_time_idx ON conversations (last_message_time);
CREATE INDEX conversations_status_idx ON conversations (status);
CREATE INDEX conversations_status_last_message_idx ON conversations (status, last_message_time);
CREATE INDEX conversations_assigned_to_idx ON conversations (assigned_to);
CREATE INDEX conversations_transferred_idx ON conversations (transferred_to_human);
CREATE INDEX conversations_department_idx ON conversations (department);
CREATE INDEX conversations_contact_idx ON conversations (contact_id);

CREATE TABLE messages (
  id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (id),
  instance text NOT NULL,                 -- the conversation's instance (dedupe scope)
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  author text NOT NULL CHECK (author IN ('customer', 'ai', 'agent', 'system')),
  agent_user_id uuid,
  assistant text,
  content text,
  kind text NOT NULL,
  media jsonb,
  location jsonb,
  route text CHECK (route IN ('ai', 'human', 'hybrid', 'survey', 'none')),
  from_me boolean NOT NULL DEFAULT false, -- written on the business phone itself
  is_private boolean NOT NULL DEFAULT false,  -- AI suggestion or note, never sent
  whatsapp_message_id text,
  whatsapp_status text CHECK (whatsapp_status IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')),
  status_reason text,
  status_updated_at timestamptz,
  send_by text,                           -- client, ai, agent, supervisor, system
  command_id uuid UNIQUE,
  reply_to_message_id uuid,
  sent_at timestamptz,                    -- inbound: the provider's time
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (instance, whatsapp_message_id)
);
CREATE INDEX messages_conversation_timestamp_idx ON messages (conversation_id, created_at);
CREATE INDEX messages_whatsapp_status_idx ON messages (whatsapp_status, status_updated_at);

-- Ticks for a provider message id not known yet (notification.message.sent comes later,
-- on another topic); applied when the id becomes known, dropped after a retention.
CREATE TABLE pending_statuses (
  instance text NOT NULL,
  whatsapp_message_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')),
  reason text,
  status_at timestamptz,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance, whatsapp_message_id, status)
);
CREATE INDEX pending_statuses_received_at_idx ON pending_statuses (received_at);

CREATE TABLE activity_logs (
  id uuid PRIMARY KEY,
  user_id uuid,
  action text NOT NULL,                   -- login, create_user, transfer_conversation, resolve_conversation
  ip_address text,
  user_agent text,
  session_duration integer,
  conversation_id uuid,
  target_user_id uuid,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_logs_user_idx ON activity_logs (user_id, created_at);
