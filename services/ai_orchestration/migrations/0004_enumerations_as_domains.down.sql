ALTER TABLE conversations
  ALTER COLUMN status TYPE text,
  ALTER COLUMN mode TYPE text,
  ALTER COLUMN assistant_type TYPE text,
  ALTER COLUMN sentiment TYPE text,
  ALTER COLUMN urgency TYPE text,
  ADD CONSTRAINT conversations_status_check CHECK (status IN ('active', 'transferred', 'resolved')),
  ADD CONSTRAINT conversations_mode_check CHECK (mode IN ('ai', 'human', 'hybrid')),
  ADD CONSTRAINT conversations_assistant_type_check CHECK (assistant_type IN
    ('apresentacao', 'comercial', 'suporte', 'financeiro', 'cancelamento', 'ouvidoria', 'cobranca')),
  ADD CONSTRAINT conversations_sentiment_check CHECK (sentiment IN ('positive', 'neutral', 'negative')),
  ADD CONSTRAINT conversations_urgency_check CHECK (urgency IN ('normal', 'high', 'urgent'));
ALTER TABLE recent_messages
  ALTER COLUMN direction TYPE text,
  ALTER COLUMN author TYPE text,
  ADD CONSTRAINT recent_messages_direction_check CHECK (direction IN ('inbound', 'outbound')),
  ADD CONSTRAINT recent_messages_author_check
    CHECK (author IN ('customer', 'ai', 'agent', 'system'));
ALTER TABLE conversation_threads
  DROP CONSTRAINT conversation_threads_check,
  ALTER COLUMN closed_reason TYPE text,
  ADD CONSTRAINT conversation_threads_check CHECK ((closed_at IS NULL) = (closed_reason IS NULL)),
  ADD CONSTRAINT conversation_threads_closed_reason_check
    CHECK (closed_reason IN ('rotation', 'conversation_ended'));
DROP DOMAIN conversation_status, conversation_mode, assistant_type, sentiment_label,
  urgency_level, message_direction, message_author, thread_closed_reason;
