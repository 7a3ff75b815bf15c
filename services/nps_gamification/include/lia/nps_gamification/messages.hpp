#pragma once
// Pure pieces of nps_gamification: reading the events it consumes, building the data of the
// events and commands it produces, the survey's texts and the period arithmetic. No I/O.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/domain/nps.hpp>

namespace lia::nps_gamification {

inline constexpr const char* kServiceName = "nps_gamification";
inline constexpr const char* kDefaultSchema = "engagement";
inline constexpr const char* kConsumerGroup = "lia-nps-gamification";
inline constexpr const char* kDefaultSurveyText =
    "Como você avalia o nosso atendimento? Responda com uma nota de 0 a 10.";

// The chat a conversation event is about.
struct ChatRef {
  std::string conversation_id;
  std::string contact_id;
  std::string provider;
  std::string instance;
  std::string chat_id;
};

// lia.conversation.resolved
struct Resolved {
  ChatRef chat;
  std::string resolved_by;
  std::optional<std::string> agent_id;
  std::optional<std::int64_t> duration_ms;
  std::optional<std::int64_t> message_count;
};
core::Result<Resolved> parse_resolved(std::string_view data_json);

// lia.conversation.message.stored (the fields this service reads)
struct StoredMessage {
  ChatRef chat;
  std::string message_id;
  std::string direction;
  std::string author;
  std::string kind;
  std::optional<std::string> text;
  std::optional<std::string> route;
  std::string timestamp;
  // A customer's inbound message that conversation routed to the survey.
  bool is_survey_reply() const {
    return direction == "inbound" && author == "customer" && route && *route == "survey";
  }
};
core::Result<StoredMessage> parse_stored(std::string_view data_json);

// lia.conversation.reopened (only the conversation matters here)
core::Result<std::string> parse_reopened_conversation(std::string_view data_json);

// lia.notification.message.sent / failed / dead_lettered (their command id, reason, code)
struct SendOutcome {
  std::string command_id;
  std::string reason;               // "unknown" when the event gives none
  std::optional<std::string> code;  // message.failed's code (e.g. "outcome_unknown")
};
core::Result<SendOutcome> parse_send_outcome(std::string_view data_json);

// A survey as stored in <schema>.surveys and announced by lia.engagement.survey.sent.
struct Survey {
  std::string survey_id;
  ChatRef chat;
  std::optional<std::string> agent_id;
  std::string command_id;
  core::SysTime sent_at;
  core::SysTime expires_at;
};

// The survey for a resolution: new survey and command ids, expiring `window` after `now`.
Survey make_survey(const Resolved& resolved, core::SysTime now, std::chrono::seconds window,
                   const core::Clock& clock);

// Data of lia.notification.send_text. not_after: do not deliver later than this.
std::string send_text_data(const std::string& command_id, const ChatRef& chat,
                           const std::string& text, std::optional<core::SysTime> not_after);
// Data of lia.engagement.survey.sent.
std::string survey_sent_data(const Survey& survey);
// Data of lia.engagement.survey.failed: the survey's command could not be sent, for `reason`
// (cut to 1,000 bytes).
std::string survey_failed_data(const Survey& survey, std::string_view reason);
// Data of lia.engagement.score.recorded.
std::string score_recorded_data(const Survey& survey, int score, domain::NpsCategory category);

// The short thank-you sent after a recorded score (Portuguese, a little warmer for
// promoters and apologetic for detractors).
std::string thank_you_text(domain::NpsCategory category);

// RFC 3339 date-time ("2026-11-22T12:53:24Z", fractions, "+hh:mm" offsets) to a UTC instant.
core::Result<core::SysTime> parse_rfc3339(std::string_view text);
// The business's calendar (months, bare dates) is local time, UTC + `utc_offset`
// (LIA_NPS_UTC_OFFSET_MINUTES; São Paulo, -180, by default).
//
// An API time bound: RFC 3339, or a bare date "YYYY-MM-DD" (local midnight).
core::Result<core::SysTime> parse_time_bound(std::string_view text,
                                             std::chrono::minutes utc_offset);

// "YYYY-MM" -> [first instant of the local month, first instant of the next).
core::Result<std::pair<core::SysTime, core::SysTime>> period_bounds(
    std::string_view period, std::chrono::minutes utc_offset);
// The local "YYYY-MM" an instant falls in.
std::string period_of(core::SysTime t, std::chrono::minutes utc_offset);

}  // namespace lia::nps_gamification
