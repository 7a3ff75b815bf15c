-- A reply joins recent_messages as it goes out (unconfirmed), so the customer's next message is
-- answered knowing it; conversation's message.stored of it confirms it. One conversation drops
-- instead (the chat was taken over or resolved meanwhile) is removed at that state change and
-- never summarized: the history holds only what the customer was sent.
ALTER TABLE recent_messages ADD COLUMN confirmed boolean NOT NULL DEFAULT true;
