-- What the assistant's tools registered in a conversation: tool name -> the protocol
-- (register_lead, register_complaint) or "day:N" / "date:YYYY-MM-DD" (register_payment_promise).
-- A follow-up ("e a minha reclamação?", more details, the same day again) is then answered
-- with the first protocol instead of a new registration each message.
--
-- Quick and safe while the previous version still runs: a column with a constant default is
-- added without rewriting the table, and the previous version never reads it.
ALTER TABLE conversations ADD COLUMN registrations jsonb NOT NULL DEFAULT '{}'::jsonb;
