ALTER TABLE conversations DROP COLUMN survey_failed;
