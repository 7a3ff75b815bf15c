#pragma once
// Dead-letter replay: re-publishes the records of a dead-letter topic `T.dlq` to `T`, the
// topic they came from, as they are (key, value, headers, the lia.dlq.* ones included) plus a
// `lia.replayed_from` header, once each. Used by the `lia-dlq-replay` tool after the cause of the
// dead letters was fixed (a missing token, a bug). Consumers deduplicate by event id, so a
// record that was meanwhile handled some other way does nothing twice.
//
//   ReplayOptions o{.bootstrap = ..., .dlq_topic = "notification.commands.v1.dlq"};
//   auto report = replay_dead_letters(o, [](const DeadLetterInfo& d) { print(d); });
//
// Its place is the committed offset of the consumer group `lia-replay.<dlq topic>`: a record is
// committed only after the broker acknowledged its copy (acks=all), so nothing is lost, and a
// second run replays only what was dead-lettered since (commits every 100 records and at the
// end: a run stopped midway leaves at most the last 100 to be replayed again). A run takes the
// records that were there when it started, and stops at the first one it can't replay (no origin
// header, or an origin other than T), committing what it replayed before it. A slim dead letter
// (DeadLetter in kafka.hpp) goes back as the record at its origin's partition and offset, with
// the lia.dlq.origin.* headers added; one whose record is gone from there stops the run too.

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include <lia/core/result.hpp>

namespace lia::kafka {

struct ReplayOptions {
  std::string bootstrap;
  std::map<std::string, std::string> properties;  // LIA_KAFKA_PROPERTIES and the secret ones
  std::string dlq_topic;                          // "<topic>.dlq"
  bool list_only = false;                         // report them; produce and commit nothing
  std::size_t max = std::numeric_limits<std::size_t>::max();  // records this run, at most
  std::chrono::milliseconds timeout{60'000};                  // the whole run
};

// What a dead letter says about itself (its headers). Never its key or value: they carry the
// customer's number and message (LGPD).
struct DeadLetterInfo {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string origin_topic;  // lia.dlq.origin.topic ("" when missing)
  std::string origin_partition;
  std::string origin_offset;
  std::string error;  // lia.dlq.error, masked like a log line when it was written
  std::string retryable;
  std::string attempts;
  std::string at;
  std::string event_type;  // lia.event_type, when the record is one of our events
  std::string event_id;    // lia.event_id
  // lia.dlq.value_at_origin: dead-lettered without its value (too large with the headers),
  // which the replay reads from the origin's partition and offset; "" for a whole record.
  std::string value_at_origin;
};

struct ReplayReport {
  std::size_t seen = 0;      // dead letters read (in list mode: listed)
  std::size_t replayed = 0;  // re-published and committed
  std::size_t left = 0;      // there at the start and not taken (max reached)
};

// Errors: Errc::invalid_argument (a topic not named "<topic>.dlq", a bad property, a dead
// letter without its origin), Errc::unavailable / timeout (the broker), with what was done
// before in the message. `each` sees every dead letter read, before it is replayed.
core::Result<ReplayReport> replay_dead_letters(
    const ReplayOptions& options, const std::function<void(const DeadLetterInfo&)>& each = {});

}  // namespace lia::kafka
