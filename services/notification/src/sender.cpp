#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/phone.hpp>
#include <lia/domain/template.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/notification/sender.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/runtime/events.hpp>

namespace lia::notification {
namespace {

using core::f::body;
using core::f::id;
using core::f::num;
using core::f::phone;
using core::f::str;
using Steady = std::chrono::steady_clock;

// The header kafka::DeadLetter puts on a dead letter: a command carrying it was replayed
// from notification.commands.v1.dlq and gets a fresh round of tries.
constexpr const char* kReplayHeader = "lia.dlq.origin.topic";
constexpr const char* kOriginPartitionHeader = "lia.dlq.origin.partition";
constexpr const char* kOriginOffsetHeader = "lia.dlq.origin.offset";
// Where lia-dlq-replay took a replayed record from: "<dlq topic>/<partition>/<offset>".
constexpr const char* kReplayedFromHeader = "lia.replayed_from";

core::Counter& sends(Provider p, std::string_view outcome) {
  return core::metrics().counter(
      "lia_notification_sends_total", "Send commands by provider and outcome",
      {{"provider", std::string(to_string(p))}, {"outcome", std::string(outcome)}});
}

void count_send(Provider p, std::string_view outcome) {
  sends(p, outcome).inc();
}

void count_attempt(Provider p, Verdict v, double seconds) {
  core::metrics()
      .counter("lia_notification_attempts_total", "Provider calls by provider and result",
               {{"provider", std::string(to_string(p))}, {"result", std::string(to_string(v))}})
      .inc();
  core::metrics()
      .histogram("lia_notification_provider_latency_seconds", "Provider send call latency",
                 {{"provider", std::string(to_string(p))}})
      .observe(seconds);
}

// One attempt per transaction inside with_db_retries, which sets the pace and the bound.
const pg::TxOptions kOneAttempt{.max_attempts = 1};

// Runs `fn` (a database step, its transaction of one attempt: kOneAttempt) again while it
// fails with a retryable error, for about 8 s in all (a try begun then is let finish): after
// the provider accepted a message, giving up here means a redelivery would send it again,
// and the stop's grace period (LIA_SHUTDOWN_GRACE_MS) must cover it. Retries inside each
// transaction would have multiplied it (5 attempts, each up to a connection's timeout).
template <class F>
core::Status with_db_retries(F&& fn) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds{8};
  std::chrono::milliseconds wait{50};
  for (;;) {
    auto st = fn();
    if (st.ok() || !st.error().retryable() || std::chrono::steady_clock::now() + wait >= give_up) {
      return st;
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds{2000});
  }
}

// Which failure a replayed command comes back from: the place of the record that failed, as
// its dead letter names it (lia.dlq.origin.*), the same for every copy of that dead letter
// (written twice by a stop before its ack, re-published by a replay that could not commit, or
// delivered again); else the replay tool's header; else (a record put back by other means)
// the replayed record's own place, which a redelivery repeats.
std::string replay_token(const kafka::Message& message) {
  const std::string* topic = message.header(kReplayHeader);
  const std::string* partition = message.header(kOriginPartitionHeader);
  const std::string* offset = message.header(kOriginOffsetHeader);
  if (topic != nullptr && partition != nullptr && offset != nullptr) {
    return fmt::format("{}/{}/{}", *topic, *partition, *offset);
  }
  if (const std::string* from = message.header(kReplayedFromHeader)) return *from;
  return fmt::format("{}/{}/{}", message.topic, message.partition, message.offset);
}

std::string chat_subject(const SendCommand& cmd) {
  return cmd.conversation_id.value_or("");
}

// A tick for a provider message id not known yet is waited for only when its event was made
// within this of now.
constexpr std::chrono::seconds kEarlyTickAge{60};

// Which service asked for the send, so that the others skip the outcome unread.
std::vector<std::pair<std::string, std::string>> outcome_headers(const SendCommand& cmd) {
  if (cmd.source.empty()) return {};
  return {{std::string(events::headers::command_source), cmd.source}};
}

// lia.notification.message.sent of `cmd`, for the outbox.
runtime::Outgoing sent_event(const std::string& topic, const SendCommand& cmd, int attempts,
                             std::string_view provider_message_id) {
  return {.topic = topic,
          .key = events::chat_key(cmd.instance, cmd.to),
          .type = std::string(events::types::notification_message_sent),
          .subject = chat_subject(cmd),
          .data = sent_data(cmd, attempts, provider_message_id),
          .headers = outcome_headers(cmd)};
}

// A rate slot booked for a try and not used by a request goes back on every way out (a
// database error, a stop, an expiry, a command found finished): a record retried through an
// outage would otherwise book one more each time, holding back that customer's later sends.
class BookedSlot {
 public:
  BookedSlot(RateLimiter& limiter, std::string key) : limiter_(limiter), key_(std::move(key)) {}
  BookedSlot(const BookedSlot&) = delete;
  BookedSlot& operator=(const BookedSlot&) = delete;
  ~BookedSlot() { give_back(); }
  void booked() { booked_ = true; }
  void used() { booked_ = false; }
  void give_back() {
    if (booked_) limiter_.release(key_, std::chrono::steady_clock::now());
    booked_ = false;
  }

 private:
  RateLimiter& limiter_;
  std::string key_;
  bool booked_ = false;
};

}  // namespace

SenderOptions SenderOptions::from(const Settings& s) {
  SenderOptions o;
  o.provider = {s.meta_graph_url, s.meta_access_token, s.evolution_url, s.evolution_apikey,
                s.http_timeout};
  o.max_attempts = s.max_attempts;
  o.backoff = s.backoff;
  o.backoff_max = s.backoff_max;
  o.events_topic = s.events_topic;
  if (s.echoes) o.echo_wait = kEchoWait;
  return o;
}

