-- The enumerated columns of the read model's tables, which every message writes, become
-- domains over text. PostgreSQL reads a table's CHECK constraints back from their stored text
-- on every INSERT and UPDATE; a domain's constraint is loaded once per session. Clients still
-- see and send text, and a bad value is still refused (SQLSTATE 23514, naming the domain).
-- Order: the domains without constraints first, so the type change is a relabel (no table
-- rewrite, indexes kept); then the constraints, checked against the rows.
CREATE DOMAIN conversation_status AS text;
CREATE DOMAIN conversation_mode AS text;
CREATE DOMAIN assistant_type AS text;
CREATE DOMAIN sentiment_label AS text;
CREATE DOMAIN urgency_level AS text;
CREATE DOMAIN message_direction AS text;
CREATE DOMAIN message_author AS text;
CREATE DOMAIN thread_closed_reason AS text;

ALTER TABLE conversations
  DROP CONSTRAINT conversations_status_check,
  DROP CONSTRAINT conversations_mode_check,
  DROP CONSTRAINT conversations_assistant_type_check,
  DROP CONSTRAINT conversations_sentiment_check,
  DROP CONSTRAINT conversations_urgency_check,
  ALTER COLUMN status TYPE conversation_status,
  ALTER COLUMN mode TYPE conversation_mode,
  ALTER COLUMN assistant_type TYPE assistant_type,
  ALTER COLUMN sentiment TYPE sentiment_label,
  ALTER COLUMN urgency TYPE urgency_level;
ALTER TABLE recent_messages
  DROP CONSTRAINT recent_messages_direction_check,
  DROP CONSTRAINT recent_messages_author_check,
  ALTER COLUMN direction TYPE message_direction,
  ALTER COLUMN author TYPE message_author;
ALTER TABLE conversation_threads
  DROP CONSTRAINT conversation_threads_closed_reason_check,
  ALTER COLUMN closed_reason TYPE thread_closed_reason;

ALTER DOMAIN conversation_status ADD CONSTRAINT conversation_status_check
  CHECK (VALUE IN ('active', 'transferred', 'resolved'));
ALTER DOMAIN conversation_mode ADD CONSTRAINT conversation_mode_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid'));
ALTER DOMAIN assistant_type ADD CONSTRAINT assistant_type_check
  CHECK (VALUE IN ('apresentacao', 'comercial', 'suporte', 'financeiro', 'cancelamento',
                   'ouvidoria', 'cobranca'));
ALTER DOMAIN sentiment_label ADD CONSTRAINT sentiment_label_check
  CHECK (VALUE IN ('positive', 'neutral', 'negative'));
ALTER DOMAIN urgency_level ADD CONSTRAINT urgency_level_check
  CHECK (VALUE IN ('normal', 'high', 'urgent'));
ALTER DOMAIN message_direction ADD CONSTRAINT message_direction_check
  CHECK (VALUE IN ('inbound', 'outbound'));
ALTER DOMAIN message_author ADD CONSTRAINT message_author_check
  CHECK (VALUE IN ('customer', 'ai', 'agent', 'system'));
ALTER DOMAIN thread_closed_reason ADD CONSTRAINT thread_closed_reason_check
  CHECK (VALUE IN ('rotation', 'conversation_ended'));
