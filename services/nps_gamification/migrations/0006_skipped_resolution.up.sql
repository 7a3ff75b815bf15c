-- The latest resolution that asked no survey because this one was still open: if this one's
-- send then fails, that resolution gets its survey (else neither would be surveyed).
ALTER TABLE surveys
  ADD COLUMN next_resolution_event_id uuid,
  ADD COLUMN next_resolution_at timestamptz;