CommandHandler::CommandHandler(std::shared_ptr<OutboundStore> store,
                               std::shared_ptr<http::Client> client,
                               std::shared_ptr<RateLimiter> limiter,
                               std::shared_ptr<kafka::DeadLetter> dead_letter,
                               SenderOptions options, const core::Clock& clock)
    : store_(std::move(store)),
      client_(std::move(client)),
      limiter_(std::move(limiter)),
      dead_letter_(std::move(dead_letter)),
      options_(std::move(options)),
      clock_(clock) {
  // Every outcome exists from the start at 0: rate() and increase() see a pod's first failure
  // as an increase from 0 (the alert LiaSendsFailing) instead of a new series' first sample.
  for (const Provider p : {Provider::meta, Provider::evolution}) {
    for (const std::string_view outcome :
         {kSent, kFailed, kDeadLettered, std::string_view("expired"), std::string_view("duplicate"),
          std::string_view("unknown")}) {
      sends(p, outcome);
    }
  }
}

bool CommandHandler::expired(const SendCommand& cmd) const {
  return cmd.not_after && clock_.now() > *cmd.not_after;
}

core::Status CommandHandler::handle(const kafka::Message& message) {
  const auto& log = core::log();
  auto event = runtime::decode_event(message);
  if (!event) return event.error();
  auto parsed = parse_command(*event);
  if (!parsed) return parsed.error();
  const SendCommand& cmd = *parsed;
  log.debug("send command received",
            {id("command_id", cmd.command_id), id("event_id", cmd.event_id),
             id("type", std::string(to_string(cmd.kind))),
             id("provider", std::string(to_string(cmd.provider))), id("instance", cmd.instance),
             phone("to", cmd.to)});

  // The text to send: the command's own, or (Evolution has no server-side templates) the
  // template rendered from message_templates. A problem here fails the command for good.
  std::optional<std::string> body;
  std::optional<std::string> problem;
  if (cmd.kind == CommandKind::text) {
    body = cmd.text;
  } else if (cmd.provider == Provider::evolution) {
    auto tmpl = store_->find_template(cmd.tmpl.name, cmd.tmpl.language);
    if (!tmpl) return tmpl.error();
    if (!*tmpl) {
      problem = fmt::format("template '{}' ({}) is not in message_templates", cmd.tmpl.name,
                            cmd.tmpl.language);
    } else {
      auto text = domain::render_template(**tmpl, cmd.tmpl.parameters);
      if (text) {
        body = std::move(*text);
      } else {
        problem = fmt::format("template '{}' ({}): {}", cmd.tmpl.name, cmd.tmpl.language,
                              text.error().message());
      }
    }
  }
  http::ClientRequest request;
  if (!problem) {
    auto req = build_request(cmd, body, options_.provider);
    if (req) {
      request = std::move(*req);
    } else {
      problem = req.error().message();
    }
  }
  // The per-number rate, before the claim: a try is in flight only once its request is next.
  // A rebalance hands back a run of commands sent already: they hold back no real send.
  BookedSlot slot(*limiter_, rate_key(cmd));
  if (!problem) {
    slot.booked();
    if (!wait_for_rate(cmd, /*unless_finished=*/message.header(kReplayHeader) == nullptr)) {
      return stopping();
    }
  }

  // The idempotency point: a known command id is not sent again.
  const bool sending_now = !problem && !expired(cmd);
  const auto row_id = core::Uuid::v7().str();
  auto claim = store_->claim(cmd, body, sending_now, row_id);
  if (!claim) {
    // Its answer lost (the connection dropped as it committed, say): the redelivery here
    // finds the row in flight, and if it is this claim's, knows no request went.
    // (Only when nothing is remembered of it yet: what was is of a try that did go.)
    if (sending_now) {
      remember_unrecorded(cmd.command_id,
                          {1, "the claim's answer was lost; no request had gone", std::nullopt,
                           std::nullopt, row_id},
                          /*replace=*/false);
    }
    return claim.error();
  }
  // A command known already (a redelivery) sends nothing now: its slot goes back (a try it
  // resumes books its own before it goes).
  if (!claim->inserted) slot.give_back();
  int attempts = claim->attempts;
  bool counted = claim->inserted;  // the claim itself recorded try number 1
  std::optional<std::string> last_error = claim->last_error;
  if (!claim->inserted) {
    // What this process saw of the row's current try and could not write down, if anything.
    auto seen = take_unrecorded(cmd.command_id, claim->status == kSending ? attempts : -1);
    if (seen && seen->claim_row &&
        (*seen->claim_row != claim->row_id || claim->replayed_from.has_value())) {
      seen.reset();
    }
    if (claim->status == kSent) {
      count_send(cmd.provider, "duplicate");
      log.info("command already sent: not sending again", {id("command_id", cmd.command_id)});
      return core::ok();
    }
    if (claim->status == kFailed || claim->status == kDeadLettered) {
      if (message.header(kReplayHeader) == nullptr) {
        count_send(cmd.provider, "duplicate");
        log.info("command already finished without a send: nothing to do",
                 {id("command_id", cmd.command_id), id("status", claim->status)});
        return core::ok();
      }
      // One whose outcome stayed unknown is not sent again by its sender either (it may have
      // reached the customer): its replay, after someone checked, is the way it goes again.
      if (!cmd.replayable && claim->error_code != kCodeOutcomeUnknown) {
        count_send(cmd.provider, "duplicate");
        log.info("dead letter replayed: not sending, its sender sends it again itself",
                 {id("command_id", cmd.command_id), id("status", claim->status),
                  str("source", cmd.source)});
        return core::ok();
      }
      // Each failure is replayed once: the same replayed record delivered again (a restart
      // before its offset was committed), the same dead letter re-published (a replay that
      // could not commit) or a second copy of it reopens nothing.
      auto reopened = store_->reopen(cmd.command_id, replay_token(message));
      if (!reopened) return reopened.error();
      if (!*reopened) {
        count_send(cmd.provider, "duplicate");
        log.info("dead letter already replayed: not sending again",
                 {id("command_id", cmd.command_id), id("status", claim->status)});
        return core::ok();
      }
      attempts = 0;
      last_error.reset();
      log.info("dead letter replayed: sending again", {id("command_id", cmd.command_id)});
    } else if (claim->in_flight && seen && seen->sent) {
      // This process saw the provider take that try but could not write it down (the
      // database stopped answering): recorded now, with the provider's id.
      log.info("recording a send the provider accepted whose record had failed",
               {id("command_id", cmd.command_id), num("attempts", attempts)});
      return finish_sent(cmd, attempts, *seen->sent);
    } else if (claim->in_flight && seen) {
      // This process saw that try fail, or knows it never went (its claim's answer lost), but
      // could not write it down (the database stopped answering): written now, so that trouble from
      // here on leaves the command between two tries (resumed) rather than in flight with nothing
      // remembered (outcome unknown); then it resumes, as it would had the write worked.
      auto noted = store_->try_failed(cmd.command_id, attempts, seen->reason, seen->retry_at,
                                      seen->http_status);
      if (!noted) {
        remember_unrecorded(cmd.command_id, std::move(*seen));
        return noted.error();
      }
      if (!*noted) return core::ok();  // another handler carried it on meanwhile
      last_error = std::move(seen->reason);
      log.info("resuming a command whose last try's failure could not be recorded",
               {id("command_id", cmd.command_id), num("attempts", attempts),
                str("reason", last_error.value_or(""))});
      if (!wait_until(seen->retry_at)) return stopping();
    } else if (claim->in_flight) {
      // Stopped while a request was with the provider (a crash, a kill), or the provider's
      // answer could not be recorded: as with a request that timed out, it may have been
      // delivered, so it is not sent a second time by itself.
      return finish_failed(message, cmd, kFailed, attempts,
                           "outcome unknown: the handling of this command stopped while its "
                           "request was with the provider; it may have been delivered, so it is "
                           "not sent again (replay its dead letter to send it anyway)",
                           std::string(kCodeOutcomeUnknown), std::nullopt, /*dead_letter=*/true,
                           /*retryable=*/false);
    } else {
      log.info("resuming a command left between two tries",
               {id("command_id", cmd.command_id), num("attempts", attempts)});
      // What is left of the wait its last failure asked for (a Retry-After across a rolling
      // deploy): trying at once would meet the same answer and use up a try.
      if (!wait_until(claim->retry_at)) return stopping();
    }
  }

  if (problem) {
    return finish_failed(message, cmd, kFailed, attempts, *problem, std::nullopt, std::nullopt,
                         /*dead_letter=*/true, /*retryable=*/false);
  }
  // code "expired" (provider codes are numeric) lets the sender of the command tell an
  // expiry, to be sent again in a later window, from a refusal.
  const auto expire = [&] {
    return finish_failed(message, cmd, kFailed, attempts,
                         "expired: not_after " + core::format_rfc3339(*cmd.not_after) + " passed",
                         std::string(kCodeExpired), std::nullopt, /*dead_letter=*/false,
                         /*retryable=*/false);
  };
  if (expired(cmd)) return expire();

  for (;;) {
    if (!counted) {
      if (attempts >= options_.max_attempts) {
        // The last try was made before a restart and its outcome is unknown: no more.
        return finish_failed(message, cmd, kDeadLettered, attempts,
                             fmt::format("gave up after {} tries: {}", attempts,
                                         last_error.value_or("the last try was interrupted")),
                             std::nullopt, std::nullopt, true, true);
      }
      slot.booked();
      if (!wait_for_rate(cmd)) return stopping();
      if (expired(cmd)) return expire();
      auto n = store_->next_attempt(cmd.command_id, attempts);
      if (!n && n.error().code() == core::Errc::conflict && cmd.provider == Provider::evolution &&
          attempts > 0) {
        // Evolution's echo of the last try came while its error was on the way, and is kept
        // on the row: that try went, so there is no next one.
        auto went = finish_echoed(cmd, attempts);
        if (!went) return went.error();
        if (*went) return core::ok();
        n = store_->next_attempt(cmd.command_id, attempts);  // (an echo of another row's send)
      }
      if (!n) {
        if (n.error().code() != core::Errc::conflict) return n.error();
        // The other handler of a takeover (the partition's new owner, or its old one, still
        // running) counted the next try first. Leaving the command now would let the
        // partition's next one overtake it, and lose it should that handler stop before an
        // outcome. So this one follows that handler's tries: while one is in flight it waits
        // (a request's time), again for each try counted since; then it hands the record back
        // to be handled afresh from its row: finished (nothing to do), between two tries
        // (resumed), or in flight on the same try still (its handler gone: outcome unknown).
        int seen = -1;
        for (;;) {
          auto row = store_->progress(cmd.command_id);
          if (!row) return row.error();
          if (!*row || (*row)->status != kSending) {
            log.info("command no longer this handler's to send: finished by another handler",
                     {id("command_id", cmd.command_id), num("attempts", attempts)});
            return core::ok();
          }
          if (!(*row)->in_flight || (*row)->attempts == seen) break;
          if (seen < 0) {
            log.info("command's next try was counted by another handler; waiting for its outcome",
                     {id("command_id", cmd.command_id), num("attempts", (*row)->attempts)});
          }
          seen = (*row)->attempts;
          if (!pause_for(options_.provider.timeout + std::chrono::seconds{1})) return stopping();
        }
        return core::Error(core::Errc::unavailable,
                           "command " + cmd.command_id +
                               " had a try counted by another handler (a partition takeover); "
                               "handled again from its row");
      }
      attempts = *n;
    }
    counted = false;

    const auto started = Steady::now();
    bool request_sent = false;
    slot.used();
    auto response = client_->request(request, request_sent);
    const double seconds = std::chrono::duration<double>(Steady::now() - started).count();
    auto result = interpret(cmd.provider, response, clock_.now(), request_sent);
    count_attempt(cmd.provider, result.verdict, seconds);

    if (result.verdict == Verdict::sent) return finish_sent(cmd, attempts, result);
    if (cmd.provider == Provider::meta && result.code == kMetaPairRateError) {
      // This customer's next sends wait their turn instead of meeting the limit again.
      const auto now = Steady::now();
      limiter_->slow_down(rate_key(cmd), kMetaPairRateInterval, now, now + kMetaPairRateHold);
    }
    auto delay =
        backoff_delay(attempts, options_.backoff, options_.backoff_max, result.retry_after);
    // Evolution may answer an error for a message it sent (its own write failing after the
    // send): the next try, or the dead letter after the last, waits long enough for that
    // try's echo to show it went.
    const bool echo_may_come = cmd.provider == Provider::evolution &&
                               result.verdict == Verdict::retry && result.http_status &&
                               *result.http_status >= 500;
    if (echo_may_come) delay = std::max(delay, options_.echo_wait);
    if (result.code != kCodeOutcomeUnknown) {
      // This try failed for sure: noted before anything else, so that a stop from here on
      // resumes with what follows it (the next try, no sooner than the wait asked for; a
      // refusal asked again; the last try's failure dead-lettered) rather than reporting the
      // outcome unknown.
      bool still_sending = true;
      const auto retry_at = result.verdict == Verdict::retry
                                ? std::optional<core::SysTime>(clock_.now() + delay)
                                : std::nullopt;
      auto noted = with_db_retries([&]() -> core::Status {
        auto r = store_->try_failed(cmd.command_id, attempts, result.reason, retry_at,
                                    result.http_status);
        if (!r) return r.error();
        still_sending = *r;
        return core::ok();
      });
      if (!noted.ok()) {
        remember_unrecorded(cmd.command_id, {attempts, result.reason, retry_at, std::nullopt,
                                             std::nullopt, result.http_status});
        return noted;
      }
      if (!still_sending) return core::ok();  // finished elsewhere
    }
    if (result.verdict == Verdict::reject) {
      return finish_failed(message, cmd, kFailed, attempts, result.reason, result.code,
                           result.http_status, true, false);
    }
    last_error = result.reason;
    if (attempts >= options_.max_attempts) {
      if (echo_may_come && !pause_for(options_.echo_wait)) return stopping();
      return finish_failed(message, cmd, kDeadLettered, attempts,
                           fmt::format("gave up after {} tries: {}", attempts, result.reason),
                           result.code, result.http_status, true, true);
    }
    log.warn("send failed, retrying",
             {id("command_id", cmd.command_id), num("attempt", attempts),
              str("reason", result.reason), num("retry_in_ms", delay.count())});
    if (!pause_for(delay)) return stopping();
  }
}

