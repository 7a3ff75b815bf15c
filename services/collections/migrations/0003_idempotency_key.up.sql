-- POST /api/campaigns with an Idempotency-Key: the key is kept with the campaign it created,
-- unique per user (created_by, the JWT's subject), with the SHA-256 (hex) of the request
-- body. A retry with the same key and body answers that campaign again; the same key with
-- another body is refused. The unique index, not a read before the insert, is what keeps
-- two concurrent requests from both creating (INSERT ... ON CONFLICT DO NOTHING).
ALTER TABLE voice_campaigns
  ADD COLUMN idempotency_key text,
  ADD COLUMN request_sha256 text,
  ADD CONSTRAINT voice_campaigns_idempotency_check
    CHECK ((idempotency_key IS NULL) = (request_sha256 IS NULL));
CREATE UNIQUE INDEX voice_campaigns_idempotency_key ON voice_campaigns (created_by, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
