#pragma once
// The conversation's life cycle and the ticks of one outbound message.
//
// Conversation: status (active, transferred, resolved — conversations.status) and mode:
//   ai      the AI answers (the mode of every active conversation);
//   human   an agent answers;
//   hybrid  an agent answers with the AI suggesting replies (suggested_responses).
// A transferred conversation is in mode human or hybrid; a resolved one keeps the mode it
// was resolved in.
//
// Transitions (anything else is an error):
//   active       + customer_message              -> active
//   active       + ai_handoff                    -> transferred (human)
//   active       + agent_assign(human|hybrid)    -> transferred (that mode)
//   active       + agent_resolve                 -> resolved
//   active       + return_to_ai                  -> active
//   transferred  + customer_message              -> transferred
//   transferred  + ai_handoff                    -> transferred (unchanged)
//   transferred  + agent_assign(human|hybrid)    -> transferred (that mode)
//   transferred  + agent_resolve                 -> resolved
//   transferred  + return_to_ai                  -> active (ai)
//   resolved     + customer_reply_with_score     -> resolved
//   resolved     + customer_reply_without_score  -> active (ai)
//   resolved     + reopen                        -> active (ai)
//
// - ai_handoff goes to mode human; agent_assign to the mode it carries (human or hybrid),
//   also to switch an assigned conversation between human and hybrid or to reassign it.
//   A repeated ai_handoff on a transferred conversation keeps it as it is.
// - agent_resolve on active covers an agent or supervisor closing a conversation the AI
//   was handling; auto-close uses the same event.
// - A message after resolution is never a plain customer_message: the service decides,
//   with decide_inbound(), whether it answers the survey (stays resolved) or reopens the
//   conversation (back to active, mode ai, unassigned).
// Errors are Errc::conflict and name the status and the event.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/domain/nps.hpp>

namespace lia::domain {

enum class ConversationStatus { active, transferred, resolved };
enum class ConversationMode { ai, human, hybrid };

std::string_view to_string(ConversationStatus s) noexcept;  // "active", ...
std::string_view to_string(ConversationMode m) noexcept;    // "ai", "human", "hybrid"
std::optional<ConversationStatus> parse_conversation_status(std::string_view s) noexcept;
std::optional<ConversationMode> parse_conversation_mode(std::string_view s) noexcept;

struct ConversationState {
  ConversationStatus status = ConversationStatus::active;
  ConversationMode mode = ConversationMode::ai;
  friend bool operator==(const ConversationState&, const ConversationState&) = default;
};

enum class ConversationEventKind {
  customer_message,
  ai_handoff,
  agent_assign,
  agent_resolve,
  return_to_ai,
  customer_reply_with_score,
  customer_reply_without_score,
  reopen,
};
std::string_view to_string(ConversationEventKind k) noexcept;

struct ConversationEvent {
  ConversationEventKind kind = ConversationEventKind::customer_message;
  // For agent_assign only: human or hybrid.
  ConversationMode mode = ConversationMode::human;
};

core::Result<ConversationState> apply(const ConversationState& current,
                                      const ConversationEvent& event);

// Where a customer's message goes.
enum class Route {
  ai,             // the AI answers
  human,          // the assigned agent answers
  ai_suggestion,  // the agent answers, the AI drafts a suggestion
  nps_survey,     // recorded as the survey's score
};
std::string_view to_string(Route r) noexcept;

struct InboundDecision {
  ConversationEvent event;
  ConversationState next;
  Route route = Route::ai;
  std::optional<int> score;  // set when route == nps_survey
};

// Decides what a customer's text does to the conversation. On a resolved conversation
// a reply is a survey answer when the survey is pending (survey_sent_at set: the caller
// passes nullopt when no survey was sent or it was already answered), the reply came
// within the survey's window (24 h unless the survey said otherwise), and parse_nps_score()
// reads a score; anything else reopens it.
InboundDecision decide_inbound(const ConversationState& current, std::string_view text,
                               std::optional<core::SysTime> survey_sent_at,
                               core::SysTime received_at,
                               std::chrono::seconds survey_window = kNpsSurveyWindow);

// ---- message ticks ------------------------------------------------------------------

// The whatsappStatus of an outbound message. Progress order used by advance():
//   PENDING < SERVER_ACK < ERROR < DELIVERY_ACK < READ
// ERROR sits above the acks that do not prove delivery (a failure report replaces
// "pending" or "sent") and below the ones that do (a message the customer received or
// read stays so even if a failure report arrives late; a delivery report after a failure
// proves the failure was not final).
enum class MessageStatus { pending, server_ack, delivery_ack, read, error };

// "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "ERROR" (the stored values).
std::string_view to_string(MessageStatus s) noexcept;
// The stored values back (exact, upper-case).
core::Result<MessageStatus> parse_message_status(std::string_view s);

struct MessageTick {
  MessageStatus status = MessageStatus::pending;
  std::string error_reason;  // only with ERROR
  friend bool operator==(const MessageTick&, const MessageTick&) = default;
};

// True when `incoming` moves the message forward from `current`.
bool supersedes(MessageStatus incoming, MessageStatus current) noexcept;

// The tick to keep: `incoming` if it moves forward, else `current` unchanged (a repeated
// or late tick is a no-op; a second ERROR keeps the first reason).
MessageTick advance(const MessageTick& current, const MessageTick& incoming);

// Provider vocabularies, case-insensitive. Unknown values are errors (invalid_argument)
// that name the value.
// Meta Cloud API statuses[].status: sent, delivered, read, failed.
core::Result<MessageStatus> parse_meta_status(std::string_view s);
// Evolution API (Baileys) numeric ack: 0 ERROR, 1 PENDING, 2 SERVER_ACK, 3 DELIVERY_ACK,
// 4 READ, 5 PLAYED (a voice note listened to) -> READ.
core::Result<MessageStatus> parse_evolution_status(int code);
// Evolution API names: PENDING, SERVER_ACK, DELIVERY_ACK, READ, PLAYED, ERROR; also the
// numeric codes as text ("3").
core::Result<MessageStatus> parse_evolution_status(std::string_view s);
// Evolution API running over the Cloud API: SENT, DELIVERED, READ, FAILED.
core::Result<MessageStatus> parse_evolution_cloud_status(std::string_view s);

}  // namespace lia::domain