void CommandHandler::remember_unrecorded(const std::string& command_id, Unrecorded seen,
                                         bool replace) {
  std::lock_guard lock(unrecorded_mu_);
  // Only a database outage fills it, and a redelivery empties it; a partition that moved to
  // another member meanwhile leaves its commands here, so it is bounded.
  if (unrecorded_.size() >= 10000) unrecorded_.clear();
  if (replace) {
    unrecorded_[command_id] = std::move(seen);
  } else {
    unrecorded_.try_emplace(command_id, std::move(seen));
  }
}

std::optional<CommandHandler::Unrecorded> CommandHandler::take_unrecorded(
    const std::string& command_id, int attempt) {
  std::lock_guard lock(unrecorded_mu_);
  auto it = unrecorded_.find(command_id);
  if (it == unrecorded_.end()) return std::nullopt;
  // Only for the very try it saw: an entry left from before the partition moved away and
  // came back (the row finished or replayed elsewhere, other tries made meanwhile) says
  // nothing of this one.
  auto seen = std::move(it->second);
  unrecorded_.erase(it);
  if (seen.attempt != attempt) return std::nullopt;
  return seen;
}

void CommandHandler::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

bool CommandHandler::wait_until(std::optional<core::SysTime> at) {
  if (!at) return true;
  // Capped, in case clocks disagree (the time may be another process's).
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*at - clock_.now());
  return left.count() <= 0 || pause_for(std::min(left, options_.backoff_max));
}

