#include "gateway.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <pthread.h>

#include <lia/auth/auth.hpp>
#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/runtime/events.hpp>

#include "inline_files.hpp"

namespace lia::ingestion {

namespace {

using SteadyClock = std::chrono::steady_clock;
using core::f::id;
using core::f::num;
using core::f::str;

// Why a whole webhook was not answered 200 (metric label values).
enum class WebhookReason { bad_signature, bad_apikey, bad_request, kafka_failed, ack_timeout };
// An Evolution body may carry a 133 MiB document inline: two minutes for it is about
// 9 Mbit/s. The other routes keep the server's 30 s.
constexpr std::chrono::milliseconds kEvolutionBodyTimeout{120'000};

constexpr std::array<std::string_view, 5> kWebhookReasons = {
    "bad_signature", "bad_apikey", "bad_request", "kafka_failed", "ack_timeout"};

std::size_t idx(Provider p) {
  return p == Provider::meta ? 0 : 1;
}
std::size_t idx(WebhookReason r) {
  return static_cast<std::size_t>(r);
}
std::size_t idx(ItemKind k) {
  return static_cast<std::size_t>(k);
}
std::size_t idx(RejectCode c) {
  return static_cast<std::size_t>(c);
}

constexpr std::array<std::string_view, 3> kTypes = {"lia.whatsapp.message.received",
                                                    "lia.whatsapp.message.status",
                                                    "lia.whatsapp.connection.updated"};

// {"accepted":N} plus, when there were any, "rejected" (left out, audited) and "ignored"
// (nothing of ours in them: presence, contacts, template updates...), so a webhook set up for
// the wrong events shows in its answers, not only in a debug log.
std::string accepted_body(std::size_t accepted, std::size_t rejected, std::size_t ignored) {
  std::string body = R"({"accepted":)" + std::to_string(accepted);
  if (rejected > 0) body += R"(,"rejected":)" + std::to_string(rejected);
  if (ignored > 0) body += R"(,"ignored":)" + std::to_string(ignored);
  body += '}';
  return body;
}

// Warnings that can repeat on every request (Kafka down) are written once per 10 s.
bool warn_now(std::atomic<std::int64_t>& last_ms) {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch())
          .count();
  auto prev = last_ms.load(std::memory_order_relaxed);
  if (now - prev < 10'000) return false;
  return last_ms.compare_exchange_strong(prev, now);
}

}  // namespace

struct Gateway::Shared {
  std::shared_ptr<AuditSink> audit;
  bool audit_acked = true;  // a processed row per acknowledged event
  std::chrono::milliseconds ack_timeout{0};
  const core::Clock* clock = nullptr;

  struct PerProvider {
    core::Counter* received = nullptr;
    core::Counter* accepted = nullptr;
    core::Counter* ignored = nullptr;
    std::array<core::Counter*, kWebhookReasons.size()> rejected{};
    std::array<core::Counter*, kRejectCodes> items_rejected{};
  };
  std::array<PerProvider, 2> providers;
  std::array<core::Counter*, kTypes.size()> published{};
  core::Histogram* ack_latency = nullptr;
  core::Counter* verified = nullptr;
  core::Counter* verify_refused = nullptr;
  mutable std::atomic<std::int64_t> last_warn_ms{0};
  std::int64_t rejected_rows_per_s = 0;
  core::Counter* rejected_unrecorded = nullptr;
  mutable std::atomic<std::int64_t> rejected_second{-1};  // the second counted, since the epoch
  mutable std::atomic<std::int64_t> rejected_in_second{0};

  // Whether this rejected request's row is within the second's allowance (a fixed window: two
  // threads crossing into a new second may let a row or two more through).
  bool rejected_row_allowed() const {
    const auto second =
        std::chrono::duration_cast<std::chrono::seconds>(clock->now().time_since_epoch()).count();
    auto seen = rejected_second.load();
    if (seen != second && rejected_second.compare_exchange_strong(seen, second)) {
      rejected_in_second.store(0);
    }
    return rejected_in_second.fetch_add(1) < rejected_rows_per_s;
  }

  void audit_row(AuditRow row) const {
    if (audit) audit->record(std::move(row));
  }

