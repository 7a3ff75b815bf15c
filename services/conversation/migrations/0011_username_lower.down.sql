DROP INDEX IF EXISTS users_lower_username_idx;