bool CommandHandler::pause_for(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, d, [&] { return stopping_; });
}

core::Error CommandHandler::stopping() {
  return core::Error(core::Errc::unavailable,
                     "notification is stopping: the command resumes with the next owner of its "
                     "partition",
                     true);
}

bool CommandHandler::wait_for_rate(const SendCommand& cmd, bool unless_finished) {
  const auto wait = limiter_->reserve(rate_key(cmd), Steady::now());
  if (wait.count() <= 0) return true;
  // (A lookup that fails just waits: the claim then says what the command is.)
  if (unless_finished) {
    if (auto row = store_->progress(cmd.command_id); row && *row && (*row)->status != kSending) {
      return true;  // the claim finds it known and gives the slot back
    }
  }
  core::metrics()
      .counter("lia_notification_rate_limited_total", "Sends delayed by the per-number rate")
      .inc();
  return pause_for(std::chrono::duration_cast<std::chrono::milliseconds>(wait) +
                   std::chrono::milliseconds{1});
}

core::Status CommandHandler::finish_sent(const SendCommand& cmd, int attempts,
                                         const SendResult& result) {
  bool recorded = false;
  auto st = with_db_retries([&]() -> core::Status {
    return pg::transact(
        store_->pool(),
        [&](pg::Tx& tx) -> core::Status {
          auto marked = store_->mark_sent(tx, cmd.command_id, attempts, result.provider_message_id,
                                          result.http_status.value_or(200));
          if (!marked) return marked.error();
          recorded = *marked;
          if (!recorded) return core::ok();
          auto ev = runtime::publish(
              tx, store_->schema(), options_.service,
              sent_event(options_.events_topic, cmd, attempts, result.provider_message_id));
          if (!ev) return ev.error();
          return core::ok();
        },
        kOneAttempt);
  });
  if (!st.ok()) {
    // Its redelivery here records it; in another process (this one gone, the partition
    // moved) it is reported unknown, never sent again.
    remember_unrecorded(cmd.command_id, {attempts, {}, std::nullopt, result});
    core::log().error(
        "the provider accepted the message but recording it failed; its redelivery records "
        "it (or, in another process, reports its outcome unknown instead of sending it again)",
        {id("command_id", cmd.command_id), str("error", st.error().describe())});
    return st;
  }
  if (!recorded) {
    // Ended by another handler meanwhile (the partition moved while the provider answered):
    // the provider took it, but the row says otherwise. For ops, with the id to look up.
    core::log().error(
        "the provider accepted a message whose command another handler had "
        "already ended; its row and events do not show this send",
        {id("command_id", cmd.command_id), num("attempts", attempts),
         body("provider_message_id", result.provider_message_id)});
    return core::ok();
  }
  count_send(cmd.provider, "sent");
  core::log().info(
      "message sent",
      {id("command_id", cmd.command_id), id("provider", std::string(to_string(cmd.provider))),
       // A Meta wamid is base64 that holds the customer's number: masked like a body.
       body("provider_message_id", result.provider_message_id), num("attempts", attempts)});
  return core::ok();
}

