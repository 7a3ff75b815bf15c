// The idempotent acks=all producer. One delivery thread polls librdkafka so that callbacks
// fire without the caller polling; every record carries its own callback as the message
// opaque. Records rejected before they reach librdkafka's queue get their callback on the
// same thread, so `done` always runs there, exactly once.

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/kafka/kafka.hpp>

#include "rd_util.hpp"

namespace lia::kafka {

std::future<DeliveryResult> Producer::produce(Record record) {
  auto promise = std::make_shared<std::promise<DeliveryResult>>();
  auto future = promise->get_future();
  produce(std::move(record), [promise](DeliveryResult r) { promise->set_value(std::move(r)); });
  return future;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kWho = "kafka producer";

// Per-record state, the librdkafka message opaque.
struct Pending {
  DeliveryCallback done;
  std::string topic;
  Clock::time_point queued_at;
};

struct TopicMetrics {
  core::Counter* produced;
  core::Counter* failed;
  core::Histogram* latency;
};

class RdProducer final : public Producer {
 public:
  explicit RdProducer(const ProducerConfig& config) : config_(config) {}
  ~RdProducer() override;

  using Producer::produce;
  core::Status init();
  void produce(Record record, DeliveryCallback done) override;
  core::Status flush(std::chrono::milliseconds timeout) override;
  void abandon() override {
    // Without waiting for the broker threads (one may be stuck resolving a name): the flush
    // that follows still waits for the purged records' callbacks, within its own bound.
    rd_kafka_purge(
        rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
  }
  std::size_t in_flight() const override { return in_flight_.load(); }
  std::optional<core::Error> fatal_error() const override;
  core::Status ping(std::chrono::milliseconds timeout) override;

 private:
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void run();
  void complete(Pending* p, DeliveryResult result);
  void reject(Pending* p, core::Error error);
  void drain_rejected();
  bool on_delivery_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  TopicMetrics& metrics_for(const std::string& topic);

  ProducerConfig config_;
  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> in_flight_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a record completed
  std::deque<std::pair<Pending*, core::Error>> rejected_;

  std::map<std::string, TopicMetrics> metrics_;      // delivery thread only
  std::map<int, Clock::time_point> last_error_log_;  // error callback (librdkafka's thread)
};

core::Status RdProducer::init() {
  if (config_.bootstrap.empty()) {
    return core::Error(core::Errc::invalid_argument, "kafka producer: bootstrap is empty");
  }
  for (const auto& [name, value] : config_.properties) {
    if (name == "enable.idempotence" || name == "acks" || name == "request.required.acks") {
      return core::Error(core::Errc::invalid_argument,
                         fmt::format("kafka producer: property '{}' is fixed by lia::kafka "
                                     "(enable.idempotence=true, acks=all)",
                                     name));
    }
  }
  detail::ConfPtr conf(rd_kafka_conf_new());
  const std::vector<std::pair<std::string, std::string>> base = {
      {"bootstrap.servers", config_.bootstrap},
      {"client.id", config_.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", std::to_string(config_.linger.count())},
      {"message.timeout.ms", std::to_string(config_.delivery_timeout.count())},
      // Same key → same partition as the Java clients (Kafka Streams, Connect, analysts).
      {"partitioner", "murmur2_random"},
  };
  for (const auto& [name, value] : base) {
    if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s;
  }
  for (const auto& [name, value] : config_.properties) {
    if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s;
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &RdProducer::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &RdProducer::on_error);
  detail::route_logs(conf.get());

  std::array<char, 512> err{};
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err.data(), err.size());
  if (rk_ == nullptr) {
    return core::Error(core::Errc::invalid_argument, fmt::format("kafka producer: {}", err.data()));
  }
  (void)conf.release();  // owned by rk_ now
  thread_ = std::thread([this] { run(); });
  return core::ok();
}

RdProducer::~RdProducer() {
  if (rk_ == nullptr) return;
  if (on_delivery_thread()) {
    // Its thread is the one running: there is nothing safe left to do.
    core::log().error("kafka producer destroyed from its own delivery callback (a bug)",
                      {core::f::id("component", "kafka")});
    std::abort();
  }
  if (auto s = flush(config_.close_timeout); !s) {
    core::log().warn("kafka producer closing with records in flight; purging them",
                     {core::f::id("component", "kafka"),
                      core::f::num("in_flight", static_cast<std::int64_t>(in_flight()))});
    abandon();
    (void)flush(std::chrono::seconds{5});  // the purged records' callbacks
  }
  stop_ = true;
  thread_.join();
  drain_rejected();
  rd_kafka_destroy(rk_);
}

std::optional<core::Error> RdProducer::fatal_error() const {
  core::Error e(core::Errc::internal, {}, false);
  if (detail::fatal_error(rk_, e)) return e;
  return std::nullopt;
}

void RdProducer::run() {
  thread_id_.store(std::this_thread::get_id());
  while (!stop_.load()) {
    rd_kafka_poll(rk_, 100);
    drain_rejected();
  }
  rd_kafka_poll(rk_, 0);
  // Once joined, this thread's id may be another thread's: that one is no delivery thread.
  thread_id_.store(std::thread::id{});
}

void RdProducer::produce(Record record, DeliveryCallback done) {
  auto* p = new Pending{std::move(done), record.topic, Clock::now()};
  in_flight_.fetch_add(1);
  if (record.topic.empty()) {
    reject(p, core::Error(core::Errc::invalid_argument, "kafka produce: the topic is empty"));
    return;
  }
  rd_kafka_headers_t* headers = nullptr;
  if (!record.headers.empty()) {
    headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& h : record.headers) {
      rd_kafka_header_add(headers, h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
  }
  const auto deadline = Clock::now() + config_.queue_full_wait;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  while (true) {
    // Without headers, RD_KAFKA_V_HEADERS(nullptr) is simply "no headers". librdkafka's
    // RD_KAFKA_V_* macros type-check their arguments with GNU statement expressions.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
    err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(record.topic.c_str()),
        RD_KAFKA_V_PARTITION(record.partition >= 0 ? record.partition : RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(record.key.empty() ? nullptr : record.key.data(), record.key.size()),
        RD_KAFKA_V_VALUE(record.value.data(), record.value.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || Clock::now() >= deadline) break;
    // The local queue is full: give the delivery thread a moment to drain it.
    if (on_delivery_thread()) {
      rd_kafka_poll(rk_, 10);
    } else {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds{10});
    }
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers now owned by the message
  if (headers != nullptr) rd_kafka_headers_destroy(headers);
  core::Error e = detail::classify(err, fmt::format("kafka produce to {}", record.topic), rk_);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    e = core::Error(core::Errc::unavailable,
                    config_.queue_full_wait.count() > 0
                        ? fmt::format("kafka produce to {}: the local queue stayed full for {} ms",
                                      record.topic, config_.queue_full_wait.count())
                        : fmt::format("kafka produce to {}: the local queue is full", record.topic),
                    true);
  }
  reject(p, std::move(e));
}

void RdProducer::reject(Pending* p, core::Error error) {
  {
    std::lock_guard lock(mu_);
    rejected_.emplace_back(p, std::move(error));
  }
  rd_kafka_yield(rk_);  // wake the delivery thread's poll
}

void RdProducer::drain_rejected() {
  std::deque<std::pair<Pending*, core::Error>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(rejected_);
  }
  for (auto& [p, error] : batch) complete(p, std::move(error));
}

void RdProducer::on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<RdProducer*>(opaque);
  auto* p = static_cast<Pending*>(m->_private);
  if (p == nullptr) return;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->complete(p, Delivery{p->topic, m->partition, m->offset});
  } else {
    self->complete(p, detail::classify(m->err, fmt::format("kafka delivery to {}", p->topic), rk));
  }
}

void RdProducer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<RdProducer*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    core::Error fatal(core::Errc::internal, reason, false);
    detail::fatal_error(rk, fatal);
    core::log().error("kafka producer fatal error",
                      {core::f::id("component", "kafka"), core::f::str("error", fatal.message())});
    return;
  }
  // Connection errors repeat every few hundred ms while a broker is down: log each kind once
  // per 10 s.
  const auto now = Clock::now();
  auto [it, fresh] = self->last_error_log_.emplace(err, now);
  if (!fresh) {
    if (now - it->second < std::chrono::seconds{10}) return;
    it->second = now;
  }
  core::log().warn("kafka producer error",
                   {core::f::id("component", "kafka"), core::f::id("code", rd_kafka_err2name(code)),
                    core::f::str("reason", reason)});
}

