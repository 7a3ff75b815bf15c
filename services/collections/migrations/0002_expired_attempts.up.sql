-- An expired message (notification's message.failed with `code` "expired": its not_after
-- passed before it was sent) never reached the customer. Its attempt is given back and made
-- again under the same number, so the expired row keeps its own outcome and stays out of the
-- one-row-per-attempt rule. The outcome check is added back NOT VALID: the rows were checked
-- by the constraint it replaces, and nothing scans the table under the exclusive lock.
ALTER TABLE message_attempts
  DROP CONSTRAINT message_attempts_outcome_check,
  DROP CONSTRAINT message_attempts_target_id_attempt_key,
  ADD CONSTRAINT message_attempts_outcome_check
    CHECK (outcome IN ('sent', 'failed', 'dead_lettered', 'expired')) NOT VALID;
CREATE UNIQUE INDEX message_attempts_target_id_attempt_key ON message_attempts (target_id, attempt)
  WHERE outcome IS DISTINCT FROM 'expired';
