-- When a user's tokens start to count (users.v1's tokens_valid_from: their last
-- deactivation): a token issued before it is refused here too, even after a reactivation
-- (lia::runtime::DeskUsers). NULL: no deactivation known, the token decides.
ALTER TABLE desk_users ADD COLUMN tokens_valid_from timestamptz;
