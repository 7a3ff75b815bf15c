#pragma once
// The data of the events ai_orchestration publishes on ai.events.v1 (schemas in
// proto-schemas/events/lia.ai.*/v1.json). Pure builders: JSON text in, JSON text out.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analysis.hpp"
#include "local_assistant.hpp"
#include "tools.hpp"

namespace lia::ai_orchestration {

// The conversation an event is about, as every conversation event carries it.
struct ChatRef {
  std::string conversation_id;
  std::string contact_id;
  std::string provider;
  std::string instance;
  std::string chat_id;
};

struct ReplyData {
  std::string reply_id;     // new UUIDv7: conversation stores the outbound message under it
  std::string in_reply_to;  // the stored customer message
  Assistant assistant = Assistant::apresentacao;
  std::string text;
  std::string delivery = "send";  // send | suggest
  std::string model;
  bool fallback = false;
  std::optional<std::string> thread_id;
  std::optional<std::int64_t> latency_ms;
};

std::string reply_generated_data(const ChatRef& chat, const ReplyData& reply);
std::string analysis_completed_data(const ChatRef& chat, std::string_view message_id,
                                    const Analysis& analysis);
// `in_reply_to`: the stored message that led to the change or the handoff (conversation
// ignores either when that message came before the conversation's last reopening).
std::string assistant_changed_data(const ChatRef& chat, std::string_view in_reply_to,
                                   Assistant from, Assistant to, std::string_view reason);
std::string handoff_requested_data(const ChatRef& chat, std::string_view in_reply_to,
                                   Assistant assistant, const HandoffPlan& handoff);
std::string tool_invoked_data(const ChatRef& chat, Assistant assistant,
                              const ToolInvocation& invocation);

}  // namespace lia::ai_orchestration