TopicMetrics& RdProducer::metrics_for(const std::string& topic) {
  auto it = metrics_.find(topic);
  if (it != metrics_.end()) return it->second;
  auto& reg = core::metrics();
  const core::Labels labels{{"topic", topic}};
  TopicMetrics m{
      &reg.counter("lia_kafka_produced_total", "Records acknowledged by the broker", labels),
      &reg.counter("lia_kafka_produce_failed_total", "Records whose delivery failed", labels),
      &reg.histogram("lia_kafka_delivery_seconds",
                     "Time from produce() to the broker's ack or the failure", labels)};
  return metrics_.emplace(topic, m).first->second;
}

void RdProducer::complete(Pending* p, DeliveryResult result) {
  auto& m = metrics_for(p->topic);
  m.latency->observe(std::chrono::duration<double>(Clock::now() - p->queued_at).count());
  if (result.ok()) {
    m.produced->inc();
  } else {
    m.failed->inc();
  }
  try {
    if (p->done) p->done(std::move(result));
  } catch (const std::exception& e) {
    core::log().error("kafka delivery callback threw",
                      {core::f::id("component", "kafka"), core::f::str("error", e.what())});
  } catch (...) {
    core::log().error("kafka delivery callback threw", {core::f::id("component", "kafka")});
  }
  delete p;
  {
    std::lock_guard lock(mu_);
    in_flight_.fetch_sub(1);
  }
  cv_.notify_all();
}

core::Status RdProducer::ping(std::chrono::milliseconds timeout) {
  if (auto fatal = fatal_error()) return *fatal;
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk_, 0, nullptr, &md, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return detail::classify(err, "kafka metadata request", rk_);
  const bool has_brokers = md->broker_cnt > 0;
  rd_kafka_metadata_destroy(md);
  if (!has_brokers) return core::Error(core::Errc::unavailable, "the cluster reported no brokers");
  return {};
}

core::Status RdProducer::flush(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (on_delivery_thread()) {
    // Called from a callback: nobody else serves the queue, so serve it here.
    while (in_flight_.load() > 1 && Clock::now() < deadline) {
      rd_kafka_poll(rk_, 10);
      drain_rejected();
    }
  } else {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return in_flight_.load() == 0; });
  }
  const std::size_t left = in_flight_.load();
  if (left == 0 || (on_delivery_thread() && left <= 1)) return core::ok();
  return core::Error(
      core::Errc::timeout,
      fmt::format("kafka flush: {} records still in flight after {} ms", left, timeout.count()));
}

}  // namespace

core::Result<std::unique_ptr<Producer>> Producer::create(const ProducerConfig& config) {
  auto producer = std::make_unique<RdProducer>(config);
  if (auto s = producer->init(); !s) return s.error();
  return std::unique_ptr<Producer>(std::move(producer));
}

}  // namespace lia::kafka
