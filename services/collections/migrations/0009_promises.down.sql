ALTER TABLE voice_promises DROP COLUMN conversation_id;
DROP INDEX voice_targets_promise_phone_idx;
