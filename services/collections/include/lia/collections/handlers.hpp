#pragma once
// collections on notification.events.v1 (group lia-collections): the outcome of each
// campaign message, found by its command id in message_attempts (other services' commands
// match nothing and are acknowledged). In short (the README's "Consumes" has the whole
// table; `failure_of` in handlers.cpp classifies the codes):
//   sent, or failed with outcome_unknown   -> the target is contacted
//   failed: the number refused for good    -> the target failed, no further attempts
//   failed: the message's content          -> the attempt is used; the next at its time
//   failed: expired                        -> the attempt is given back, due again at once
//   failed or dead_lettered: the service's -> the attempt is given back (a few times past
//     trouble (no code, 5xx, credentials)     max_attempts), counted in the campaign's run
//                                             of failures, which pauses it at the limit
//   undelivered                            -> as a failed, after the sent
// The inbox claim comes first: a redelivered event changes nothing.

#include <chrono>
#include <memory>
#include <string>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>

namespace lia::collections {

class NotificationHandler {
 public:
  // pause_after_failures: LIA_COLLECTIONS_PAUSE_AFTER_FAILURES (Settings).
  NotificationHandler(std::shared_ptr<pg::Pool> pool, std::string schema,
                      const core::Clock& clock = core::SystemClock::instance(),
                      int pause_after_failures = 20);

  // The consumer's handler: bad records are non-retryable, database trouble retryable.
  core::Status handle(const kafka::Message& message) const;
  core::Status on_event(const events::CloudEvent& event) const;

 private:
  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string q_;
  const core::Clock& clock_;
  int pause_after_failures_;
};

// collections on conversation.events.v1 (the same group): a debtor who answers is no longer
// chased. lia.conversation.message.stored of a customer's inbound message -> each target of
// that chat (its campaign's provider and instance, the phone normalized as WhatsApp reports
// it) that was already sent a campaign message before this one arrived and is still
// pending or contacted becomes `responded`: no further attempts, the conversation's id kept.
// Every other event of the topic is acknowledged without decoding. The change is guarded by
// the status, so a redelivery changes nothing.
class ReplyHandler {
 public:
  ReplyHandler(std::shared_ptr<pg::Pool> pool, const std::string& schema,
               const core::Clock& clock = core::SystemClock::instance());

  // The consumer's handler: bad records are non-retryable, database trouble retryable.
  core::Status handle(const kafka::Message& message) const;
  core::Status on_event(const events::CloudEvent& event) const;

 private:
  std::shared_ptr<pg::Pool> pool_;
  std::string q_;
  const core::Clock& clock_;
};

// collections on ai.events.v1 (the same group): a payment promise a debtor makes to an
// assistant. lia.ai.tool.invoked of a successful register_payment_promise -> for each target
// of that chat (its campaign's provider and instance, the phone as WhatsApp reports it) that
// was sent a campaign message before the promise (the event's time) and is pending,
// contacted, responded or promised: unless its pending promise already says the same, a
// voice_promises row (due date: the promised date, or the next such day of the month in local
// time when the promise was made; amount: the promised one, else the debt), an earlier
// pending promise of the target `renegotiated`, the target `promised` with no further
// attempts. And an opt-out: lia.ai.tool.invoked of a successful register_opt_out -> the
// chat's phone kept in contact_opt_outs, and every target with that phone, in any campaign
// on any instance, that is pending, contacted or responded becomes `opted_out` (no further
// attempts; the scheduler also checks the list before it sends). Every other event of the
// topic is acknowledged without decoding. The inbox claim makes a redelivery change nothing.
class AiToolHandler {
 public:
  AiToolHandler(std::shared_ptr<pg::Pool> pool, std::string schema, std::chrono::minutes utc_offset,
                const core::Clock& clock = core::SystemClock::instance());

  core::Status handle(const kafka::Message& message) const;
  core::Status on_event(const events::CloudEvent& event) const;

 private:
  // The opt-out of the chat with `phone` (E.164 digits, as targets keep it).
  core::Status opt_out(const events::CloudEvent& event, const std::string& phone,
                       const std::string& conversation_id) const;

  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string q_;
  std::chrono::minutes utc_offset_;
  const core::Clock& clock_;
};

// The date a promise for `day` of the month means on `now` (local time at `utc_offset`):
// this month's when it is still to come (today included), else next month's; a day past the
// month's end is its last day. "YYYY-MM-DD".
std::string promised_due_date(int day, core::SysTime now, std::chrono::minutes utc_offset);

}  // namespace lia::collections
