-- ai_orchestration's tool.invoked: a sales lead or a complaint (ouvidoria) an assistant
-- registered, with the protocol the customer was given. One row per conversation and
-- protocol: the same call seen again (its record redelivered, a model calling it twice for one
-- message) adds nothing. The tables were never written before this version.
ALTER TABLE complaints ADD COLUMN protocol text;
ALTER TABLE sales_leads ADD COLUMN protocol text;
CREATE UNIQUE INDEX complaints_conversation_protocol_idx ON complaints (conversation_id, protocol);
CREATE UNIQUE INDEX sales_leads_conversation_protocol_idx ON sales_leads (conversation_id, protocol);
