-- Which dead letter a replayed command last came from ("<dlq topic>/<partition>/<offset>",
-- the replay tool's lia.replayed_from header): a replay reopens a failed row once, so the
-- same replayed record delivered again (a restart before its offset was committed), or the
-- same dead letter re-published, does not send the message a second time.
--
-- Quick and safe while the previous version still runs: a nullable column without a default
-- is added without rewriting the table; the previous version neither sets nor reads it.
ALTER TABLE outbound_messages ADD COLUMN replayed_from text;
