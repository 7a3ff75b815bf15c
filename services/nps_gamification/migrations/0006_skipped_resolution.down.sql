ALTER TABLE surveys
  DROP COLUMN next_resolution_at,
  DROP COLUMN next_resolution_event_id;
