-- A score answers the conversation's latest survey, answered or not (never an older one
-- still open): the look-up needs every survey of the conversation, not only the open ones.
DROP INDEX surveys_open_by_conversation_idx;
CREATE INDEX surveys_by_conversation_idx ON surveys (conversation_id, sent_at DESC);
