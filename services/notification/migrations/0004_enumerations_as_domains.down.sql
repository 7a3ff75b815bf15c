ALTER TABLE outbound_messages
  DROP CONSTRAINT outbound_messages_sent_has_id,
  ALTER COLUMN command_type TYPE text,
  ALTER COLUMN provider TYPE text,
  ALTER COLUMN priority TYPE text,
  ALTER COLUMN status TYPE text,
  ALTER COLUMN delivery_status TYPE text,
  ADD CONSTRAINT outbound_messages_command_type_check
    CHECK (command_type IN ('send_text', 'send_template')),
  ADD CONSTRAINT outbound_messages_provider_check CHECK (provider IN ('meta', 'evolution')),
  ADD CONSTRAINT outbound_messages_priority_check CHECK (priority IN ('normal', 'bulk')),
  ADD CONSTRAINT outbound_messages_status_check
    CHECK (status IN ('sending', 'sent', 'failed', 'dead_lettered')),
  ADD CONSTRAINT outbound_messages_delivery_status_check
    CHECK (delivery_status IN ('PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'ERROR')),
  ADD CONSTRAINT outbound_messages_sent_has_id
    CHECK (status <> 'sent' OR provider_message_id IS NOT NULL);
DROP DOMAIN command_type, provider_name, send_priority, send_status, delivery_status;