  // Evolution instances already named in a warning that their from_me messages need
  // LIA_EVOLUTION_INSTANCE_NUMBERS: once per instance and process (at most kWarnedMax).
  static constexpr std::size_t kWarnedMax = 1000;
  mutable std::mutex warned_mu;
  mutable std::set<std::string, std::less<>> warned;
  bool first_warning_for(std::string_view instance) const {
    std::lock_guard lock(warned_mu);
    if (warned.size() >= kWarnedMax || warned.contains(instance)) return false;
    warned.emplace(instance);
    return true;
  }
};

namespace {

// One POST waiting for its acks.
struct Pending {
  std::shared_ptr<const Gateway::Shared> shared;
  http::Responder respond;
  Provider provider;
  std::string provider_event;
  std::vector<Item> items;  // their data went to the records; kept for the audit
  std::size_t rejected = 0;
  std::size_t ignored = 0;
  std::string received_at;  // RFC 3339, when the request was handled
  SteadyClock::time_point started;
  std::atomic<std::size_t> remaining{0};
  std::atomic<bool> done{false};

  Pending(std::shared_ptr<const Gateway::Shared> s, http::Responder r, Provider p)
      : shared(std::move(s)), respond(std::move(r)), provider(p), started(SteadyClock::now()) {}

  void on_ack(const kafka::DeliveryResult& result, std::size_t index) {
    const Item& item = items[index];
    if (result.ok()) {
      shared->published[idx(item.kind)]->inc();
      if (shared->audit && shared->audit_acked) audit_processed(item, *result);
    } else if (!done.exchange(true)) {
      fail(WebhookReason::kafka_failed,
           fmt::format("Kafka did not acknowledge the events ({}); retry later",
                       result.error().describe()));
    }
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1 && !done.exchange(true)) {
      const auto& pp = shared->providers[idx(provider)];
      pp.accepted->inc();
      shared->ack_latency->observe(
          std::chrono::duration<double>(SteadyClock::now() - started).count());
      respond(http::Response::json(200, accepted_body(items.size(), rejected, ignored)));
    }
  }

  void on_timeout() {
    if (done.exchange(true)) return;
    fail(WebhookReason::ack_timeout,
         fmt::format("Kafka did not acknowledge the events within {} ms; retry later",
                     shared->ack_timeout.count()));
  }

  void audit_processed(const Item& item, const kafka::Delivery& d) const {
    AuditRow row;
    row.id = item.event_id;
    row.provider = to_string(provider);
    row.event_kind = item.type;
    row.provider_event = provider_event;
    row.instance = item.instance;
    row.provider_message_id = item.provider_message_id;
    row.detail = item.detail;
    row.status = "processed";
    row.topic = d.topic;
    row.partition = d.partition;
    row.offset = d.offset;
    row.received_at = received_at;
    shared->audit->record(std::move(row));
  }