core::Result<std::optional<std::string>> CommandHandler::sent_by_echo(pg::Tx& tx,
                                                                      const SendCommand& cmd,
                                                                      int attempts) {
  auto by_echo = store_->sent_by_echo(tx, cmd.command_id, attempts);
  if (!by_echo || !*by_echo) return by_echo;
  auto ev = runtime::publish(tx, store_->schema(), options_.service,
                             sent_event(options_.events_topic, cmd, attempts, **by_echo));
  if (!ev) return ev.error();
  return by_echo;
}

core::Result<bool> CommandHandler::finish_echoed(const SendCommand& cmd, int attempts) {
  std::optional<std::string> echoed;
  auto st = with_db_retries([&]() -> core::Status {
    return pg::transact(
        store_->pool(),
        [&](pg::Tx& tx) -> core::Status {
          auto by_echo = sent_by_echo(tx, cmd, attempts);
          if (!by_echo) return by_echo.error();
          echoed = std::move(*by_echo);
          return core::ok();
        },
        kOneAttempt);
  });
  if (!st.ok()) return st.error();
  if (!echoed) return false;
  count_send(cmd.provider, "sent");
  core::log().info(
      "message sent: the provider answered an error, but its echo of that try came; no "
      "further try",
      {id("command_id", cmd.command_id), body("provider_message_id", *echoed),
       num("attempts", attempts)});
  return true;
}

core::Status CommandHandler::finish_failed(const kafka::Message& message, const SendCommand& cmd,
                                           std::string_view status, int attempts,
                                           const std::string& reason,
                                           const std::optional<std::string>& code,
                                           std::optional<int> http_status, bool dead_letter,
                                           bool retryable) {
  const int seen = attempts;         // the row's count as this handler last saw it
  attempts = std::max(attempts, 1);  // the events' minimum: an expiry counts as the try
  const std::string dlq_topic = dead_letter_->topic_for(message.topic);
  const std::string reported(core::utf8_prefix(reason, 2048));
  const bool exhausted = status == kDeadLettered;
  bool recorded = false;
  std::optional<std::string> echoed;  // the provider id an echo of the send gave it
  auto st = with_db_retries([&]() -> core::Status {
    return pg::transact(
        store_->pool(),
        [&](pg::Tx& tx) -> core::Status {
          echoed.reset();
          if (code == kCodeOutcomeUnknown || (cmd.provider == Provider::evolution && seen > 0)) {
            // No answer (or Evolution's error, which it may answer for a message it sent),
            // but the provider's echo of this very try came meanwhile: it went.
            auto by_echo = sent_by_echo(tx, cmd, seen);
            if (!by_echo) return by_echo.error();
            if (*by_echo) {
              echoed = std::move(*by_echo);
              return core::ok();
            }
          }
          auto marked = store_->mark_failed(tx, cmd.command_id, seen, status, attempts, reported,
                                            code, http_status);
          if (!marked) return marked.error();
          recorded = *marked;
          if (!recorded) return core::ok();
          if (dead_letter) {
            // The original record with the lia.dlq.* headers, committed with the outcome.
            const core::Error error(
                retryable ? core::Errc::unavailable : core::Errc::invalid_argument, reported,
                retryable);
            auto rec = dead_letter_->record_for(message, error, attempts);
            pg::OutboxMessage out{core::Uuid::v7().str(), rec.topic, rec.key, rec.value, {}};
            for (auto& h : rec.headers) out.headers.emplace_back(h.key, h.value);
            if (auto row = pg::enqueue(tx, store_->schema(), out); !row) return row.error();
          }
          runtime::Outgoing ev{.topic = options_.events_topic,
                               .key = events::chat_key(cmd.instance, cmd.to),
                               .subject = chat_subject(cmd),
                               .headers = outcome_headers(cmd)};
          if (exhausted) {
            ev.type = std::string(events::types::notification_message_dead_lettered);
            ev.data = dead_lettered_data(cmd, attempts, reported, dlq_topic);
          } else {
            ev.type = std::string(events::types::notification_message_failed);
            ev.data = failed_data(cmd, attempts, reported, code, http_status);
          }
          if (auto e = runtime::publish(tx, store_->schema(), options_.service, std::move(ev));
              !e) {
            return e.error();
          }
          return core::ok();
        },
        kOneAttempt);
  });
  if (!st.ok()) return st;
  if (echoed) {
    count_send(cmd.provider, "sent");
    core::log().info(code == kCodeOutcomeUnknown
                         ? "message sent: no answer came, but the provider's echo of it did"
                         : "message sent: the provider answered an error, but its echo of "
                           "that try came",
                     {id("command_id", cmd.command_id), body("provider_message_id", *echoed),
                      num("attempts", seen)});
    return core::ok();
  }
  if (!recorded) return core::ok();
  // "unknown": not sent again, it waits in the dead letters for someone to decide.
  count_send(cmd.provider, code == kCodeExpired          ? "expired"
                           : code == kCodeOutcomeUnknown ? "unknown"
                                                         : std::string(status));
  core::log().warn(exhausted ? "message dead-lettered" : "message failed",
                   {id("command_id", cmd.command_id),
                    id("provider", std::string(to_string(cmd.provider))), num("attempts", attempts),
                    str("reason", reported), id("dlq_topic", dead_letter ? dlq_topic : "")});
  return core::ok();
}

