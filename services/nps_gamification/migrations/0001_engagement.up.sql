-- nps_gamification's tables (schema engagement; the migrator sets search_path).

-- One NPS survey per resolution of a conversation.
CREATE TABLE surveys (
  survey_id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL,
  contact_id uuid NOT NULL,
  provider text NOT NULL CHECK (provider IN ('meta', 'evolution')),
  instance text NOT NULL,
  chat_id text NOT NULL,
  agent_id uuid,
  command_id uuid NOT NULL UNIQUE,
  resolved_event_id text NOT NULL UNIQUE,
  sent_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  answered_at timestamptz,
  send_failed_at timestamptz,
  send_error text
);
CREATE INDEX surveys_open_by_conversation_idx ON surveys (conversation_id, sent_at DESC)
  WHERE answered_at IS NULL;

CREATE TABLE satisfaction_feedback (
  id uuid PRIMARY KEY,
  survey_id uuid NOT NULL UNIQUE REFERENCES surveys (survey_id),
  conversation_id uuid NOT NULL,
  assistant_type text,
  agent_id uuid,
  nps_score integer NOT NULL CHECK (nps_score BETWEEN 0 AND 10),
  category text NOT NULL CHECK (category IN ('detractor', 'neutral', 'promoter')),
  comment text,
  client_name text,
  handling_score integer CHECK (handling_score BETWEEN 1 AND 5),
  handling_status text CHECK (handling_status IN ('pending', 'in_progress', 'resolved')),
  handling_notes text,
  handled_by text,
  handled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX satisfaction_feedback_created_at_idx ON satisfaction_feedback (created_at);
CREATE INDEX satisfaction_feedback_agent_idx ON satisfaction_feedback (agent_id, created_at);
CREATE INDEX satisfaction_feedback_handling_idx ON satisfaction_feedback (handling_status)
  WHERE handling_status IS NOT NULL;

-- Read model for the ranking: every resolution credited to an agent (conversation.resolved),
-- flagged when the conversation was reopened afterwards (conversation.reopened).
CREATE TABLE agent_resolutions (
  event_id text PRIMARY KEY,
  conversation_id uuid NOT NULL,
  agent_id uuid NOT NULL,
  duration_ms bigint,
  message_count integer,
  resolved_at timestamptz NOT NULL,
  reopened boolean NOT NULL DEFAULT false
);
CREATE INDEX agent_resolutions_period_idx ON agent_resolutions (resolved_at, agent_id);
CREATE INDEX agent_resolutions_conversation_idx ON agent_resolutions (conversation_id, resolved_at DESC);

CREATE TABLE gamification_scores (
  id uuid PRIMARY KEY,
  agent_id uuid NOT NULL,
  period text NOT NULL,
  total_conversations integer NOT NULL,
  avg_nps integer NOT NULL,
  success_rate integer NOT NULL,
  avg_response_time integer NOT NULL,
  volume_score integer NOT NULL,
  nps_score integer NOT NULL,
  resolution_score integer NOT NULL,
  time_score integer NOT NULL,
  total_score integer NOT NULL,
  ranking integer NOT NULL,
  calculated_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (period, agent_id)
);
CREATE INDEX gamification_scores_period_idx ON gamification_scores (period, ranking);
CREATE INDEX gamification_scores_total_score_idx ON gamification_scores (total_score);

CREATE TABLE gamification_badges (
  id uuid PRIMARY KEY,
  agent_id uuid NOT NULL,
  badge_type text NOT NULL CHECK (badge_type IN ('solucionador', 'velocista', 'campeao_volume')),
  period text NOT NULL,
  metric integer NOT NULL,
  awarded_at timestamptz NOT NULL,
  UNIQUE (period, agent_id, badge_type)
);
CREATE INDEX gamification_badges_agent_id_idx ON gamification_badges (agent_id);
CREATE INDEX gamification_badges_badge_type_idx ON gamification_badges (badge_type);

-- The top 5 of each period (hall of fame).
CREATE TABLE gamification_history (
  id uuid PRIMARY KEY,
  period text NOT NULL,
  agent_id uuid NOT NULL,
  ranking integer NOT NULL CHECK (ranking BETWEEN 1 AND 5),
  total_score integer NOT NULL,
  metrics jsonb NOT NULL,
  badges text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (period, ranking)
);

CREATE TABLE gamification_settings (
  id integer PRIMARY KEY CHECK (id = 1),
  nps_weight integer NOT NULL DEFAULT 40,
  volume_weight integer NOT NULL DEFAULT 30,
  resolution_weight integer NOT NULL DEFAULT 20,
  response_time_weight integer NOT NULL DEFAULT 10,
  solucionador_nps_min integer NOT NULL DEFAULT 7,
  solucionador_resolution_min integer NOT NULL DEFAULT 70,
  velocista_nps_min integer NOT NULL DEFAULT 7,
  velocista_top_n integer NOT NULL DEFAULT 1,
  campeao_volume_top_n integer NOT NULL DEFAULT 1,
  target_nps integer NOT NULL DEFAULT 8,
  target_resolution integer NOT NULL DEFAULT 85,
  target_response_time integer NOT NULL DEFAULT 120,
  target_volume integer NOT NULL DEFAULT 500,
  calculation_period text NOT NULL DEFAULT 'monthly'
    CHECK (calculation_period IN ('weekly', 'monthly', 'quarterly')),
  auto_calculate boolean NOT NULL DEFAULT false,
  calculation_frequency text NOT NULL DEFAULT 'monthly',
  calculation_day_of_month integer NOT NULL DEFAULT 1 CHECK (calculation_day_of_month BETWEEN 1 AND 31),
  calculation_day_of_week integer NOT NULL DEFAULT 1 CHECK (calculation_day_of_week BETWEEN 1 AND 7),
  calculation_time text NOT NULL DEFAULT '00:00',
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO gamification_settings (id) VALUES (1);
