-- The enumerated columns of outbound_messages, written twice per send, become domains over
-- text. PostgreSQL reads a table's CHECK constraints back from their stored text on every
-- INSERT and UPDATE; a domain's constraint is loaded once per session. Clients still see and
-- send text, and a bad value is still refused (SQLSTATE 23514, naming the domain).
--
-- Quick on big tables and safe while the previous version still runs: the domains get their
-- constraints after the type change, so the change is a relabel (no table rewrite, indexes
-- kept), and NOT VALID, so nothing scans the table under the ALTER TABLE's exclusive lock
-- (the rows were checked by the CHECK constraints replaced here; new values are checked).
-- outbound_messages_sent_has_id names status, so it is added back NOT VALID too (PostgreSQL
-- would otherwise re-check every row); `ALTER TABLE … VALIDATE CONSTRAINT` does not block
-- writes and may be run at any time. attempts >= 0 stays as it is.
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
  DROP CONSTRAINT outbound_messages_sent_has_id,
  ALTER COLUMN command_type TYPE command_type,
  ALTER COLUMN provider TYPE provider_name,
  ALTER COLUMN priority TYPE send_priority,
  ALTER COLUMN status TYPE send_status,
  ALTER COLUMN delivery_status TYPE delivery_status,
  ADD CONSTRAINT outbound_messages_sent_has_id
    CHECK (status <> 'sent' OR provider_message_id IS NOT NULL) NOT VALID;

ALTER DOMAIN command_type ADD CONSTRAINT command_type_check
  CHECK (VALUE IN ('send_text', 'send_template')) NOT VALID;
ALTER DOMAIN provider_name ADD CONSTRAINT provider_name_check
  CHECK (VALUE IN ('meta', 'evolution')) NOT VALID;
ALTER DOMAIN send_priority ADD CONSTRAINT send_priority_check
  CHECK (VALUE IN ('normal', 'bulk')) NOT VALID;
ALTER DOMAIN send_status ADD CONSTRAINT send_status_check
  CHECK (VALUE IN ('sending', 'sent', 'failed', 'dead_lettered')) NOT VALID;
ALTER DOMAIN delivery_status ADD CONSTRAINT delivery_status_check
  CHECK (VALUE IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')) NOT VALID;