StatusHandler::StatusHandler(std::shared_ptr<OutboundStore> store, const SenderOptions& options)
    : store_(std::move(store)),
      events_topic_(options.events_topic),
      service_(options.service),
      early_tick_wait_(options.early_tick_wait) {}

namespace {
std::string record_key(const kafka::Message& m) {
  return fmt::format("{}/{}/{}", m.topic, m.partition, m.offset);
}

void count_tick(std::string_view outcome) {
  core::metrics()
      .counter("lia_notification_status_updates_total", "Delivery ticks by outcome",
               {{"outcome", std::string(outcome)}})
      .inc();
}

// A tick made about now: a backlog's old ticks are not waited for, and a clock far off either
// way gives up the wait rather than holding the partition.
bool made_about_now(const events::CloudEvent& event) {
  const auto made = core::parse_rfc3339(event.time);
  if (!made) return false;
  const auto age = core::SystemClock::instance().now() - *made;
  return age <= kEarlyTickAge && age >= -kEarlyTickAge;
}

// Whether one of this number's sends to `chat` may be with the provider now, its record not
// written yet. A send is in flight (committed) before its request leaves and becomes 'sent'
// with its provider id in one write, so a tick can only be about a send that is in flight or
// recorded. `exact`: only a send to the tick's own number counts (a chat that names no phone,
// or more sends in flight than are read, is then no reason to wait).
core::Result<bool> send_may_be_in_flight(OutboundStore& store, std::string_view provider,
                                         std::string_view instance, std::string_view chat,
                                         bool exact) {
  constexpr int kLimit = 1000;
  const auto tick_chat = recipient_digits(chat);
  if (exact && !tick_chat) return false;
  auto recipients = store.in_flight_recipients(provider, instance, kLimit);
  if (!recipients) return recipients.error();
  if (!exact && recipients->size() >= static_cast<std::size_t>(kLimit)) {
    return true;  // too many to tell
  }
  return std::any_of(recipients->begin(), recipients->end(), [&](const std::string& to) {
    const auto sent_to = recipient_digits(to);
    if (exact) return sent_to && *tick_chat == *sent_to;
    // A chat that names no phone, on either side, may be any of them.
    return !tick_chat || !sent_to || *tick_chat == *sent_to;
  });
}
}  // namespace

bool StatusHandler::wait_for_send(const kafka::Message& message) {
  // For at most early_tick_wait after this process first saw the tick.
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(early_mu_);
  if (early_.size() > 1000) early_.clear();  // records of partitions that moved elsewhere
  auto [it, first] = early_.try_emplace(record_key(message), now);
  if (first) count_tick("early");
  if (now - it->second < early_tick_wait_) return true;
  early_.erase(it);
  return false;
}

void StatusHandler::forget_early(const kafka::Message& message) {
  std::lock_guard lock(early_mu_);
  if (!early_.empty()) early_.erase(record_key(message));
}

