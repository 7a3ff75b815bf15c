ALTER TABLE outbound_messages DROP COLUMN in_flight;
