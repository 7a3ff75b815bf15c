-- Supervision tables of the seed: alerts (e.g. a handoff with no agent available),
-- supervisor actions, registration requests, complaints (ouvidoria) and sales leads.

CREATE TABLE alerts (
  id uuid PRIMARY KEY,
  conversation_id uuid REFERENCES conversations (id),
  type text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  message text NOT NULL,
  resolved boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_unresolved_idx ON alerts (created_at) WHERE NOT resolved;

CREATE TABLE supervisor_actions (
  id uuid PRIMARY KEY,
  conversation_id uuid REFERENCES conversations (id),
  action text NOT NULL,
  notes text,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervisor_actions_conversation_idx ON supervisor_actions (conversation_id);

CREATE TABLE registration_requests (
  id uuid PRIMARY KEY,
  username text NOT NULL,
  password_hash text NOT NULL,
  full_name text NOT NULL,
  email text,
  requested_role text NOT NULL DEFAULT 'AGENT',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
  reviewed_by uuid,
  reviewed_at timestamptz,
  rejection_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
  id uuid PRIMARY KEY,
  conversation_id uuid REFERENCES conversations (id),
  complaint_type text NOT NULL,
  severity text NOT NULL,
  description text NOT NULL,
  status text NOT NULL DEFAULT 'novo',
  assigned_to uuid,
  resolution text,
  resolution_notes text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);

CREATE TABLE sales_leads (
  id uuid PRIMARY KEY,
  conversation_id uuid REFERENCES conversations (id),
  name text,
  phone text,
  address text,
  cep text,
  cpf text,
  plan_id text,
  status text NOT NULL DEFAULT 'novo',
  notes text,
  assigned_to uuid,
  converted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
