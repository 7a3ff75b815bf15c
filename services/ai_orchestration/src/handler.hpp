#pragma once
// The consumers of ai_orchestration:
//
// conversation.events.v1 (inbox consumer "ai_orchestration.conversation.events.v1"):
//   - message.stored: every message goes into the read model (recent messages, counts,
//     context threads). An inbound customer message with route "ai" in a conversation the
//     AI still answers (active, mode ai, no handoff pending) gets an answer: ai.reply.generated
//     (delivery send), ai.analysis.completed, and when they apply ai.assistant.changed,
//     ai.tool.invoked (one per tool run) and ai.handoff.requested. Route "hybrid" gets a
//     suggestion for the agent (delivery suggest) and its analysis. The answer is made first
//     (the remote model may take seconds), then one transaction claims the event, updates
//     the read model (only if it did not change meanwhile: else a retryable conflict) and
//     writes the events to the outbox.
//     A tool that met the database down (lookup_outage) makes the answer a retryable
//     error too: it would tell the customer less than they asked for.
//   - created / transferred / resolved / reopened: who answers (status, mode); resolved
//     also closes the open thread with a summary.
//   - assigned: nothing to do.
// contacts.v1: the customer's first name (to greet by name); a tombstone erases it.
//
// Bad records (undecodable, schema-invalid, unknown type) are non-retryable errors: the
// consumer dead-letters them. Database trouble is retryable.

#include <memory>
#include <string>

#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>

#include "orchestrator.hpp"
#include "store.hpp"
#include "tools.hpp"

namespace lia::ai_orchestration {

inline constexpr std::string_view kServiceName = "ai_orchestration";

struct HandlerOptions {
  std::string schema = "ai";
  int recent_messages = 55;  // kept per conversation
  int thread_rotation = kThreadRotation;
  // A customer's message within this after a campaign messaged the chat goes to cobranca.
  std::chrono::milliseconds campaign_answer_window{std::chrono::hours{24 * 7}};
  // Where lookup_outage looks; null: the schema's outages table.
  std::shared_ptr<OutageSource> outages;
};

class Handler {
 public:
  Handler(std::shared_ptr<pg::Pool> pool, std::shared_ptr<const Orchestrator> orchestrator,
          HandlerOptions options);

  // conversation.events.v1, and collections.events.v1 (the chats a campaign messaged)
  core::Status handle(const kafka::Message& message);
  // contacts.v1
  core::Status handle_contact(const kafka::Message& message);

  const Store& store() const { return store_; }

 private:
  core::Status on_state(const events::CloudEvent& event);
  core::Status on_message(const events::CloudEvent& event);
  core::Status on_campaign(const kafka::Message& message);

  std::shared_ptr<pg::Pool> pool_;
  std::shared_ptr<const Orchestrator> orchestrator_;
  HandlerOptions options_;
  Store store_;
  std::shared_ptr<OutageSource> outages_;
};

}  // namespace lia::ai_orchestration
