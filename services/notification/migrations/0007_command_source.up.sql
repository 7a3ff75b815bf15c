-- Which service asked for the send (the command's CloudEvent source, "/lia/collections"):
-- an outcome reported later, from a delivery tick (a message the provider accepted and then
-- could not deliver), carries it in its lia.command_source header like the send's own
-- outcome, so the other services skip it unread.
--
-- Quick and safe while the previous version still runs: a nullable column without a default
-- is added without rewriting the table; rows the previous version writes have none, and their
-- late outcomes go without the header (each consumer then looks the command up itself).
ALTER TABLE outbound_messages ADD COLUMN command_source text;
