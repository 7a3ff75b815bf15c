-- The enumerated columns of the read model's tables, which every message writes, become
-- domains over text. PostgreSQL reads a table's CHECK constraints back from their stored text
-- on every INSERT and UPDATE; a domain's constraint is loaded once per session. Clients still
-- see and send text, and a bad value is still refused (SQLSTATE 23514, naming the domain).
--
-- Quick on big tables and safe while the previous version still runs: the domains get their
-- constraints after the type change, so the change is a relabel (no table rewrite, indexes
-- kept), and NOT VALID, so nothing scans the tables under the ALTER TABLE's exclusive lock
-- (the rows were checked by the CHECK constraints replaced here; new values are checked).
-- conversation_threads' two-column CHECK names closed_reason, so it is added back NOT VALID
-- too (PostgreSQL would otherwise re-check every row); `ALTER TABLE … VALIDATE CONSTRAINT`
-- does not block writes and may be run at any time.
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
  DROP CONSTRAINT conversation_threads_check,
  ALTER COLUMN closed_reason TYPE thread_closed_reason,
  ADD CONSTRAINT conversation_threads_check
    CHECK ((closed_at IS NULL) = (closed_reason IS NULL)) NOT VALID;

ALTER DOMAIN conversation_status ADD CONSTRAINT conversation_status_check
  CHECK (VALUE IN ('active', 'transferred', 'resolved')) NOT VALID;
ALTER DOMAIN conversation_mode ADD CONSTRAINT conversation_mode_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid')) NOT VALID;
ALTER DOMAIN assistant_type ADD CONSTRAINT assistant_type_check
  CHECK (VALUE IN ('apresentacao', 'comercial', 'suporte', 'financeiro', 'cancelamento',
                   'ouvidoria', 'cobranca')) NOT VALID;
ALTER DOMAIN sentiment_label ADD CONSTRAINT sentiment_label_check
  CHECK (VALUE IN ('positive', 'neutral', 'negative')) NOT VALID;
ALTER DOMAIN urgency_level ADD CONSTRAINT urgency_level_check
  CHECK (VALUE IN ('normal', 'high', 'urgent')) NOT VALID;
ALTER DOMAIN message_direction ADD CONSTRAINT message_direction_check
  CHECK (VALUE IN ('inbound', 'outbound')) NOT VALID;
ALTER DOMAIN message_author ADD CONSTRAINT message_author_check
  CHECK (VALUE IN ('customer', 'ai', 'agent', 'system')) NOT VALID;
ALTER DOMAIN thread_closed_reason ADD CONSTRAINT thread_closed_reason_check
  CHECK (VALUE IN ('rotation', 'conversation_ended')) NOT VALID;
