ALTER TABLE conversations DROP COLUMN registrations;
