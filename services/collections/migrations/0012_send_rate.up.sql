-- Each provider instance's send rate (LIA_COLLECTIONS_MAX_PER_MINUTE): a token bucket that the
-- scheduler's batches take from, every campaign and replica of that instance together, its
-- row locked by a batch until it commits.
CREATE TABLE instance_send_rate (
  provider text NOT NULL,
  instance text NOT NULL,
  tokens double precision NOT NULL,
  refilled_at timestamptz NOT NULL,
  PRIMARY KEY (provider, instance)
);
