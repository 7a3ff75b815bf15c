DROP INDEX surveys_by_conversation_idx;
CREATE INDEX surveys_open_by_conversation_idx ON surveys (conversation_id, sent_at DESC)
  WHERE answered_at IS NULL;
