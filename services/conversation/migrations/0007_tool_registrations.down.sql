DROP INDEX sales_leads_conversation_protocol_idx;
DROP INDEX complaints_conversation_protocol_idx;
ALTER TABLE sales_leads DROP COLUMN protocol;
ALTER TABLE complaints DROP COLUMN protocol;
