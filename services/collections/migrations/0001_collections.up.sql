-- collections' tables (schema collections; the migrator sets search_path). Names follow
-- the seed's voice_* tables, which run over WhatsApp.

CREATE TABLE voice_campaigns (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text,
  status text NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'completed', 'cancelled')),
  template text NOT NULL,
  -- Allowed hours, local to LIA_COLLECTIONS_UTC_OFFSET_MINUTES: [start, end) on the days of
  -- the bitmask (bit 0 Sunday .. bit 6 Saturday).
  hours_start text NOT NULL,
  hours_end text NOT NULL,
  hours_days smallint NOT NULL CHECK (hours_days BETWEEN 1 AND 127),
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  attempt_spacing_minutes integer NOT NULL CHECK (attempt_spacing_minutes >= 1),
  provider text NOT NULL CHECK (provider IN ('meta', 'evolution')),
  instance text NOT NULL,
  total_targets integer NOT NULL DEFAULT 0,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz
);
CREATE INDEX voice_campaigns_status_idx ON voice_campaigns (status);
CREATE INDEX voice_campaigns_created_by_idx ON voice_campaigns (created_by);

CREATE TABLE voice_campaign_targets (
  id uuid PRIMARY KEY,
  campaign_id uuid NOT NULL REFERENCES voice_campaigns (id) ON DELETE CASCADE,
  debtor_name text NOT NULL,
  phone_number text NOT NULL,
  debtor_document text,
  debtor_document_type text CHECK (debtor_document_type IN ('CPF', 'CNPJ')),
  debt_amount bigint NOT NULL CHECK (debt_amount >= 0),
  due_date date NOT NULL,
  vars jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'contacted', 'promised', 'paid', 'failed', 'exhausted')),
  attempt_count integer NOT NULL DEFAULT 0,
  last_attempt_at timestamptz,
  next_attempt_at timestamptz,
  last_command_id uuid,
  last_error text,
  conversation_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (campaign_id, phone_number)
);
-- What the scheduler looks for: targets still to contact, by when they are due.
CREATE INDEX voice_targets_due_idx ON voice_campaign_targets (campaign_id, next_attempt_at)
  WHERE status IN ('pending', 'contacted') AND next_attempt_at IS NOT NULL;
CREATE INDEX voice_targets_state_idx ON voice_campaign_targets (status);

-- One row per message sent to a target (the command that carried it and its outcome).
CREATE TABLE message_attempts (
  command_id uuid PRIMARY KEY,
  target_id uuid NOT NULL REFERENCES voice_campaign_targets (id) ON DELETE CASCADE,
  campaign_id uuid NOT NULL,
  attempt integer NOT NULL,
  requested_at timestamptz NOT NULL,
  outcome text CHECK (outcome IN ('sent', 'failed', 'dead_lettered')),
  outcome_at timestamptz,
  reason text,
  provider_message_id text,
  UNIQUE (target_id, attempt)
);

CREATE TABLE voice_promises (
  id uuid PRIMARY KEY,
  campaign_id uuid NOT NULL REFERENCES voice_campaigns (id) ON DELETE CASCADE,
  target_id uuid NOT NULL REFERENCES voice_campaign_targets (id) ON DELETE CASCADE,
  contact_id uuid,
  contact_name text,
  contact_document text,
  phone_number text,
  promised_amount bigint NOT NULL CHECK (promised_amount >= 0),
  due_date date NOT NULL,
  payment_method text CHECK (payment_method IN ('boleto', 'pix', 'cartao', 'outro')),
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'fulfilled', 'broken', 'renegotiated')),
  fulfilled_at timestamptz,
  broken_at timestamptz,
  reminder_sent boolean NOT NULL DEFAULT false,
  reminder_sent_at timestamptz,
  notes text,
  crm_reference text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voice_promises_campaign_id_idx ON voice_promises (campaign_id);
CREATE INDEX voice_promises_status_idx ON voice_promises (status);
CREATE INDEX voice_promises_due_date_idx ON voice_promises (due_date);

CREATE TABLE crm_sync_configs (
  id uuid PRIMARY KEY,
  campaign_id uuid NOT NULL UNIQUE REFERENCES voice_campaigns (id) ON DELETE CASCADE,
  enabled boolean NOT NULL DEFAULT false,
  api_url text,
  api_key_ref text,  -- the name of a secret, never the key itself
  date_range_type text CHECK (date_range_type IN ('relative', 'fixed')),
  date_range_days integer,
  date_range_from timestamptz,
  date_range_to timestamptz,
  min_debt_amount bigint,
  max_debt_amount bigint,
  sync_schedule text CHECK (sync_schedule IN ('hourly', 'daily', 'weekly', 'manual')),
  sync_time text,
  sync_time_zone text,
  deduplicate_by text CHECK (deduplicate_by IN ('document', 'phone', 'both')),
  update_existing boolean NOT NULL DEFAULT false,
  last_sync_at timestamptz,
  last_sync_status text CHECK (last_sync_status IN ('success', 'partial', 'failed')),
  last_sync_error text,
  last_sync_imported integer,
  last_sync_skipped integer,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crm_sync_enabled_idx ON crm_sync_configs (enabled);

-- Singleton (id = 1): the defaults of new campaigns.
CREATE TABLE collection_settings (
  id integer PRIMARY KEY CHECK (id = 1),
  default_max_attempts integer NOT NULL DEFAULT 3 CHECK (default_max_attempts BETWEEN 1 AND 20),
  default_attempt_spacing_minutes integer NOT NULL DEFAULT 1440
    CHECK (default_attempt_spacing_minutes BETWEEN 1 AND 43200),
  default_hours_start text NOT NULL DEFAULT '08:00',
  default_hours_end text NOT NULL DEFAULT '20:00',
  default_hours_days smallint NOT NULL DEFAULT 62 CHECK (default_hours_days BETWEEN 1 AND 127),
  enable_auto_reminders boolean NOT NULL DEFAULT false,
  reminder_days_before integer NOT NULL DEFAULT 1,
  enable_crm_sync boolean NOT NULL DEFAULT false,
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO collection_settings (id) VALUES (1);
