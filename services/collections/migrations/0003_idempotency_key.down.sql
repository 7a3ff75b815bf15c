DROP INDEX voice_campaigns_idempotency_key;
ALTER TABLE voice_campaigns
  DROP CONSTRAINT voice_campaigns_idempotency_check,
  DROP COLUMN request_sha256,
  DROP COLUMN idempotency_key;
