ALTER TABLE desk_users DROP COLUMN participates_in_gamification;
