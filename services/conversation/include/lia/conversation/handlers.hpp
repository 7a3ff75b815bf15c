#pragma once
// The consumers of conversation: each record's CloudEvent applied in one transaction
// (inbox claim, state change, the events it owes through the outbox), so a redelivery is a
// no-op and nothing is published that was not stored.
//
//   whatsapp.inbound.v1     message.received  -> contact, conversation, message, route
//   whatsapp.status.v1      message.status    -> tick forward (or kept until the id is known)
//                           connection.updated -> logged
//   ai.events.v1            reply.generated, handoff.requested, analysis.completed,
//                           assistant.changed
//   notification.events.v1  message.sent / failed / dead_lettered -> provider id and tick
//   engagement.events.v1    survey.sent, survey.failed, score.recorded -> the survey window
//   collections.events.v1   message.requested -> logged
//
// Errors: a record that can't be decoded or names an unknown conversation is non-retryable
// (dead-lettered with the reason); database trouble is retryable. Other event types on a
// topic are ignored (they are meant for other consumers).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>

namespace lia::conversation {

class Handlers {
 public:
  Handlers(std::shared_ptr<pg::Pool> pool, const std::string& schema,
           const core::Clock& clock = core::SystemClock::instance());
  ~Handlers();
  Handlers(const Handlers&) = delete;
  Handlers& operator=(const Handlers&) = delete;

  // The Kafka handler: decodes and validates the record's CloudEvent, then apply().
  core::Status handle(const kafka::Message& message);
  // Applies an event that arrived on `topic`.
  core::Status apply(std::string_view topic, const events::CloudEvent& event);

  // Deletes ticks kept for provider ids that never became known, older than `age`.
  core::Result<std::int64_t> purge_pending_statuses(std::chrono::seconds age);
  // Deletes campaign messages no answer came for (and sends of no conversation that no
  // campaign request claimed), kept longer than `age`.
  core::Result<std::int64_t> purge_campaign_messages(std::chrono::seconds age);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lia::conversation
