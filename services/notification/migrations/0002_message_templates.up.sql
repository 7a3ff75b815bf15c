-- Standard messages (seed: message_templates). `key` is the template name commands use
-- (Meta's registered template name); `template` is its text with {{1}}-style (or named)
-- placeholders, rendered with lia::domain::render_template for the Evolution API, which
-- has no server-side templates.
CREATE TABLE message_templates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  key text NOT NULL CHECK (key ~ '^[a-z0-9_]+$' AND length(key) <= 512),
  language text NOT NULL DEFAULT 'pt_BR' CHECK (language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
  name text NOT NULL,
  description text,
  template text NOT NULL,
  variables text[] NOT NULL DEFAULT '{}',
  category text NOT NULL DEFAULT 'system' CHECK (category IN ('assignment', 'nps', 'system', 'collections', 'outage')),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text,
  CONSTRAINT message_templates_key_language_key UNIQUE (key, language)
);

INSERT INTO message_templates (key, language, name, description, template, variables, category) VALUES
  ('agent_welcome', 'pt_BR', 'Boas-vindas do atendente', 'Sent when an agent takes over a conversation',
   'Olá! Sou *{{1}}*, assumindo seu atendimento. Como posso ajudar?', '{1}', 'assignment'),
  ('pesquisa_nps', 'pt_BR', 'Pesquisa NPS', 'Satisfaction survey after resolution',
   'Olá {{1}}! De 0 a 10, quanto você recomendaria nosso atendimento a um amigo? Responda só com o número.',
   '{1}', 'nps');
