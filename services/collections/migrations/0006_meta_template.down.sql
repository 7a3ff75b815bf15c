ALTER TABLE voice_campaigns DROP COLUMN meta_template;
