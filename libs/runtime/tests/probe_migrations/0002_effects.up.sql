-- What LIA_PROBE_EFFECTS applies, one row per handling that committed. No unique constraint on
-- purpose: an event applied twice shows as two rows.
CREATE TABLE effects (
  event_id text NOT NULL,
  batch integer NOT NULL,  -- the probe's number of the batch that wrote it; 0: handled alone
  created_at timestamptz NOT NULL DEFAULT now()
);
