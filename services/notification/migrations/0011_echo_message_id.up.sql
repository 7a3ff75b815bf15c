-- The provider message id an echo of the send (Evolution's send.message webhook) gave a row
-- whose request was still with the provider: a try that then ends without an answer (a
-- timeout, a lost connection, a crash) is recorded 'sent' with it instead of outcome_unknown.
--
-- Quick and safe while the previous version still runs: a nullable column without a default
-- is added without rewriting the table; the previous version neither sets nor reads it. The
-- echoes are matched through the (status, created_at) index: no new index.
ALTER TABLE outbound_messages ADD COLUMN echo_message_id text;
