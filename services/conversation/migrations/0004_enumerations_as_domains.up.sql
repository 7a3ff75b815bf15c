-- The enumerated columns of the tables every message writes become domains over text.
-- PostgreSQL reads a table's CHECK constraints back from their stored text on every INSERT
-- and UPDATE (about a tenth of its CPU in the pipeline benchmark); a domain's constraint is
-- loaded once per session. Clients still see and send text, and a bad value is still refused
-- (SQLSTATE 23514, now naming the domain).
-- Order per column: the domain without its constraint first, so the type change is a
-- relabel (no table rewrite, indexes kept); then the constraint, checked against the rows.
CREATE DOMAIN provider_name AS text;
CREATE DOMAIN conversation_status AS text;
CREATE DOMAIN conversation_mode AS text;
CREATE DOMAIN message_direction AS text;
CREATE DOMAIN message_role AS text;
CREATE DOMAIN message_author AS text;
CREATE DOMAIN message_route AS text;
CREATE DOMAIN whatsapp_status AS text;
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
  DROP CONSTRAINT messages_whatsapp_status_check,
  ALTER COLUMN direction TYPE message_direction,
  ALTER COLUMN role TYPE message_role,
  ALTER COLUMN author TYPE message_author,
  ALTER COLUMN route TYPE message_route,
  ALTER COLUMN whatsapp_status TYPE whatsapp_status;
ALTER TABLE pending_statuses
  DROP CONSTRAINT pending_statuses_status_check,
  ALTER COLUMN status TYPE whatsapp_status;

ALTER DOMAIN provider_name ADD CONSTRAINT provider_name_check
  CHECK (VALUE IN ('meta', 'evolution'));
ALTER DOMAIN conversation_status ADD CONSTRAINT conversation_status_check
  CHECK (VALUE IN ('active', 'transferred', 'resolved'));
ALTER DOMAIN conversation_mode ADD CONSTRAINT conversation_mode_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid'));
ALTER DOMAIN message_direction ADD CONSTRAINT message_direction_check
  CHECK (VALUE IN ('inbound', 'outbound'));
ALTER DOMAIN message_role ADD CONSTRAINT message_role_check
  CHECK (VALUE IN ('user', 'assistant', 'system'));
ALTER DOMAIN message_author ADD CONSTRAINT message_author_check
  CHECK (VALUE IN ('customer', 'ai', 'agent', 'system'));
ALTER DOMAIN message_route ADD CONSTRAINT message_route_check
  CHECK (VALUE IN ('ai', 'human', 'hybrid', 'survey', 'none'));
ALTER DOMAIN whatsapp_status ADD CONSTRAINT whatsapp_status_check
  CHECK (VALUE IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR'));
ALTER DOMAIN document_type ADD CONSTRAINT document_type_check
  CHECK (VALUE IN ('CPF', 'CNPJ', 'CLIENT_CODE'));
