#pragma once
// The consumers of the notification service.
//
// CommandHandler (notification.commands.v1): sends each send_text / send_template command
// at most once per command_id through its provider, retrying 429/5xx/transport errors with
// backoff, and reports the outcome on notification.events.v1 through the outbox:
//
//   decode ── bad record: non-retryable error (the runtime dead-letters it)
//   wait     per-number rate limit
//   claim    one statement: INSERT ... 'sending', attempts 1, in flight ON CONFLICT
//            (command_id); known command: 'sent' / 'failed' / 'dead_lettered' -> nothing
//            to do; 'sending' between two tries (a restart in a backoff) -> the next try;
//            'sending' in flight (stopped mid-request) -> failed, outcome_unknown
//            not_after passed -> failed "expired" (no send)
//   POST     the provider; ok -> one transaction: row 'sent' + provider id + attempts,
//            lia.notification.message.sent
//            retryable -> the try noted failed (no longer in flight), backoff (Retry-After
//            honoured, capped), the next try counted and in flight
//            rejected (4xx) -> failed; tries exhausted -> dead_lettered
//   final    one transaction: row 'failed' / 'dead_lettered', the outcome event, and the
//            dead letter (the original record + lia.dlq.* headers from kafka::DeadLetter)
//            to notification.commands.v1.dlq through the outbox
//
// The handler then returns ok, so the partition moves on. Database trouble is returned as
// a retryable error (the consumer retries the record; the row remembers the tries).
//
// StatusHandler (whatsapp.status.v1): moves the delivery tick of the outbound row with that
// provider message id forward only (lia::domain::advance). A sent message's tick turning
// ERROR (the provider accepted it, then could not deliver it: Meta reports most recipient
// failures that way) publishes lia.notification.message.undelivered with the tick's code, in
// the transaction that moves the tick, so it is reported once.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/http/client.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/notification/provider.hpp>
#include <lia/notification/rate_limiter.hpp>
#include <lia/notification/settings.hpp>
#include <lia/notification/store.hpp>

namespace lia::notification {

// How long Evolution's echo of a send takes at most, in the usual case: its webhook, then
// ingestion and Kafka (the echo consumer fetches at least every 500 ms).
inline constexpr std::chrono::milliseconds kEchoWait{3000};

struct SenderOptions {
  ProviderConfig provider;
  int max_attempts = 4;
  std::chrono::milliseconds backoff{200};
  std::chrono::milliseconds backoff_max{10000};
  std::string events_topic = "notification.events.v1";
  std::string service = "notification";  // CloudEvents source /lia/<service>
  // How long an ERROR, DELIVERY_ACK or READ tick for a provider message id not recorded yet
  // is tried again (its send's commit may be just behind it), counted from when this process
  // first saw it.
  std::chrono::milliseconds early_tick_wait{10000};
  // The least wait before another try after Evolution answered a 5xx (it may have sent the
  // message all the same): time for that try's echo to come and show it went. kEchoWait when
  // echoes are read (LIA_NOTIFY_ECHOES), else none.
  std::chrono::milliseconds echo_wait{0};

  static SenderOptions from(const Settings& settings);
};

class CommandHandler {
 public:
  CommandHandler(std::shared_ptr<OutboundStore> store, std::shared_ptr<http::Client> client,
                 std::shared_ptr<RateLimiter> limiter,
                 std::shared_ptr<kafka::DeadLetter> dead_letter, SenderOptions options,
                 const core::Clock& clock = core::SystemClock::instance());

  core::Status handle(const kafka::Message& message);
  // Ends the handler's waits (the per-number rate, the backoff between tries) at once, now
  // and from then on: a command caught in one returns a retryable error, and the next owner
  // of its partition resumes it. A request already with the provider is not cut short.
  void stop();

