#pragma once
// What a transaction writes just before its COMMIT, in one statement per table instead of
// one per row: outbox rows queued with pg::enqueue_at_commit (lia/pg/outbox.hpp), and the
// inbox claims of a batch. A batch (lia/pg/batch.hpp) keeps one for all the records it
// holds.

#include <string>
#include <utility>
#include <vector>

namespace lia::pg {

struct OutboxMessage {
  std::string event_id;  // a UUID; unique in the outbox (a second enqueue -> Errc::conflict)
  std::string topic;
  std::string key;
  std::string payload;
  // Stored as a jsonb object; bytes that are not UTF-8 (which jsonb refuses) become U+FFFD.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct InboxClaim {
  std::string schema;
  std::string consumer;
  std::string event_id;
};

struct Deferred {
  std::vector<std::pair<std::string, OutboxMessage>> outbox;  // (schema, row), in order
  std::vector<InboxClaim> inbox;  // claims a batch made (lia/pg/batch.hpp)
  // Schemas whose outbox got rows through pg::enqueue: their relay in this process, if
  // active, is woken once the COMMIT succeeded (no statement of its own).
  std::vector<std::string> wake;
  bool empty() const { return outbox.empty() && inbox.empty(); }
  void clear() {
    outbox.clear();
    inbox.clear();
    wake.clear();
  }
};

}  // namespace lia::pg