core::Status StatusHandler::handle(const kafka::Message& message) {
  // Connection updates, and a type newer than this build (whose schema it may not know), are
  // skipped on the type header, before decoding.
  if (const std::string* type = message.header(events::headers::event_type);
      type != nullptr && *type != events::types::whatsapp_message_status) {
    return core::ok();
  }
  auto event = runtime::decode_event(message);
  if (!event) return event.error();
  if (event->type != events::types::whatsapp_message_status)
    return core::ok();  // connection updates
  auto doc = json::parse(event->data);
  if (!doc) return core::Error(core::Errc::invalid_argument, doc.error().message(), false);
  auto root = json::Obj::root(*doc);
  if (!root) return core::Error(core::Errc::invalid_argument, root.error().message(), false);
  auto provider = root->str("provider");
  auto instance = root->str("instance");
  auto chat = root->str("chat_id");
  auto provider_id = root->str("message_id");
  auto status_text = root->str("status");
  for (const auto* r : {&provider, &instance, &chat, &provider_id, &status_text}) {
    if (!r->ok()) return core::Error(core::Errc::invalid_argument, r->error().message(), false);
  }
  auto status = domain::parse_message_status(*status_text);
  if (!status) return core::Error(core::Errc::invalid_argument, status.error().message(), false);
  domain::MessageTick incoming{*status, {}};
  std::optional<std::string> code;
  if (auto err = root->opt_obj("error"); err.ok() && *err) {
    if (auto reason = (*err)->opt_str("reason"); reason.ok() && *reason) {
      incoming.error_reason = std::string(**reason);
    }
    if (auto c = (*err)->opt_str("code"); c.ok() && *c) code = std::string(**c);
  }
  bool not_in_flight = false;  // no send to this chat was with the provider: read once more
  for (int i = 0; i < 5; ++i) {
    auto found = store_->find_delivery(*provider, *instance, *provider_id);
    if (!found) return found.error();
    if (!*found) {
      // A tick may overtake the send's own record (the provider's webhook through ingestion
      // and Kafka, faster than this service's commit after the provider's answer): a fresh
      // ERROR, DELIVERY_ACK or READ is tried again for a few seconds while a send to its chat
      // is in flight. Else a failure's undelivered is lost, or a delivery: an ERROR after it
      // would then publish an undelivered for a message that arrived. One for a message this
      // service never sent (typed on the phone) finds none and is ignored at once. Deliveries
      // and reads come for nearly every message, those typed on the phone in groups too: they
      // wait only for a send to their own number, while a rare ERROR waits for any send that
      // could be its (a group's, an @lid's, or one of too many to read).
      if (incoming.status != domain::MessageStatus::pending &&
          incoming.status != domain::MessageStatus::server_ack && !not_in_flight &&
          made_about_now(*event)) {
        auto may_be =
            send_may_be_in_flight(*store_, *provider, *instance, *chat,
                                  /*exact=*/incoming.status != domain::MessageStatus::error);
        if (!may_be) return may_be.error();
        if (!*may_be) {
          not_in_flight = true;  // its send may have been recorded between the two reads
          continue;
        }
        if (wait_for_send(message)) {
          return core::Error(core::Errc::unavailable,
                             "a tick for a message not recorded as sent yet");
        }
      }
      count_tick("unknown");
      core::log().debug("status for a message this service did not send",
                        {body("provider_message_id", std::string(*provider_id))});
      return core::ok();
    }
    forget_early(message);
    const Delivery& d = **found;
    const auto next = domain::advance(d.tick, incoming);
    if (next == d.tick) {
      count_tick("unchanged");
      return core::ok();
    }
    if (next.status == domain::MessageStatus::error && d.sent) {
      // Accepted, then not delivered: the send's outcome after all. Reported with the tick,
      // once (a repeated ERROR tick changes nothing above); not dead-lettered, as sending it
      // again would meet the same refusal.
      bool applied = false;
      auto st = pg::transact(store_->pool(), [&](pg::Tx& tx) -> core::Status {
        applied = false;
        auto set = store_->set_delivery_failed(tx, d.command.command_id, d.tick, next, code);
        if (!set) return set.error();
        if (!*set) return core::ok();
        applied = true;
        const std::string reason =
            "not delivered: " + (next.error_reason.empty() ? std::string("the provider reported "
                                                                         "the message as failed")
                                                           : next.error_reason);
        auto ev = runtime::publish(
            tx, store_->schema(), service_,
            {.topic = events_topic_,
             .key = events::chat_key(d.command.instance, d.command.to),
             .type = std::string(events::types::notification_message_undelivered),
             .subject = chat_subject(d.command),
             .data = undelivered_data(d.command, d.attempts, *provider_id, reason, code),
             .headers = outcome_headers(d.command)});
        if (!ev) return ev.error();
        return core::ok();
      });
      if (!st.ok()) return st;
      if (!applied) continue;  // the tick changed meanwhile: read it again
      count_tick("undelivered");
      core::log().warn("message not delivered",
                       {id("command_id", d.command.command_id),
                        id("provider", std::string(to_string(d.command.provider))),
                        id("code", code.value_or("")), str("reason", next.error_reason)});
      return core::ok();
    }
    auto set = store_->set_delivery(d.command.command_id, d.tick, next);
    if (!set) return set.error();
    if (*set) {
      count_tick("applied");
      core::log().debug("delivery tick",
                        {id("command_id", d.command.command_id),
                         id("status", std::string(domain::to_string(next.status)))});
      return core::ok();
    }
  }
  return core::Error(core::Errc::unavailable, "delivery tick kept changing concurrently");
}

namespace {
core::Counter& echoes(std::string_view outcome) {
  return core::metrics().counter(
      "lia_notification_echoes_total",
      "Evolution's echoes of sends not recorded yet: kept for a send still waiting for its "
      "answer (noted), making a send of unknown outcome sent (settled), or one whose try "
      "Evolution answered with a 5xx (after_error)",
      {{"outcome", std::string(outcome)}});
}
}  // namespace

EchoHandler::EchoHandler(std::shared_ptr<OutboundStore> store, const SenderOptions& options)
    : store_(std::move(store)), events_topic_(options.events_topic), service_(options.service) {
  // All exist from the start at 0.
  for (const std::string_view outcome : {"noted", "settled", "after_error"}) echoes(outcome);
}

namespace {
// How far an echo's stamp may be from our clock when its send's try began (the provider's
// clock, stamped to the second).
constexpr std::chrono::milliseconds kEchoClockSkew{2000};
}  // namespace

