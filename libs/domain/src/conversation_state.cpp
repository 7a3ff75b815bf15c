#include <string>

#include <lia/domain/conversation_state.hpp>
#include <lia/domain/nps.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;

namespace {

Error illegal(const ConversationState& s, ConversationEventKind k, std::string_view why) {
  return Error(Errc::conflict, "conversation: " + std::string(to_string(k)) +
                                   " is not allowed on a " + std::string(to_string(s.status)) +
                                   " conversation: " + std::string(why));
}

int progress(MessageStatus s) {
  switch (s) {
    case MessageStatus::pending:
      return 0;
    case MessageStatus::server_ack:
      return 1;
    case MessageStatus::error:
      return 2;
    case MessageStatus::delivery_ack:
      return 3;
    case MessageStatus::read:
      return 4;
  }
  return 0;
}

// ASCII upper-case copy, bounded (provider values are short words).
std::string upper(std::string_view s) {
  std::string out(s.substr(0, 32));
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// The Cloud API's statuses, as Meta sends them and as Evolution over the Cloud API passes them
// on (upper-cased).
std::optional<MessageStatus> cloud_api_status(std::string_view s) {
  const std::string u = upper(s);
  if (u == "SENT") return MessageStatus::server_ack;
  if (u == "DELIVERED") return MessageStatus::delivery_ack;
  if (u == "READ") return MessageStatus::read;
  // A voice message listened to: sent even when the customer turned read receipts off, so it
  // may be the only sign it was read (Evolution's PLAYED reads as READ too).
  if (u == "PLAYED") return MessageStatus::read;
  if (u == "FAILED") return MessageStatus::error;
  return std::nullopt;
}

Error unknown_status(std::string_view provider, std::string_view value) {
  std::string shown(value.substr(0, 32));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return Error(Errc::invalid_argument,
               "message status: unknown " + std::string(provider) + " status '" + shown + "'");
}

}  // namespace

std::string_view to_string(ConversationStatus s) noexcept {
  switch (s) {
    case ConversationStatus::active:
      return "active";
    case ConversationStatus::transferred:
      return "transferred";
    case ConversationStatus::resolved:
      return "resolved";
  }
  return "unknown";
}

std::string_view to_string(ConversationMode m) noexcept {
  switch (m) {
    case ConversationMode::ai:
      return "ai";
    case ConversationMode::human:
      return "human";
    case ConversationMode::hybrid:
      return "hybrid";
  }
  return "unknown";
}

std::optional<ConversationStatus> parse_conversation_status(std::string_view s) noexcept {
  for (auto v : {ConversationStatus::active, ConversationStatus::transferred,
                 ConversationStatus::resolved}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::optional<ConversationMode> parse_conversation_mode(std::string_view s) noexcept {
  for (auto v : {ConversationMode::ai, ConversationMode::human, ConversationMode::hybrid}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::string_view to_string(ConversationEventKind k) noexcept {
  switch (k) {
    case ConversationEventKind::customer_message:
      return "customer_message";
    case ConversationEventKind::ai_handoff:
      return "ai_handoff";
    case ConversationEventKind::agent_assign:
      return "agent_assign";
    case ConversationEventKind::agent_resolve:
      return "agent_resolve";
    case ConversationEventKind::return_to_ai:
      return "return_to_ai";
    case ConversationEventKind::customer_reply_with_score:
      return "customer_reply_with_score";
    case ConversationEventKind::customer_reply_without_score:
      return "customer_reply_without_score";
    case ConversationEventKind::reopen:
      return "reopen";
  }
  return "unknown";
}

std::string_view to_string(Route r) noexcept {
  switch (r) {
    case Route::ai:
      return "ai";
    case Route::human:
      return "human";
    case Route::ai_suggestion:
      return "ai_suggestion";
    case Route::nps_survey:
      return "nps_survey";
  }
  return "unknown";
}

Result<ConversationState> apply(const ConversationState& cur, const ConversationEvent& ev) {
  using K = ConversationEventKind;
  using S = ConversationStatus;
  using M = ConversationMode;
  const ConversationState reopened{S::active, M::ai};

  if (cur.status == S::resolved) {
    switch (ev.kind) {
      case K::customer_reply_with_score:
        return cur;
      case K::customer_reply_without_score:
      case K::reopen:
        return reopened;
      case K::customer_message:
        return illegal(cur, ev.kind,
                       "a reply after resolution is either a survey answer or reopens it");
      case K::agent_resolve:
        return illegal(cur, ev.kind, "it is already resolved");
      case K::ai_handoff:
      case K::agent_assign:
      case K::return_to_ai:
        return illegal(cur, ev.kind, "reopen it first");
    }
    return illegal(cur, ev.kind, "unknown event");
  }

  // active or transferred
  switch (ev.kind) {
    case K::customer_message:
      return cur;
    case K::ai_handoff:
      if (cur.status == S::transferred) return cur;  // already with a human
      return ConversationState{S::transferred, M::human};
    case K::agent_assign:
      if (ev.mode == M::ai) {
        return illegal(cur, ev.kind, "an agent assignment needs mode human or hybrid");
      }
      return ConversationState{S::transferred, ev.mode};
    case K::agent_resolve:
      return ConversationState{S::resolved, cur.mode};
    case K::return_to_ai:
      return ConversationState{S::active, M::ai};
    case K::customer_reply_with_score:
    case K::customer_reply_without_score:
      return illegal(cur, ev.kind, "no survey is pending before resolution");
    case K::reopen:
      return illegal(cur, ev.kind, "it is still open");
  }
  return illegal(cur, ev.kind, "unknown event");
}

InboundDecision decide_inbound(const ConversationState& cur, std::string_view text,
                               std::optional<core::SysTime> survey_sent_at,
                               core::SysTime received_at, std::chrono::seconds survey_window) {
  InboundDecision d;
  if (cur.status == ConversationStatus::resolved) {
    std::optional<int> score;
    if (survey_sent_at && within_survey_window(*survey_sent_at, received_at, survey_window)) {
      score = parse_nps_score(text);
    }
    if (score) {
      d.event.kind = ConversationEventKind::customer_reply_with_score;
      d.next = cur;
      d.route = Route::nps_survey;
      d.score = score;
    } else {
      d.event.kind = ConversationEventKind::customer_reply_without_score;
      d.next = ConversationState{ConversationStatus::active, ConversationMode::ai};
      d.route = Route::ai;
    }
    return d;
  }
  d.event.kind = ConversationEventKind::customer_message;
  d.next = cur;
  if (cur.status == ConversationStatus::active) {
    d.route = Route::ai;
  } else {
    d.route = cur.mode == ConversationMode::hybrid ? Route::ai_suggestion : Route::human;
  }
  return d;
}

// ---- message ticks ------------------------------------------------------------------

std::string_view to_string(MessageStatus s) noexcept {
  switch (s) {
    case MessageStatus::pending:
      return "PENDING";
    case MessageStatus::server_ack:
      return "SERVER_ACK";
    case MessageStatus::delivery_ack:
      return "DELIVERY_ACK";
    case MessageStatus::read:
      return "READ";
    case MessageStatus::error:
      return "ERROR";
  }
  return "UNKNOWN";
}

Result<MessageStatus> parse_message_status(std::string_view s) {
  for (auto v : {MessageStatus::pending, MessageStatus::server_ack, MessageStatus::delivery_ack,
                 MessageStatus::read, MessageStatus::error}) {
    if (to_string(v) == s) return v;
  }
  return unknown_status("stored", s);
}

bool supersedes(MessageStatus incoming, MessageStatus current) noexcept {
  return progress(incoming) > progress(current);
}

MessageTick advance(const MessageTick& current, const MessageTick& incoming) {
  if (!supersedes(incoming.status, current.status)) return current;
  MessageTick next = incoming;
  if (next.status != MessageStatus::error) next.error_reason.clear();
  return next;
}

Result<MessageStatus> parse_meta_status(std::string_view s) {
  if (auto st = cloud_api_status(s)) return *st;
  return unknown_status("Meta", s);
}

Result<MessageStatus> parse_evolution_status(int code) {
  switch (code) {
    case 0:
      return MessageStatus::error;
    case 1:
      return MessageStatus::pending;
    case 2:
      return MessageStatus::server_ack;
    case 3:
      return MessageStatus::delivery_ack;
    case 4:
    case 5:  // PLAYED
      return MessageStatus::read;
    default:
      return unknown_status("Evolution", std::to_string(code));
  }
}

Result<MessageStatus> parse_evolution_status(std::string_view s) {
  if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') return parse_evolution_status(s[0] - '0');
  const std::string u = upper(s);
  if (u == "PENDING") return MessageStatus::pending;
  if (u == "SERVER_ACK") return MessageStatus::server_ack;
  if (u == "DELIVERY_ACK") return MessageStatus::delivery_ack;
  if (u == "READ" || u == "PLAYED") return MessageStatus::read;
  if (u == "ERROR") return MessageStatus::error;
  return unknown_status("Evolution", s);
}

Result<MessageStatus> parse_evolution_cloud_status(std::string_view s) {
  if (auto st = cloud_api_status(s)) return *st;
  return unknown_status("Evolution Cloud", s);
}

}  // namespace lia::domain
