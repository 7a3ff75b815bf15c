-- The version before this one keeps one row per attempt of a target, expired rows aside, and
-- makes an expired attempt again under its number just as this one makes a given-back one: a
-- given-back row goes back as expired (its failed or dead_lettered outcome is lost; the
-- attempt it gave back was not charged either way).
UPDATE message_attempts SET outcome = 'expired' WHERE given_back;
CREATE UNIQUE INDEX message_attempts_target_id_attempt_key ON message_attempts (target_id, attempt)
  WHERE outcome IS DISTINCT FROM 'expired';
DROP INDEX message_attempts_target_attempt_once;
ALTER TABLE message_attempts DROP COLUMN given_back;
ALTER TABLE voice_campaigns DROP COLUMN paused_reason, DROP COLUMN failures_in_a_row;
