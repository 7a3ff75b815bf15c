-- A Meta campaign's approved template ({name, language, parameters}): Meta delivers a message
-- the business starts only as a template it approved, so a Meta campaign sends it instead of
-- its free `template` text (still kept: what the debtor reads, and Evolution's message).
-- Campaigns made before keep NULL and go on sending their text.
--
-- Quick and safe while the previous version still runs: a nullable column, no table rewrite.
ALTER TABLE voice_campaigns ADD COLUMN meta_template jsonb;
