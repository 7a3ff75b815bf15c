-- When the user was last deactivated: a desk token issued before it stays refused after the
-- user is made active again (the user logs in anew). NULL: never deactivated through the API.
ALTER TABLE users ADD COLUMN tokens_valid_from timestamptz;
