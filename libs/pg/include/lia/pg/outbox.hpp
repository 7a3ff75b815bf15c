#pragma once
// The transactional outbox and inbox (tables made by platform_migrations()).
//
// Outbox: a service writes its state change and the events it owes in one transaction:
//
//   lia::pg::transact(*pool, [&](lia::pg::Tx& tx) -> lia::core::Status {
//     if (auto r = tx.exec("insert into messages ...", ...); !r) return r.error();
//     auto id = lia::pg::enqueue(tx, "conversation", {.event_id = ev.id, .topic = "...",
//                                                     .key = chat, .payload = json});
//     if (!id) return id.error();
//     return lia::core::ok();
//   });
//
// The row commits with the transaction; an OutboxRelay publishes it to Kafka afterwards.
// When that schema's relay is active in this process the commit wakes it directly;
// otherwise a NOTIFY on channel "<schema>_outbox" commits with the row.
//
// Inbox: a consumer claims each event id in the same transaction as the event's effect;
// a redelivered event claims false and the handler skips its effect.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/deferred.hpp>
#include <lia/pg/tx.hpp>

namespace lia::pg {

// The NOTIFY channel of a schema's outbox.
std::string outbox_channel(const std::string& schema);

// Inserts the message into <schema>.outbox (the relay is woken at commit). Returns the row id.
core::Result<std::int64_t> enqueue(Tx& tx, const std::string& schema, const OutboxMessage& msg);

// The same, written just before the transaction commits, together with every other row
// queued so, in one INSERT (and at most one NOTIFY) per schema, in the order they were queued. A
// duplicate event id then fails the commit rather than this call.
void enqueue_at_commit(Tx& tx, const std::string& schema, OutboxMessage msg);

// true the first time (consumer, event_id) is claimed, false for a redelivery.
core::Result<bool> inbox_claim(Tx& tx, const std::string& schema, const std::string& consumer,
                               const std::string& event_id);

}  // namespace lia::pg
