#include <lia/conversation/routing.hpp>

namespace lia::conversation {

std::string_view routing_text(std::string_view kind, std::string_view text) {
  if (kind == "text" || kind == "interactive" || kind == "button") return text;
  return {};
}

std::optional<core::SysTime> pending_survey(std::optional<core::SysTime> survey_sent_at,
                                            bool failed) {
  if (failed || !survey_sent_at) return std::nullopt;
  // Providers stamp messages in whole seconds: a reply stamped in the second the survey went
  // out (sent at .700, reply stamped .000) is still after it.
  return std::chrono::floor<std::chrono::seconds>(*survey_sent_at);
}

std::string_view route_name(domain::Route r) noexcept {
  switch (r) {
    case domain::Route::ai:
      return "ai";
    case domain::Route::human:
      return "human";
    case domain::Route::ai_suggestion:
      return "hybrid";
    case domain::Route::nps_survey:
      return "survey";
  }
  return "none";
}

InboundPlan plan_inbound(const domain::ConversationState& state, std::string_view kind,
                         std::string_view text, std::optional<core::SysTime> pending_survey_at,
                         core::SysTime received_at, std::chrono::seconds survey_window) {
  InboundPlan plan;
  if (kind == "reaction") {
    plan.route = "none";
    plan.next = state;
    return plan;
  }
  const auto d = domain::decide_inbound(state, routing_text(kind, text), pending_survey_at,
                                        received_at, survey_window);
  plan.route = std::string(route_name(d.route));
  plan.next = d.next;
  plan.score = d.score;
  plan.reopen = state.status == domain::ConversationStatus::resolved &&
                d.next.status != domain::ConversationStatus::resolved;
  return plan;
}

}  // namespace lia::conversation
