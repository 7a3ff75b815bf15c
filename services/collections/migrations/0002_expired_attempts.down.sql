-- Expired rows share their attempt number with the attempt made again: they go.
DELETE FROM message_attempts WHERE outcome = 'expired';
DROP INDEX message_attempts_target_id_attempt_key;
ALTER TABLE message_attempts
  DROP CONSTRAINT message_attempts_outcome_check,
  ADD CONSTRAINT message_attempts_outcome_check
    CHECK (outcome IN ('sent', 'failed', 'dead_lettered')),
  ADD CONSTRAINT message_attempts_target_id_attempt_key UNIQUE (target_id, attempt);
