-- Outage broadcasts and internal announcements (seed: massive_failures,
-- failure_notifications, announcements). The tables exist; the features that fill them
-- (outage notices to affected regions, announcements API) come later.
CREATE TABLE massive_failures (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text,
  severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'resolved', 'monitoring')),
  affected_regions jsonb NOT NULL DEFAULT '{}'::jsonb,
  estimated_resolution timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text,
  resolved_at timestamptz,
  resolved_by text,
  resolution_message text
);
CREATE INDEX massive_failures_status_idx ON massive_failures (status);
CREATE INDEX massive_failures_created_at_idx ON massive_failures (created_at);

CREATE TABLE failure_notifications (
  id uuid PRIMARY KEY,
  failure_id uuid NOT NULL REFERENCES massive_failures (id) ON DELETE CASCADE,
  client_phone text NOT NULL,
  client_name text,
  notification_type text NOT NULL CHECK (notification_type IN ('failure', 'resolution', 'update')),
  message text NOT NULL,
  command_id uuid,
  sent_at timestamptz,
  was_read boolean NOT NULL DEFAULT false,
  responded_at timestamptz,
  client_response text
);
CREATE INDEX failure_notifications_failure_id_idx ON failure_notifications (failure_id);
CREATE INDEX failure_notifications_client_phone_idx ON failure_notifications (client_phone);
CREATE INDEX failure_notifications_sent_at_idx ON failure_notifications (sent_at);

CREATE TABLE announcements (
  id uuid PRIMARY KEY,
  title text NOT NULL,
  message text NOT NULL,
  type text NOT NULL DEFAULT 'info' CHECK (type IN ('info', 'warning', 'alert', 'success')),
  target_roles text[] NOT NULL DEFAULT '{}',
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX announcements_created_at_idx ON announcements (created_at);
