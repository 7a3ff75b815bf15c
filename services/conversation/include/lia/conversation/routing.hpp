#pragma once
// Where an inbound customer message goes, decided from the conversation's state alone
// (lia::domain::decide_inbound plus the few kinds that route nowhere). No I/O.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/domain/conversation_state.hpp>

namespace lia::conversation {

struct InboundPlan {
  // The route of conversation.message.stored: "ai", "human", "hybrid", "survey" or "none".
  std::string route;
  // The conversation was resolved and this message reopens it (conversation.reopened).
  bool reopen = false;
  domain::ConversationState next;
  std::optional<int> score;  // route "survey": the score read from the reply
};

// The text a routing decision reads: the body of a text, the title of an interactive
// reply, the text of a button; empty for every other kind.
std::string_view routing_text(std::string_view kind, std::string_view text);

// The survey sent time decide_inbound() should see: nullopt when its send failed; whole
// seconds, as providers stamp their messages.
std::optional<core::SysTime> pending_survey(std::optional<core::SysTime> survey_sent_at,
                                            bool failed);

// An answered survey still takes a further bare score this soon after the last one (a score
// sent twice, a change of mind): not the AI's to answer, nor a reason to reopen the
// conversation; nps_gamification keeps the first. Later, a number is the customer's message
// (an answer to a campaign's message, say).
inline constexpr std::chrono::minutes kFurtherScoreWindow{10};

// A reaction routes nowhere and changes nothing; everything else follows decide_inbound():
// active -> ai, transferred -> human (hybrid -> hybrid), resolved -> survey when a pending
// survey's window (`survey_window`, 24 h by default) holds a bare 0-10 score, else the
// conversation reopens to the AI.
InboundPlan plan_inbound(const domain::ConversationState& state, std::string_view kind,
                         std::string_view text, std::optional<core::SysTime> pending_survey_at,
                         core::SysTime received_at,
                         std::chrono::seconds survey_window = domain::kNpsSurveyWindow);

// The stored-event route name of a domain route.
std::string_view route_name(domain::Route r) noexcept;

}  // namespace lia::conversation
