-- The enumerated columns of outbound_messages, written twice per send, become domains over
-- text. PostgreSQL reads a table's CHECK constraints back from their stored text on every
-- INSERT and UPDATE; a domain's constraint is loaded once per session. Clients still see and
-- send text, and a bad value is still refused (SQLSTATE 23514, naming the domain).
-- Order: the domains without constraints first, so the type change is a relabel (no table
-- rewrite, indexes kept); then the constraints, checked against the rows.
CREATE DOMAIN command_type AS text;
CREATE DOMAIN provider_name AS text;
CREATE DOMAIN send_priority AS text;
CREATE DOMAIN send_status AS text;
CREATE DOMAIN delivery_status AS text;

ALTER TABLE outbound_messages
  DROP CONSTRAINT outbound_messages_command_type_check,
  DROP CONSTRAINT outbound_messages_provider_check,
  DROP CONSTRAINT outbound_messages_priority_check,
  DROP CONSTRAINT outbound_messages_status_check,
  DROP CONSTRAINT outbound_messages_delivery_status_check,
  ALTER COLUMN command_type TYPE command_type,
  ALTER COLUMN provider TYPE provider_name,
  ALTER COLUMN priority TYPE send_priority,
  ALTER COLUMN status TYPE send_status,
  ALTER COLUMN delivery_status TYPE delivery_status;

ALTER DOMAIN command_type ADD CONSTRAINT command_type_check
  CHECK (VALUE IN ('send_text', 'send_template'));
ALTER DOMAIN provider_name ADD CONSTRAINT provider_name_check
  CHECK (VALUE IN ('meta', 'evolution'));
ALTER DOMAIN send_priority ADD CONSTRAINT send_priority_check
  CHECK (VALUE IN ('normal', 'bulk'));
ALTER DOMAIN send_status ADD CONSTRAINT send_status_check
  CHECK (VALUE IN ('sending', 'sent', 'failed', 'dead_lettered'));
ALTER DOMAIN delivery_status ADD CONSTRAINT delivery_status_check
  CHECK (VALUE IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR'));
