#pragma once
// The event side of nps_gamification: each consumed event is applied in one transaction
// with its inbox claim and the events it owes (outbox).
//
//   conversation.resolved       -> survey row + send_text + engagement.survey.sent, and the
//                                  agent's resolution in the ranking's read model
//   conversation.message.stored -> (route survey, customer, inbound) a score within the
//                                  window of the conversation's latest survey, unanswered
//                                  (never an older one): satisfaction_feedback +
//                                  engagement.score.recorded + a thank-you send_text
//   conversation.reopened       -> the last resolution of the conversation counts as reopened
//   notification.message.failed / dead_lettered / undelivered -> a survey that could not be
//                                  sent (or delivered) and is unanswered is logged, flagged
//                                  (send_failed_at, send_error) and announced
//                                  (engagement.survey.failed); not on "outcome_unknown" (it
//                                  may have been delivered)
//   notification.message.sent (of a survey) -> a survey flagged failed and sent after all
//                                  (its dead letter replayed) is announced again (survey.sent)

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/nps_gamification/messages.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>

namespace lia::nps_gamification {

struct Settings {
  std::string jwt_secret;                 // LIA_JWT_SECRET
  std::string survey_text;                // LIA_NPS_SURVEY_TEXT
  std::chrono::hours survey_window{24};   // LIA_NPS_WINDOW_HOURS
  std::chrono::minutes utc_offset{-180};  // LIA_NPS_UTC_OFFSET_MINUTES: the ranking's months
  // LIA_NPS_REOPEN_WINDOW_HOURS: a reopen this soon after a resolution counts against it; a
  // customer writing weeks later about something new does not undo it.
  std::chrono::hours reopen_window{72};
};

// The advisory lock key under which this service decides on one conversation's surveys: a
// resolution (is one still open?), a send's failure and a replayed send (did a newer one
// replace it?). The two topics are consumed apart, in other pods too.
std::string survey_lock_key(std::string_view schema, std::string_view conversation_id);

class EventHandlers {
 public:
  EventHandlers(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
                const core::Clock& clock = core::SystemClock::instance());

  // The consumer's handler (conversation.events.v1 and notification.events.v1). Records of
  // types this service does not use are acknowledged without decoding; bad records are
  // non-retryable errors (dead-lettered), database trouble retryable.
  core::Status handle(const kafka::Message& message) const;

  // One decoded event (tests call these directly).
  core::Status on_event(const events::CloudEvent& event) const;
  core::Status on_resolved(const events::CloudEvent& event) const;
  core::Status on_message_stored(const events::CloudEvent& event) const;
  core::Status on_reopened(const events::CloudEvent& event) const;
  core::Status on_send_failure(const events::CloudEvent& event) const;
  // message.sent of a survey command (lia.command_source = nps_gamification's).
  core::Status on_sent(const events::CloudEvent& event) const;

 private:
  // Inserts survey `s` for the resolution `resolved_event_id` and publishes its send_text and
  // survey.sent, in `tx`; false (nothing published) when that resolution has its survey.
  core::Result<bool> send_survey(pg::Tx& tx, const Survey& s,
                                 const std::string& resolved_event_id) const;
  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;  // as given (outbox/inbox helpers quote it themselves)
  std::string q_;       // quoted, for SQL text
  Settings settings_;
  const core::Clock& clock_;
};

}  // namespace lia::nps_gamification
