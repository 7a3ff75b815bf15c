ALTER TABLE desk_users DROP COLUMN tokens_valid_from;
