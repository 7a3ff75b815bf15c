ALTER TABLE contacts
  ALTER COLUMN document_type TYPE text,
  ADD CONSTRAINT contacts_document_type_check CHECK (document_type IN ('CPF', 'CNPJ', 'CLIENT_CODE'));
ALTER TABLE conversations
  ALTER COLUMN provider TYPE text,
  ALTER COLUMN status TYPE text,
  ALTER COLUMN mode TYPE text,
  ADD CONSTRAINT conversations_provider_check CHECK (provider IN ('meta', 'evolution')),
  ADD CONSTRAINT conversations_status_check CHECK (status IN ('active', 'transferred', 'resolved')),
  ADD CONSTRAINT conversations_mode_check CHECK (mode IN ('ai', 'human', 'hybrid'));
ALTER TABLE messages
  ALTER COLUMN direction TYPE text,
  ALTER COLUMN role TYPE text,
  ALTER COLUMN author TYPE text,
  ALTER COLUMN route TYPE text,
  ADD CONSTRAINT messages_direction_check CHECK (direction IN ('inbound', 'outbound')),
  ADD CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant', 'system')),
  ADD CONSTRAINT messages_author_check CHECK (author IN ('customer', 'ai', 'agent', 'system')),
  ADD CONSTRAINT messages_route_check CHECK (route IN ('ai', 'human', 'hybrid', 'survey', 'none'));
DROP DOMAIN provider_name, conversation_status, conversation_mode, message_direction,
  message_role, message_author, message_route, document_type;
