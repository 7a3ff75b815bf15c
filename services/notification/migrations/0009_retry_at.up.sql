-- When the next try of a 'sending' row may go, set with a retryable failure (the backoff, or
-- the provider's Retry-After): a command resumed by another process (a restart, a partition
-- moved) waits out what is left of it instead of trying at once and using up a try.
--
-- Quick and safe while the previous version still runs: a nullable column without a default
-- is added without rewriting the table; the previous version neither sets nor reads it.
ALTER TABLE outbound_messages ADD COLUMN retry_at timestamptz;