 private:
  bool pause_for(std::chrono::milliseconds d);  // false: stopping
  // Pauses until `at` (at most backoff_max; nothing when empty or past). false: stopping.
  bool wait_until(std::optional<core::SysTime> at);
  // false: stopping. `unless_finished`: a command that would wait is looked up first, and
  // one finished already (a redelivery) does not wait (the claim gives its slot back).
  bool wait_for_rate(const SendCommand& cmd, bool unless_finished = false);
  static core::Error stopping();
  // A try whose outcome this process saw for sure and the database did not take: a failure
  // (`sent` empty: its redelivery here resumes the command), or the provider's acceptance
  // (its redelivery here records the send) instead of reporting the outcome unknown.
  // Or a claim whose answer did not come (`claim_row`): if it committed, its row carries that
  // id, has not been replayed since, and try 1 never went; a row of another id is another
  // handler's, whose try may be out, and one replayed since is another send's.
  struct Unrecorded {
    int attempt = 0;
    std::string reason;
    std::optional<core::SysTime> retry_at;  // a failure's: no next try before it
    std::optional<SendResult> sent;
    std::optional<std::string> claim_row;
    std::optional<int> http_status;  // a failure's answer (a 5xx keeps an echo: try_failed)
  };
  // `replace`: over what is remembered of the command already (false: only when nothing is).
  void remember_unrecorded(const std::string& command_id, Unrecorded seen, bool replace = true);
  // The entry of `command_id`, forgotten, if it is the one of try `attempt` (any other is
  // dropped: it says nothing of this try).
  std::optional<Unrecorded> take_unrecorded(const std::string& command_id, int attempt);
  core::Status finish_sent(const SendCommand& cmd, int attempts, const SendResult& result);
  // In `tx`: the row of try `attempts` made sent by the echo kept on it
  // (OutboundStore::sent_by_echo), with its `sent` event; the echo's provider id, or nullopt.
  core::Result<std::optional<std::string>> sent_by_echo(pg::Tx& tx, const SendCommand& cmd,
                                                        int attempts);
  // Try `attempts` failed, and Evolution's echo of it is kept on the row: recorded sent with
  // the echo's id (true); false when no echo of it came.
  core::Result<bool> finish_echoed(const SendCommand& cmd, int attempts);
  core::Status finish_failed(const kafka::Message& message, const SendCommand& cmd,
                             std::string_view status, int attempts, const std::string& reason,
                             const std::optional<std::string>& code, std::optional<int> http_status,
                             bool dead_letter, bool retryable);
  bool expired(const SendCommand& cmd) const;

  std::shared_ptr<OutboundStore> store_;
  std::shared_ptr<http::Client> client_;
  std::shared_ptr<RateLimiter> limiter_;
  std::shared_ptr<kafka::DeadLetter> dead_letter_;
  SenderOptions options_;
  const core::Clock& clock_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::mutex unrecorded_mu_;
  std::map<std::string, Unrecorded> unrecorded_;  // by command id
};

class StatusHandler {
 public:
  // options: the events topic and the service's name, for the failures ticks report.
  StatusHandler(std::shared_ptr<OutboundStore> store, const SenderOptions& options);
  core::Status handle(const kafka::Message& message);

 private:
  // Whether an ERROR tick whose message is not known yet, and whose chat a send is in flight
  // to, should be tried again.
  bool wait_for_send(const kafka::Message& message);
  void forget_early(const kafka::Message& message);

  std::shared_ptr<OutboundStore> store_;
  std::string events_topic_;
  std::string service_;
  std::chrono::milliseconds early_tick_wait_;
  std::mutex early_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> early_;  // record -> first seen
};

// EchoHandler (whatsapp.inbound.v1): Evolution echoes every send through its API
// (send.message, published by ingestion with `via_api`), with the message's provider id.
// An echo of a send whose answer never came settles it: a row still waiting for its answer
// keeps the id (a try that then times out is recorded 'sent' with it, not outcome_unknown),
// and a row ended outcome_unknown becomes 'sent' and publishes lia.notification.message.sent
// (consumers take a `sent` after a failure, as after a replayed dead letter). The echo is
// matched by instance, recipient and text; a send already recorded with that id, and every
// other inbound message, changes nothing.
class EchoHandler {
 public:
  EchoHandler(std::shared_ptr<OutboundStore> store, const SenderOptions& options);
  core::Status handle(const kafka::Message& message);

 private:
  std::shared_ptr<OutboundStore> store_;
  std::string events_topic_;
  std::string service_;
};

}  // namespace lia::notification
