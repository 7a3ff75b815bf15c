-- The provider's code of an attempt's failure (message.failed / message.undelivered `code`):
-- a failure with code outcome_unknown may well have reached the debtor, so it counts as
-- contact when a later attempt turns out undelivered.
--
-- Quick and safe while the previous version still runs: a nullable column, no rewrite; rows
-- the previous version writes have none.
ALTER TABLE message_attempts ADD COLUMN code text;
