#pragma once
// Plain values of the conversation service: rows as the handlers and the API read them,
// department names, and time helpers. No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/auth/auth.hpp>
#include <lia/core/clock.hpp>
#include <lia/domain/conversation_state.hpp>

namespace lia::conversation {

inline constexpr const char* kServiceName = "conversation";
inline constexpr const char* kDefaultSchema = "conversation";

// Department names are stored in one vocabulary so agents configured with "suporte" and a
// handoff to "support" meet: lower-cased, trimmed, and the known aliases folded to the
// seed's names (commercial, support, financial, cancellation, general) plus ombudsman and
// collections. Unknown names are kept (lower-cased). Empty input gives "general".
std::string canonical_department(std::string_view name);
// Whether a canonical name (canonical_department's) is one of the desk's departments: support,
// commercial, financial, cancellation, ombudsman, collections, general.
bool is_department(std::string_view canonical) noexcept;
// The department that serves an assistant persona, as ai_orchestration's handoffs name it
// (lia::domain::department_for_assistant; the name trimmed and lower-cased first):
// suporte -> support, comercial -> commercial, financeiro and cobranca -> financial,
// cancelamento -> cancellation, anything else (ouvidoria included) -> general.
std::string department_for_assistant(std::string_view assistant);

// RFC 3339 date-time ("2026-11-22T12:53:24Z", fractions, "+hh:mm" offsets) to a time
// point; nullopt for anything else.
std::optional<core::SysTime> parse_time(std::string_view text);

// What a conversation's handlers need to know about it (a row of conversations).
struct ConversationRow {
  std::string id;
  std::string provider;
  std::string instance;
  std::string chat_id;
  std::string contact_id;
  std::string assistant = "apresentacao";
  std::string department = "general";
  domain::ConversationState state;
  std::optional<std::string> assigned_to;
  std::optional<std::string> survey_id;
  std::optional<core::SysTime> survey_sent_at;
  // The survey's send failed for good (survey.failed): the customer never saw it, so a
  // number they write is no score.
  bool survey_failed = false;
  // A score answered it (routed to it, or score.recorded).
  bool survey_answered = false;
  // From the survey's expires_at; until survey.sent arrives, the default 24 h.
  std::chrono::seconds survey_window = domain::kNpsSurveyWindow;
};

// A conversation as the REST API shows it.
struct ConversationView {
  std::string id;
  std::string provider;
  std::string instance;
  std::string chat_id;
  std::string contact_id;
  std::optional<std::string> contact_name;
  std::optional<std::string> contact_push_name;
  std::string contact_phone;
  std::string assistant;
  std::string department;
  std::string status;
  std::string mode;
  std::string sentiment;
  std::string urgency;
  std::optional<std::string> assigned_to;
  std::optional<std::string> transfer_reason;
  std::optional<std::string> transferred_at;
  std::optional<std::string> resolved_by;
  std::optional<std::string> resolved_at;
  std::optional<std::string> last_message;
  std::string last_message_time;
  std::string created_at;
  std::string updated_at;
};

struct MessageView {
  std::string id;
  std::string conversation_id;
  std::string direction;
  std::string author;
  std::optional<std::string> agent_user_id;
  std::optional<std::string> assistant;
  std::string kind;
  std::optional<std::string> content;
  std::optional<std::string> media_json;
  std::optional<std::string> location_json;
  std::optional<std::string> route;
  bool is_private = false;
  std::optional<std::string> whatsapp_message_id;
  std::optional<std::string> whatsapp_status;
  std::optional<std::string> status_reason;
  std::string created_at;
};

struct UserView {
  std::string id;
  std::string username;
  std::string full_name;
  std::optional<std::string> email;
  auth::Role role = auth::Role::agent;
  bool active = true;
  std::vector<std::string> departments;
  bool participates_in_gamification = true;  // the seed's participatesInGamification
  // RFC 3339; tokens issued before it are refused (set by a deactivation, kept after it).
  std::optional<std::string> tokens_valid_from;
  std::optional<std::string> last_login_at;
  std::string created_at;
  std::string updated_at;
};

// PostgreSQL's text form of a text[] ("{a,b,\"c d\"}") back to strings.
std::vector<std::string> parse_text_array(std::string_view text);
// Strings to a text[] literal for a parameter ($1::text[]).
std::string text_array_literal(const std::vector<std::string>& items);

}  // namespace lia::conversation
