-- The desk's users as conversation publishes them on users.v1 (lia.user.upserted): their role
-- and status decide what a token may do here, so a user demoted or deactivated in
-- conversation loses its rights at once (lia::runtime::DeskUsers). updated_at orders the
-- upserts: an older one never overwrites a newer one.
CREATE TABLE desk_users (
  user_id uuid PRIMARY KEY,
  role text NOT NULL,
  active boolean NOT NULL,
  updated_at timestamptz NOT NULL
);
