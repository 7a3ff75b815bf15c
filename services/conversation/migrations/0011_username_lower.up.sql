-- The login and the creation of a desk user look a name up in any case
-- (lower(username) = lower($1)): an index on that expression, not a scan of the table per
-- login. Not unique: names that differ in case only may exist from before they were one
-- (the login takes the exact name first).
CREATE INDEX IF NOT EXISTS users_lower_username_idx ON users (lower(username));
