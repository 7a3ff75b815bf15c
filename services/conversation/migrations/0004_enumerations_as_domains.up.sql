-- The enumerated columns of the tables every message writes become domains over text.
-- PostgreSQL reads a table's CHECK constraints back from their stored text on every INSERT
-- and UPDATE (about a tenth of its CPU in the pipeline benchmark); a domain's constraint is
-- loaded once per session. Clients still see and send text, and a bad value is still refused
-- (SQLSTATE 23514, now naming the domain).
--
-- Safe while the previous version still runs (rolling upgrade) and quick on big tables:
-- - The domains get their constraints after the type change, so the change is a relabel (no
--   table rewrite, indexes kept), and NOT VALID, so nothing scans the tables under the
--   ALTER TABLE's exclusive lock: the rows were checked by the CHECK constraints replaced
--   here. New values are checked. (`ALTER DOMAIN … VALIDATE CONSTRAINT` may be run at a quiet
--   hour; it blocks writes while it scans.)
-- - messages.whatsapp_status and pending_statuses.status keep their CHECK constraints: the
--   previous version's INSERT uses its parameter both as that column's value and as text,
--   which PostgreSQL refuses for a domain column (42P08, "inconsistent types deduced").
--   Convert them once no such version runs.
CREATE DOMAIN provider_name AS text;
CREATE DOMAIN conversation_status AS text;
CREATE DOMAIN conversation_mode AS text;
CREATE DOMAIN message_direction AS text;
CREATE DOMAIN message_role AS text;
CREATE DOMAIN message_author AS text;
CREATE DOMAIN message_route AS text;
CREATE DOMAIN document_type AS text;

ALTER TABLE contacts
  DROP CONSTRAINT contacts_document_type_check,
  ALTER COLUMN document_type TYPE document_type;
ALTER TABLE conversations
  DROP CONSTRAINT conversations_provider_check,
  DROP CONSTRAINT conversations_status_check,
  DROP CONSTRAINT conversations_mode_check,
  ALTER COLUMN provider TYPE provider_name,
  ALTER COLUMN status TYPE conversation_status,
  ALTER COLUMN mode TYPE conversation_mode;
ALTER TABLE messages
  DROP CONSTRAINT messages_direction_check,
  DROP CONSTRAINT messages_role_check,
  DROP CONSTRAINT messages_author_check,
  DROP CONSTRAINT messages_route_check,
  ALTER COLUMN direction TYPE message_direction,
  ALTER COLUMN role TYPE message_role,
  ALTER COLUMN author TYPE message_author,
  ALTER COLUMN route TYPE message_route;

ALTER DOMAIN provider_name ADD CONSTRAINT provider_name_check
  CHECK (VALUE IN ('meta', 'evolution')) NOT VALID;
ALTER DOMAIN conversation_status ADD CONSTRAINT conversation_status_check
  CHECK (VALUE IN ('active', 'transferred', 'resolved')) NOT VALID;
ALTER DOMAIN conversation_mode ADD CONSTRAINT conversation_mode_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid')) NOT VALID;
ALTER DOMAIN message_direction ADD CONSTRAINT message_direction_check
  CHECK (VALUE IN ('inbound', 'outbound')) NOT VALID;
ALTER DOMAIN message_role ADD CONSTRAINT message_role_check
  CHECK (VALUE IN ('user', 'assistant', 'system')) NOT VALID;
ALTER DOMAIN message_author ADD CONSTRAINT message_author_check
  CHECK (VALUE IN ('customer', 'ai', 'agent', 'system')) NOT VALID;
ALTER DOMAIN message_route ADD CONSTRAINT message_route_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid', 'survey', 'none')) NOT VALID;
ALTER DOMAIN document_type ADD CONSTRAINT document_type_check
  CHECK (VALUE IN ('CPF', 'CNPJ', 'CLIENT_CODE')) NOT VALID;
