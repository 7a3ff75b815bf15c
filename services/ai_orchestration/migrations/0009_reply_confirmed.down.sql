DELETE FROM recent_messages WHERE NOT confirmed;
ALTER TABLE recent_messages DROP COLUMN confirmed;
