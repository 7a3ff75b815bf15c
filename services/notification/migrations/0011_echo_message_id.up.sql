-- The provider message id an echo of the send (Evolution's send.message webhook) gave a row
-- whose request was still with the provider: a try that then ends without an answer (a
-- timeout, a lost connection, a crash) is recorded 'sent' with it instead of outcome_unknown.
-- The index finds the sends an echo may be of by recipient: those in flight and those ended
-- with their outcome unknown, a small part of the table.
--
-- The column is added without rewriting the table, and the previous version neither sets nor
-- reads it. The index's build reads the whole table and blocks writes to it while it runs: on
-- a large table, build it first by hand with CREATE INDEX CONCURRENTLY and the same
-- definition; this then finds it.
ALTER TABLE outbound_messages ADD COLUMN echo_message_id text;
CREATE INDEX IF NOT EXISTS outbound_messages_unsettled_idx ON outbound_messages (to_chat)
  WHERE provider_message_id IS NULL AND (status = 'sending' OR error_code = 'outcome_unknown');
