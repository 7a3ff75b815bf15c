#include <fmt/format.h>

#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/kafka/kafka.hpp>

namespace lia::kafka {

const std::string* Message::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.key == name) return &h.value;
  }
  return nullptr;
}

DeadLetter::DeadLetter(std::shared_ptr<Producer> producer, std::string fixed_topic)
    : producer_(std::move(producer)), fixed_topic_(std::move(fixed_topic)) {}

namespace {
constexpr std::string_view kSuffix = ".dlq";
}  // namespace

std::string DeadLetter::topic_for(const std::string& origin) const {
  return fixed_topic_.empty() ? origin + std::string(kSuffix) : fixed_topic_;
}

std::optional<std::string> DeadLetter::origin_of(std::string_view dlq_topic) {
  if (dlq_topic.size() <= kSuffix.size() || !dlq_topic.ends_with(kSuffix)) return std::nullopt;
  return std::string(dlq_topic.substr(0, dlq_topic.size() - kSuffix.size()));
}

Record DeadLetter::record_for(const Message& message, const core::Error& error,
                              int attempts) const {
  Record r;
  r.topic = topic_for(message.topic);
  r.key = message.key;
  r.value = message.value;
  r.headers = {
      {"lia.dlq.error", core::scrub_text(error.describe())},  // ops read it: no personal data
      {"lia.dlq.retryable", error.retryable() ? "true" : "false"},
      {"lia.dlq.origin.topic", message.topic},
      {"lia.dlq.origin.partition", std::to_string(message.partition)},
      {"lia.dlq.origin.offset", std::to_string(message.offset)},
      {"lia.dlq.attempts", std::to_string(attempts)},
      {"lia.dlq.at", core::format_rfc3339(core::SystemClock::instance().now())},
  };
  for (const auto& h : message.headers) {
    if (h.key.rfind("lia.dlq.", 0) == 0) continue;  // from an earlier trip through a DLQ
    r.headers.push_back(h);
  }
  return r;
}

Record DeadLetter::slim_record_for(const Message& message, const core::Error& error,
                                   int attempts) const {
  Record r = record_for(message, error, attempts);
  r.value.clear();
  std::erase_if(r.headers, [](const Header& h) {
    return h.key.rfind("lia.dlq.", 0) != 0 && h.key != "lia.event_type" && h.key != "lia.event_id";
  });
  r.headers.push_back({kValueAtOrigin, std::to_string(message.value.size())});
  return r;
}

namespace {

// How long a dead letter's ack is still waited for once the consumer stops: it usually comes
// in milliseconds, and with it the record's offset is stored and committed at the close.
// Given up, the record comes again after a restart and is dead-lettered a second time.
constexpr std::chrono::seconds kAckGraceAtStop{2};

// Publishes and waits for the broker's ack (or `cancel`, and then kAckGraceAtStop more).
core::Status publish(Producer& producer, Record record, const std::atomic<bool>* cancel) {
  const std::string topic = record.topic;
  // The producer's delivery timeout bounds this wait: every record gets its callback.
  auto pending = producer.produce(std::move(record));
  while (cancel != nullptr &&
         pending.wait_for(std::chrono::milliseconds{100}) != std::future_status::ready) {
    if (cancel->load()) {
      if (pending.wait_for(kAckGraceAtStop) == std::future_status::ready) break;
      return core::Error(core::Errc::cancelled,
                         fmt::format("dead letter to {}: stopping before its ack", topic), true);
    }
  }
  DeliveryResult result = pending.get();
  if (!result.ok()) {
    const auto& e = result.error();
    return core::Error(e.code(), fmt::format("dead letter to {}: {}", topic, e.message()),
                       e.retryable());
  }
  return core::ok();
}

}  // namespace

core::Status DeadLetter::send(const Message& message, const core::Error& error, int attempts,
                              const std::atomic<bool>* cancel) {
  if (!producer_) {
    return core::Error(core::Errc::internal, "dead letter: no producer");
  }
  const auto fields = [&] {
    return std::vector<core::Field>{core::f::id("component", "kafka"),
                                    core::f::id("topic", message.topic),
                                    core::f::num("partition", message.partition),
                                    core::f::num("offset", message.offset),
                                    core::f::id("dlq", topic_for(message.topic)),
                                    core::f::num("attempts", attempts),
                                    core::f::str("error", error.describe())};
  };
  auto sent = publish(*producer_, record_for(message, error, attempts), cancel);
  if (!sent.ok() && sent.error().code() == core::Errc::too_large) {
    auto f = fields();
    f.push_back(core::f::num("value_bytes", static_cast<std::int64_t>(message.value.size())));
    core::log().log(
        core::Level::warn,
        "kafka message too large for its dead-letter topic: dead-lettered without its value, "
        "which the replay reads from its origin",
        f);
    sent = publish(*producer_, slim_record_for(message, error, attempts), cancel);
  }
  if (!sent.ok()) return sent;
  core::log().log(core::Level::warn, "kafka message dead-lettered", fields());
  return core::ok();
}

}  // namespace lia::kafka