core::Status EchoHandler::handle(const kafka::Message& message) {
  // Nearly every record is a customer's message: skipped unread. One this service cannot
  // read is left to conversation, which dead-letters it.
  if (message.value.find("via_api") == std::string::npos) return core::ok();
  auto event = runtime::decode_event(message);
  if (!event || event->type != events::types::whatsapp_message_received) return core::ok();
  auto doc = json::parse(event->data);
  if (!doc) return core::ok();
  auto root = json::Obj::root(*doc);
  if (!root) return core::ok();
  auto via_api = root->opt_boolean("via_api");
  auto provider = root->str("provider");
  auto instance = root->str("instance");
  auto chat = root->str("chat_id");
  auto provider_id = root->str("message_id");
  auto text = root->opt_str("text");
  if (!via_api || !*via_api || !**via_api || !provider || *provider != "evolution" || !instance ||
      !chat || !provider_id || !text || !*text || (*text)->empty()) {
    return core::ok();
  }
  const std::string echo_id(*provider_id);
  // When the message went, as the provider stamped it (the phone's clock, to the second).
  std::optional<std::int64_t> echo_ms;
  if (auto ts = root->opt_str("timestamp"); ts && *ts) {
    if (auto t = core::parse_rfc3339(**ts)) {
      echo_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
    }
  }
  std::optional<Unsettled> settled;
  bool noted = false;
  auto st = pg::transact(store_->pool(), [&](pg::Tx& tx) -> core::Status {
    settled.reset();
    noted = false;
    auto rows = store_->unsettled_sends(tx, std::string(*instance), domain::chat_spellings(*chat),
                                        std::string(**text), echo_id);
    if (!rows) return rows.error();
    // (All of this chat, however its sends spelled it, oldest first.) The one still with
    // the provider first (an echo comes within seconds of its send); else, of those whose
    // outcome stayed unknown, the last one tried before the echo's time (a send tried after
    // the message went is not what sent it), give or take the clocks' difference; else (a
    // stamp before all of them: a provider's clock far behind) the oldest. Two with the same
    // text in flight at once (a handler that lost its partition beside the new owner), or
    // two tried within that difference of the echo, can't be told apart: neither is given it.
    const Unsettled* pick = nullptr;
    const Unsettled* oldest_unknown = nullptr;
    const Unsettled* last_before = nullptr;
    int in_flight = 0;
    int near_echo = 0;              // unknown ones tried within the clocks' difference of the echo
    bool passed_in_flight = false;  // one in flight tried after the echo's time
    const auto skew = kEchoClockSkew.count();
    for (const auto& u : *rows) {
      if (u.status == kSending && u.in_flight) {
        // Its try began after the message went: not this try's echo, but another send's come
        // late (an older one that ended unknown, below), unless its try before was answered
        // 5xx (Evolution may answer one for a message it sent): that try's, late.
        if (echo_ms && u.last_attempt_ms > *echo_ms + skew &&
            !(u.http_status && *u.http_status >= 500)) {
          passed_in_flight = true;
          continue;
        }
        pick = &u;
        ++in_flight;
        continue;
      }
      // Ended unknown, or between two tries: its last try failed with an answer (Evolution
      // may answer an error for a message it sent), so its echo comes after that answer. The
      // latter only by the echo's time: never the oldest by default.
      const bool between = u.status == kSending;
      if (!between && !oldest_unknown) oldest_unknown = &u;
      if (!echo_ms || u.last_attempt_ms > *echo_ms + skew) continue;
      if (u.last_attempt_ms >= *echo_ms - skew) ++near_echo;
      if (last_before == nullptr || u.last_attempt_ms >= last_before->last_attempt_ms) {
        last_before = &u;
      }
    }
    if (in_flight > 1) return core::ok();
    if (!pick && near_echo > 1) return core::ok();
    // Never the oldest by default beside a send in flight that it might be of (a provider's
    // clock behind the database's by more than the allowance).
    if (!pick) pick = last_before;
    if (!pick && !passed_in_flight) pick = oldest_unknown;
    if (!pick) return core::ok();
    if (pick->status == kSending && pick->in_flight) {
      auto kept = store_->note_echo(tx, pick->command.command_id, pick->attempts, echo_id);
      if (!kept) return kept.error();
      noted = *kept;
      return core::ok();
    }
    auto attempts =
        pick->status == kSending
            ? store_->settle_between_tries(tx, pick->command.command_id, pick->attempts, echo_id)
            : store_->settle_by_echo(tx, pick->command.command_id, echo_id);
    if (!attempts) return attempts.error();
    if (!*attempts) return core::ok();
    auto ev = runtime::publish(tx, store_->schema(), service_,
                               sent_event(events_topic_, pick->command, **attempts, echo_id));
    if (!ev) return ev.error();
    settled = *pick;
    return core::ok();
  });
  if (!st.ok()) return st;
  if (noted) echoes("noted").inc();
  if (settled && settled->status == kSending) {
    // Between two tries: counted in lia_notification_sends_total by nobody else (its handler
    // finds the row finished).
    echoes("after_error").inc();
    count_send(Provider::evolution, "sent");
  } else if (settled) {
    // (Counted `unknown` in lia_notification_sends_total already: not `sent` as well.)
    echoes("settled").inc();
  }
  if (settled) {
    core::log().info(
        settled->status == kSending
            ? "message sent after all: the provider's echo of a try it answered "
              "with an error; no further try"
            : "message sent after all: the provider's echo of a send whose outcome "
              "was unknown",
        {id("command_id", settled->command.command_id), body("provider_message_id", echo_id)});
  }
  return core::ok();
}

}  // namespace lia::notification