  // Called once, by whoever set `done`.
  void fail(WebhookReason reason, const std::string& message) {
    const auto& pp = shared->providers[idx(provider)];
    pp.rejected[idx(reason)]->inc();
    shared->ack_latency->observe(
        std::chrono::duration<double>(SteadyClock::now() - started).count());
    if (warn_now(shared->last_warn_ms)) {
      core::log().warn(
          "webhook answered 503",
          {id("provider", std::string(to_string(provider))),
           id("reason", std::string(kWebhookReasons[idx(reason)])), str("error", message)});
    }
    if (shared->audit) {
      for (const auto& item : items) {
        AuditRow row;
        row.id = item.event_id;
        row.provider = to_string(provider);
        row.event_kind = item.type;
        row.provider_event = provider_event;
        row.instance = item.instance;
        row.provider_message_id = item.provider_message_id;
        row.detail = item.detail;
        row.status = "failed";
        row.reason = message;
        row.http_status = 503;
        row.received_at = received_at;
        shared->audit->record(std::move(row));
      }
    }
    respond(http::json_error(503, "unavailable", message));
  }
};

}  // namespace

// Answers the requests whose acks are late. Every request gets the same timeout, so the
// queue is in deadline order and the thread only ever looks at its front.
class Gateway::Deadlines {
 public:
  Deadlines() : thread_([this] { run(); }) {}
  ~Deadlines() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  void add(SteadyClock::time_point at, std::weak_ptr<Pending> pending) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      wake = queue_.empty();
      queue_.emplace_back(at, std::move(pending));
    }
    if (wake) cv_.notify_one();
  }

 private:
  // Wakes at most every kTick and answers everything due by then, so a busy server doesn't
  // pay a thread wake-up per request; a timeout may fire up to kTick late.
  static constexpr auto kTick = std::chrono::milliseconds{10};

  void run() {
    pthread_setname_np(pthread_self(), "ack-deadlines");
    std::vector<std::weak_ptr<Pending>> due;
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const auto at = queue_.front().first;
      const auto now = SteadyClock::now();
      if (now < at) {
        cv_.wait_until(lock, at + kTick);
        continue;
      }
      while (!queue_.empty() && queue_.front().first <= now) {
        due.push_back(std::move(queue_.front().second));
        queue_.pop_front();
      }
      lock.unlock();
      for (auto& weak : due) {
        if (auto p = weak.lock()) p->on_timeout();
      }
      due.clear();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<SteadyClock::time_point, std::weak_ptr<Pending>>> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

Gateway::Gateway(GatewayConfig config, std::shared_ptr<kafka::Producer> producer,
                 std::shared_ptr<AuditSink> audit, const core::Clock& clock)
    : config_(std::move(config)),
      producer_(std::move(producer)),
      clock_(clock),
      shared_(std::make_shared<Shared>()),
      deadlines_(std::make_unique<Deadlines>()),
      source_(events::source_for(config_.service)) {
  shared_->audit = std::move(audit);
  shared_->audit_acked = config_.audit_acked;
  shared_->ack_timeout = config_.ack_timeout;
  shared_->clock = &clock_;
  shared_->rejected_rows_per_s = config_.rejected_rows_per_s;
  auto& reg = core::metrics();
  shared_->rejected_unrecorded =
      &reg.counter("lia_ingestion_audit_rejections_unrecorded_total",
                   "Rejected webhooks past LIA_INGESTION_AUDIT_REJECTED_PER_S: counted, no row");
  for (Provider p : {Provider::meta, Provider::evolution}) {
    const std::string name(to_string(p));
    auto& pp = shared_->providers[idx(p)];
    pp.received = &reg.counter("lia_ingestion_webhooks_received_total", "Webhook POSTs received",
                               {{"provider", name}});
    pp.accepted = &reg.counter("lia_ingestion_webhooks_accepted_total",
                               "Webhooks answered 200 (every event acknowledged by Kafka)",
                               {{"provider", name}});
    pp.ignored = &reg.counter(
        "lia_ingestion_events_ignored_total",
        "Items of accepted webhooks with nothing to publish (presence, contacts, template "
        "updates, our own read receipts, ...)",
        {{"provider", name}});
    for (std::size_t r = 0; r < kWebhookReasons.size(); ++r) {
      pp.rejected[r] = &reg.counter(
          "lia_ingestion_webhooks_rejected_total", "Webhooks not answered 200, by reason",
          {{"provider", name}, {"reason", std::string(kWebhookReasons[r])}});
    }
    for (std::size_t c = 0; c < kRejectCodes; ++c) {
      pp.items_rejected[c] = &reg.counter(
          "lia_ingestion_events_rejected_total",
          "Messages and statuses of accepted webhooks left out, by reason",
          {{"provider", name}, {"reason", std::string(to_string(static_cast<RejectCode>(c)))}});
    }
  }
  for (std::size_t t = 0; t < kTypes.size(); ++t) {
    shared_->published[t] =
        &reg.counter("lia_ingestion_events_published_total",
                     "Events acknowledged by Kafka, by type", {{"type", std::string(kTypes[t])}});
  }
  shared_->ack_latency = &reg.histogram(
      "lia_ingestion_ack_duration_seconds",
      "From producing a webhook's events to the last ack (or the failure / timeout)");
  shared_->verified = &reg.counter("lia_ingestion_meta_verifications_total",
                                   "Meta subscription handshakes", {{"outcome", "ok"}});
  shared_->verify_refused = &reg.counter("lia_ingestion_meta_verifications_total",
                                         "Meta subscription handshakes", {{"outcome", "refused"}});
}

Gateway::~Gateway() = default;

void Gateway::add_routes(http::Router& router) {
  // Each provider's bodies on a budget of their own: a body is unauthenticated until read whole
  // (Meta's signature covers it; Evolution's apikey may be in it), and slow uploads to one
  // provider's routes must not leave the other's webhooks 503s.
  auto meta_budget = std::make_shared<http::BodyBudget>(kMetaBodyBudget);
  auto evolution_budget =
      std::make_shared<http::BodyBudget>(evolution_body_budget(config_.evolution_body_limit));
  router.add("GET", "/webhooks/meta", [this](const http::Request& r) { return verify(r); });
  router.add(
      "POST", "/webhooks/meta",
      [this](http::Request&& r, http::Responder respond) {
        meta(std::move(r), std::move(respond));
      },
      http::RouteOptions{.body_budget = meta_budget});
  core::Counter* dropped = &core::metrics().counter(
      "lia_ingestion_inline_file_bytes_dropped_total",
      "Bytes of files inlined in Evolution's webhooks (base64), left out as they arrived");
  const http::RouteOptions evolution_options{
      .body_limit = config_.evolution_body_limit,
      .body_filter = [dropped] { return std::make_unique<InlineFileFilter>(dropped); },
      .wire_limit = std::max(config_.evolution_wire_limit, config_.evolution_body_limit),
      .body_timeout = kEvolutionBodyTimeout,
      .body_budget = evolution_budget};
  router.add(
      "POST", "/webhooks/evolution",
      [this](http::Request&& r, http::Responder respond) {
        evolution(std::move(r), std::move(respond));
      },
      evolution_options);
  router.add(
      "POST", "/webhooks/evolution/{event}",
      [this](http::Request&& r, http::Responder respond) {
        evolution(std::move(r), std::move(respond));
      },
      evolution_options);
}

http::Response Gateway::verify(const http::Request& request) const {
  const std::string* mode = request.query_param("hub.mode");
  const std::string* token = request.query_param("hub.verify_token");
  const std::string* challenge = request.query_param("hub.challenge");
  if (mode == nullptr || *mode != "subscribe" || token == nullptr ||
      !auth::constant_time_equal(*token, config_.meta_verify_token)) {
    shared_->verify_refused->inc();
    return http::json_error(403, "forbidden",
                            "hub.mode must be 'subscribe' and hub.verify_token must match");
  }
  if (challenge == nullptr || challenge->empty()) {
    shared_->verify_refused->inc();
    return http::json_error(400, "bad_request", "hub.challenge is missing");
  }
  shared_->verified->inc();
  return http::Response::text(200, *challenge);
}

void Gateway::reject(Provider provider, int status, std::string_view code, std::string_view reason,
                     std::string_view message, std::string_view provider_event,
                     const std::string& body, const http::Responder& respond) const {
  auto& pp = shared_->providers[idx(provider)];
  for (std::size_t r = 0; r < kWebhookReasons.size(); ++r) {
    if (kWebhookReasons[r] == reason) pp.rejected[r]->inc();
  }
  if (core::log().enabled(core::Level::debug)) {
    core::log().debug("webhook rejected",
                      {id("provider", std::string(to_string(provider))), num("status", status),
                       id("reason", std::string(reason)), str("error", std::string(message))});
  }
  if (shared_->audit && !shared_->rejected_row_allowed()) {
    shared_->rejected_unrecorded->inc();
  } else if (shared_->audit) {
    AuditRow row;
    row.id = core::Uuid::v7(clock_).str();
    row.provider = to_string(provider);
    row.event_kind = "webhook";
    row.provider_event = provider_event;
    row.status = "rejected";
    row.reason = fmt::format("{}: {}", reason, message);
    row.http_status = status;
    row.body_sha256 = auth::to_hex(auth::sha256(body));
    row.body_bytes = static_cast<std::int64_t>(body.size());
    row.received_at = core::format_rfc3339(clock_.now());
    shared_->audit->record(std::move(row));
  }
  respond(http::json_error(status, code, message));
}

void Gateway::audit_rejections(const Batch& batch) const {
  if (batch.rejected.empty()) return;
  auto& pp = shared_->providers[idx(batch.provider)];
  const std::string now = core::format_rfc3339(clock_.now());
  for (const auto& r : batch.rejected) {
    pp.items_rejected[idx(r.code)]->inc();
    if (r.needs_own_number && shared_->first_warning_for(r.instance)) {
      // Otherwise only a counter and audit rows say why every message sent from it is left out.
      core::log().warn(
          "an Evolution instance sends webhooks without `sender` (over the Cloud API?): its "
          "from_me messages (echoes of our sends, messages written in the app) are rejected "
          "until LIA_EVOLUTION_INSTANCE_NUMBERS names its number",
          {str("instance", r.instance)});  // masked: it may be named after its number
    }
    if (core::log().enabled(core::Level::debug)) {
      core::log().debug("webhook item rejected",
                        {id("provider", std::string(to_string(batch.provider))),
                         id("reason", std::string(to_string(r.code))), str("error", r.reason)});
    }
    if (!shared_->audit) continue;
    AuditRow row;
    row.id = core::Uuid::v7(clock_).str();
    row.provider = to_string(batch.provider);
    row.event_kind = kTypes[idx(r.kind)];
    row.provider_event = batch.event;
    row.instance = r.instance;
    row.provider_message_id = r.provider_message_id;
    row.detail = to_string(r.code);
    row.status = "rejected";
    row.reason = r.reason;
    row.received_at = now;
    shared_->audit->record(std::move(row));
  }
}

void Gateway::meta(http::Request&& request, http::Responder respond) {
  shared_->providers[idx(Provider::meta)].received->inc();
  const std::string* signature = request.header("X-Hub-Signature-256");
  if (signature == nullptr) {
    return reject(Provider::meta, 401, "unauthorized", "bad_signature",
                  "the X-Hub-Signature-256 header is missing", "messages", request.body, respond);
  }
  if (!auth::verify_meta_signature(*signature, config_.meta_app_secret, request.body)) {
    return reject(Provider::meta, 401, "unauthorized", "bad_signature",
                  "X-Hub-Signature-256 does not match the body", "messages", request.body, respond);
  }
  auto batch = normalize_meta(request.body, clock_);
  if (!batch) {
    return reject(Provider::meta, 400, "bad_request", "bad_request", batch.error().message(),
                  "messages", request.body, respond);
  }
  publish(std::move(*batch), std::move(respond));
}

void Gateway::evolution(http::Request&& request, http::Responder respond) {
  shared_->providers[idx(Provider::evolution)].received->inc();
  const std::string* header_key = request.header("apikey");
  const std::string* path_event = request.param("event");
  const std::string event = path_event != nullptr ? canonical_evolution_event(*path_event) : "";
  if (header_key != nullptr && !auth::constant_time_equal(*header_key, config_.evolution_apikey)) {
    return reject(Provider::evolution, 401, "unauthorized", "bad_apikey",
                  "the apikey header does not match", event, request.body, respond);
  }
  if (header_key == nullptr) {
    // No header: the body's apikey field must authenticate the request before anything in it
    // is parsed into a document or believed (a body we can't read can't authenticate itself),
    // so an unauthenticated 24 MiB body costs one pass that builds nothing.
    const auto body_key = evolution_body_apikey(request.body);
    if (!body_key) {
      return reject(Provider::evolution, 401, "unauthorized", "bad_apikey",
                    "no apikey header and no apikey field in the body", event, request.body,
                    respond);
    }
    if (!auth::constant_time_equal(*body_key, config_.evolution_apikey)) {
      return reject(Provider::evolution, 401, "unauthorized", "bad_apikey",
                    "the body's apikey does not match", event, request.body, respond);
    }
  }
  auto batch = normalize_evolution(request.body, event, clock_, config_.evolution_numbers);
  if (!batch) {
    return reject(Provider::evolution, 400, "bad_request", "bad_request", batch.error().message(),
                  event, request.body, respond);
  }
  publish(std::move(*batch), std::move(respond));
}

// The record runtime::make_record would build, without validating the data again: the
// CloudEvent envelope (source /lia/<service>, dataschema v1, subject = the record key) and
// the headers lia.event_id and lia.event_type.
kafka::Record Gateway::to_record(Item& item, const std::string& topic,
                                 const std::string& time) const {
  events::CloudEvent ev;
  if (item.event_id.empty()) item.event_id = core::Uuid::v7(clock_).str();
  ev.id = item.event_id;
  ev.source = source_;
  ev.type = item.type;
  ev.time = time;
  ev.subject = item.key;
  ev.dataschema = events::schema_uri(item.type, 1);
  ev.data = std::move(item.data);
  kafka::Record r;
  r.topic = topic;
  r.key = item.key;
  r.value = events::encode(ev);
  r.headers.reserve(2);
  r.headers.push_back({"lia.event_id", std::move(ev.id)});
  r.headers.push_back({"lia.event_type", std::move(ev.type)});
  return r;
}

void Gateway::publish(Batch batch, http::Responder respond) {
  const auto& pp = shared_->providers[idx(batch.provider)];
  audit_rejections(batch);
  std::size_t rejected = batch.rejected.size();

  const std::string now = core::format_rfc3339(clock_.now());
  std::vector<kafka::Record> records;
  records.reserve(batch.items.size());
  std::vector<Item> kept;
  kept.reserve(batch.items.size());
  for (auto& item : batch.items) {
    const std::string& topic =
        item.kind == ItemKind::message ? config_.inbound_topic : config_.status_topic;
    if (!config_.validate_events) {
      records.push_back(to_record(item, topic, now));
      kept.push_back(std::move(item));
      continue;
    }
    runtime::Outgoing out;
    out.topic = topic;
    out.key = item.key;
    out.type = item.type;
    out.subject = item.key;
    out.data = std::move(item.data);
    out.id = item.event_id;
    auto record = runtime::make_record(config_.service, std::move(out), clock_);
    if (!record) {
      // The provider sent something our schema can't hold.
      Batch one;
      one.provider = batch.provider;
      one.event = batch.event;
      one.rejected.push_back({item.kind, RejectCode::invalid_event, record.error().message(),
                              item.instance, item.provider_message_id});
      audit_rejections(one);
      ++rejected;
      continue;
    }
    if (item.event_id.empty()) {
      for (const auto& h : record->headers) {
        if (h.key == "lia.event_id") item.event_id = h.value;
      }
    }
    records.push_back(std::move(*record));
    kept.push_back(std::move(item));
  }
  if (core::log().enabled(core::Level::debug)) {
    core::log().debug(
        "webhook normalized",
        {id("provider", std::string(to_string(batch.provider))), id("event", batch.event),
         num("events", static_cast<std::int64_t>(kept.size())),
         num("rejected", static_cast<std::int64_t>(rejected)),
         num("ignored", static_cast<std::int64_t>(batch.ignored))});
  }
  if (batch.ignored > 0) pp.ignored->inc(static_cast<double>(batch.ignored));
  if (records.empty()) {
    pp.accepted->inc();
    respond(http::Response::json(200, accepted_body(0, rejected, batch.ignored)));
    return;
  }

  // A separate allocation (not make_shared): the deadline queue's weak_ptr must not keep
  // the request's memory alive until its deadline.
  std::shared_ptr<Pending> pending(new Pending(shared_, std::move(respond), batch.provider));
  pending->provider_event = std::move(batch.event);
  pending->items = std::move(kept);
  pending->rejected = rejected;
  pending->ignored = batch.ignored;
  pending->received_at = now;
  pending->remaining.store(records.size(), std::memory_order_release);
  deadlines_->add(pending->started + config_.ack_timeout, pending);
  for (std::size_t i = 0; i < records.size(); ++i) {
    producer_->produce(std::move(records[i]),
                       [pending, i](const kafka::DeliveryResult& r) { pending->on_ack(r, i); });
  }
}

}  // namespace lia::ingestion
