ALTER TABLE outbound_messages DROP COLUMN replayed_from;
