#pragma once
// Publishing and receiving events the same way in every service.
//
//   // in a handler's transaction, beside the state change:
//   auto st = runtime::publish(tx, "conversation", {.topic = events::topics::conversation_events,
//                              .key = events::chat_key(instance, chat), .type = ...,
//                              .subject = conversation_id, .data = w.take()});
//
//   // in a consumer:
//   auto ev = runtime::decode_event(message);   // bad input: non-retryable, dead-lettered
//   if (!ev) return ev.error();

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/tx.hpp>

namespace lia::runtime {

struct Outgoing {
  std::string topic;
  std::string key;
  std::string type;
  std::string subject;  // usually the conversation id; may be empty
  std::string data;     // the data object as JSON text
  int version = 1;
  std::string id;                                            // empty: a new UUIDv7
  std::vector<std::pair<std::string, std::string>> headers;  // besides lia.event_id/_type
};

// Builds the CloudEvent (source /lia/<service>), validates its data against the schema of
// its type and version (a failure is Errc::internal: a bug in the producer, not bad input)
// and queues it for <schema>.outbox in `tx` (written at commit with the transaction's other
// events, in one INSERT), with header lia.event_type. Returns the event.
core::Result<events::CloudEvent> publish(pg::Tx& tx, const std::string& schema,
                                         const std::string& service, Outgoing out,
                                         const core::Clock& clock = core::SystemClock::instance());

// The same, without a database (ingestion produces straight to Kafka): the validated
// record to hand to the producer.
core::Result<kafka::Record> make_record(const std::string& service, Outgoing out,
                                        const core::Clock& clock = core::SystemClock::instance());

// Decodes a record's CloudEvent and validates its data. Every error is non-retryable
// (Errc::invalid_argument), so the consumer dead-letters the record with the reason.
core::Result<events::CloudEvent> decode_event(const kafka::Message& message);

// Whose command a notification outcome record is about, by its lia.command_source header:
// `service`'s (true) or another's (false); nullopt without the header (a producer from
// before it), when only a look-up by command id can tell.
std::optional<bool> command_of(const kafka::Message& message, std::string_view service);

}  // namespace lia::runtime
