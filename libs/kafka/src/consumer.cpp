// The consumer-group consumer. One poll thread does everything that touches the group: it
// polls, runs the handler one message at a time, stores the message's offset only once the
// handler succeeded or the message was dead-lettered (auto commit then commits stored
// offsets, so delivery is at-least-once), and serves the rebalance callback, which commits
// synchronously before partitions are given up.
//
// A message whose handler fails for good (a non-retryable error) is dead-lettered. One that
// keeps failing retryably is retried inline (bounded, doubling backoff), then its partition
// is "parked": paused and rewound to that message, and tried again every max_backoff while
// the other partitions go on, so nothing is skipped and the group never sees a stuck poll
// (so is a dead letter that could not be written, or one without a dead-letter topic).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/kafka/kafka.hpp>

#include "rd_util.hpp"

namespace lia::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr std::string_view kWho = "kafka consumer";
// Throttling keys of the batch warnings (librdkafka's own codes are above -200).
constexpr int kBatchOpenFailed = -1001;
constexpr int kBatchCommitFailed = -1002;

std::atomic<int> seek_faults{0};                      // detail::fail_next_seeks_for_test()
std::atomic<std::uint64_t> polls{0};                  // detail::polls_for_test()
std::atomic<std::uint64_t> resumed_while_closing{0};  // detail::resumed_while_closing_for_test()

rd_kafka_message_t* poll_once(rd_kafka_t* rk, int timeout_ms) {
  polls.fetch_add(1, std::memory_order_relaxed);
  return rd_kafka_consumer_poll(rk, timeout_ms);
}

// ConsumerConfig::longest_call.
Clock::duration poll_budget(const ConsumerConfig& config) {
  const auto interval = max_poll_interval(config.properties);
  if (config.longest_call.count() <= 0) return interval / 3;
  return std::max(Clock::duration::zero(),
                  Clock::duration{interval - config.longest_call - std::chrono::seconds{30}});
}

// ConsumerConfig::stalled_after, or twice max.poll.interval.ms.
milliseconds stall_limit(const ConsumerConfig& config) {
  if (config.stalled_after.count() > 0) return config.stalled_after;
  return 2 * max_poll_interval(config.properties);
}

core::Error invalid(std::string message) {
  return core::Error(core::Errc::invalid_argument, fmt::format("{}: {}", kWho, message));
}

// A partition whose current message couldn't be handled nor dead-lettered.
struct Parked {
  std::int64_t offset = -1;
  int attempts = 0;
  Clock::time_point retry_at;
  bool resumed = false;  // retry_at passed and the partition was resumed
  // The seek back to `offset` failed, so the fetcher is still past it: the partition stays
  // paused until a seek succeeds (resuming it would skip what lies in between).
  bool reseek = false;
};

struct TopicMetrics {
  core::Counter* handled;
  core::Counter* dead_lettered;
  core::Counter* failures;
  core::Histogram* latency;
};

detail::PartitionListPtr make_list(const std::vector<TopicPartition>& tps,
                                   std::int64_t offset = RD_KAFKA_OFFSET_INVALID) {
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
  for (const auto& tp : tps) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  return list;
}

std::string member_id(rd_kafka_t* rk) {
  char* id = rd_kafka_memberid(rk);
  std::string out = id != nullptr ? id : "";
  if (id != nullptr) rd_kafka_mem_free(rk, id);
  return out;
}

// "topic[0,1,2]" for logs; the list is short (a member's share of a topic's partitions).
std::string describe(const rd_kafka_topic_partition_list_t* list) {
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    by_topic[list->elems[i].topic].push_back(list->elems[i].partition);
  }
  std::string out;
  for (auto& [topic, parts] : by_topic) {
    std::sort(parts.begin(), parts.end());
    out += fmt::format("{}{}[{}]", out.empty() ? "" : " ", topic, fmt::join(parts, ","));
  }
  return out;
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i)
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

class RdConsumer final : public Consumer {
 public:
  RdConsumer(const ConsumerConfig& config, Handler handler, std::shared_ptr<DeadLetter> dlq,
             BatchOpener open_batch)
      : config_(config),
        handler_(std::move(handler)),
        dlq_(std::move(dlq)),
        open_batch_(std::move(open_batch)),
        stall_limit_(stall_limit(config)),
        poll_budget_(poll_budget(config)) {}
  ~RdConsumer() override;

  core::Status init();
  void start() override;
  void close() override;
  void pause() override;
  void resume() override;
  bool assigned() const override;
  bool joined() const override { return joined_.load(); }
  std::optional<core::Error> fatal_error() const override;
  std::optional<core::Error> stalled() const override;
  bool raise_fatal_for_test();
  std::vector<TopicPartition> assignment() const override;
  std::uint64_t handled() const override { return handled_.load(); }
  std::uint64_t dead_lettered() const override { return dead_lettered_.load(); }

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  bool on_poll_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

  void run();
  void finish();
  // What became of a record handled alone.
  enum class Outcome {
    handled,  // handled, or dead-lettered: its offset is stored
    retried,  // handled, after failed tries (each maybe a lock timeout long): offset stored
    skipped,  // its partition waits on an earlier record: dropped, and the fetcher rewound
    parked,   // it failed every try of its round and its partition waits (or closing)
  };
  void process(const rd_kafka_message_t* m);
  Outcome process(const Message& msg);
  // Takes what is already fetched (up to max_batch, `first` included) and handles it.
  void process_batch(rd_kafka_message_t* first);
  void handle_batch(std::vector<Message>& msgs);
  // Seeks each partition of msgs[from..] back to its first record there (not yet handled).
  void rewind(const std::vector<Message>& msgs, std::size_t from);
  core::Status call_handler(const Message& msg);
  void store(const Message& msg);
  void park(const Message& msg, int attempts);
  // Puts the partition's fetch position at `offset`. When librdkafka refuses, the partition
  // is held (paused, parked with `reseek`) and resume_due() seeks again later.
  void seek(const TopicPartition& tp, std::int64_t offset);
  void resume_due();
  bool wait_backoff(milliseconds d);  // false: closing
  milliseconds backoff_for(int attempts) const;
  void commit_sync(std::string_view why);
  // Follows the assignment from the rebalance callback's own list (mu_ held).
  void track(bool assign, bool cooperative, const rd_kafka_topic_partition_list_t* list);
  // Pauses or resumes partitions and remembers which ones this member paused (mu_ held).
  // Only those are ever resumed: librdkafka (before 2.4) takes a new fetch version even for a
  // partition that isn't paused, and a resume right after an assignment can make the
  // assignment's own fetch start look outdated, so the partition never fetches (librdkafka
  // issues 2190, 4686, 5591).
  void pause_locked(rd_kafka_t* rk, const std::vector<TopicPartition>& tps);
  void resume_locked(rd_kafka_t* rk, const std::vector<TopicPartition>& tps);
  void warn_throttled(int code, std::string_view what, std::string_view detail);
  TopicMetrics& metrics_for(const std::string& topic);
  // Brings this member's share of the lag and parked-partition gauges up to date, at most
  // once a second; `closed`: takes its share out. Several members of one group may run in
  // one process, so each adds the change since its last report instead of setting the value.
  void report_progress(bool closed = false);
  // librdkafka's #4312 (see finish()): whether this member's strategy is cooperative-sticky
  // under a librdkafka that aborts destroying it before its first assignment; and the wait
  // for that assignment (false: it did not come in time).
  static bool sticky_assignor_needs_join(rd_kafka_t* rk);
  bool wait_for_first_assignment(rd_kafka_t* rk);

  const ConsumerConfig config_;
  const Handler handler_;
  const std::shared_ptr<DeadLetter> dlq_;
  const BatchOpener open_batch_;

  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::mutex close_mu_;  // serializes start() and close()
  bool started_ = false;
  std::atomic<bool> finished_{false};
  std::atomic<bool> stop_{false};
  // When the poll thread last came back to poll (steady clock, ns); 0 while it does not run.
  std::atomic<std::int64_t> last_poll_ns_{0};
  const Clock::duration stall_limit_;  // stalled() past this (ConsumerConfig::stalled_after)
  // How long the records of one poll may keep starting work (ConsumerConfig::longest_call):
  // past it, no further record, try or batch starts. Else a slow database, a record at a
  // time, could keep the consumer from polling until the group gave its partitions away.
  const Clock::duration poll_budget_;
  Clock::time_point poll_deadline_ = Clock::time_point::max();  // this poll's, poll thread only
  bool past_poll_deadline() const { return Clock::now() >= poll_deadline_; }
  std::atomic<bool> joined_{false};  // set by the first assignment

  mutable std::mutex mu_;       // everything below, and rk_'s lifetime for pause()/resume()
  std::condition_variable cv_;  // wakes a retry backoff on close()
  rd_kafka_t* rk_ = nullptr;
  bool paused_ = false;
  std::map<TopicPartition, Parked> parked_;
  std::vector<TopicPartition> assignment_;
  std::set<TopicPartition> paused_by_us_;  // paused by pause_locked(), not resumed since

  std::atomic<std::uint64_t> handled_{0};
  std::atomic<std::uint64_t> dead_lettered_{0};

  // Poll thread only.
  std::map<std::string, TopicMetrics> metrics_;
  std::map<int, Clock::time_point> last_warn_at_;
  core::Histogram* batch_sizes_ = nullptr;
  core::Counter* batch_fallbacks_ = nullptr;
  // A gauge this member has a share in, and the share it last added.
  struct Share {
    core::Gauge* gauge = nullptr;
    std::int64_t reported = 0;
    void update(std::int64_t now) {
      gauge->add(static_cast<double>(now - reported));
      reported = now;
    }
  };
  std::map<std::string, Share> lag_;  // per subscribed topic
  Share parked_partitions_;
  Clock::time_point reported_at_{};
  // The next record to handle, per partition: one past the last one handled, or where a seek
  // (rewind, park) put the partition. librdkafka's own position forgets itself on a seek.
  std::map<TopicPartition, std::int64_t> next_offset_;
};

core::Status RdConsumer::init() {
  if (config_.bootstrap.empty()) return invalid("bootstrap is empty");
  if (config_.group_id.empty()) return invalid("group_id is empty");
  if (config_.topics.empty()) return invalid("no topics to subscribe to");
  for (const auto& t : config_.topics) {
    if (t.empty()) return invalid("an empty topic name in topics");
  }
  if (!handler_) return invalid("no handler");
  if (config_.max_attempts < 1) return invalid("max_attempts must be at least 1");
  if (config_.poll_timeout.count() <= 0) return invalid("poll_timeout must be positive");
  if (config_.max_batch < 1) return invalid("max_batch must be at least 1");
  if (config_.retry_backoff.count() < 0 || config_.max_backoff.count() < 0) {
    return invalid("retry_backoff and max_backoff can't be negative");
  }
  if (config_.max_backoff.count() == 0) {
    // A parked partition would be resumed at once, its record tried back to back for good.
    return invalid("max_backoff must be positive");
  }
  for (const auto& [name, value] : config_.properties) {
    if (name == "enable.auto.commit" || name == "enable.auto.offset.store") {
      return invalid(fmt::format(
          "property '{}' is fixed by lia::kafka (offsets are stored after handling)", name));
    }
  }
  detail::ConfPtr conf(rd_kafka_conf_new());
  const std::vector<std::pair<std::string, std::string>> base = {
      {"bootstrap.servers", config_.bootstrap},
      {"group.id", config_.group_id},
      {"client.id", config_.client_id},
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "false"},
      {"auto.commit.interval.ms", std::to_string(config_.commit_interval.count())},
      {"auto.offset.reset", config_.auto_offset_reset},
      {"session.timeout.ms", std::to_string(config_.session_timeout.count())},
      {"heartbeat.interval.ms", std::to_string(config_.heartbeat_interval.count())},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", std::to_string(config_.fetch_wait.count())},
      // Records fetched ahead, per consumer: librdkafka's default (64 MiB) times the dozen
      // consumers of a service (conversation's) is past its pod's memory when it catches up
      // on a backlog. 8 MiB is still thousands of records ahead. LIA_KAFKA_PROPERTIES may
      // change it.
      {"queued.max.messages.kbytes", "8192"},
  };
  for (const auto& [name, value] : base) {
    if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s;
  }
  for (const auto& [name, value] : config_.properties) {
    if (auto s = detail::set(conf.get(), kWho, name, value); !s) return s;
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &RdConsumer::on_rebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &RdConsumer::on_error);
  detail::route_logs(conf.get());

  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err.data(), err.size());
  if (rk == nullptr) return invalid(err.data());
  (void)conf.release();            // owned by rk now
  rd_kafka_poll_set_consumer(rk);  // error callbacks are served by consumer_poll as well
  std::lock_guard lock(mu_);
  rk_ = rk;
  return core::ok();
}

RdConsumer::~RdConsumer() {
  if (on_poll_thread()) {
    // Its thread is the one running: there is nothing safe left to do.
    core::log().error("kafka consumer destroyed from its own handler (a bug)",
                      {core::f::id("component", "kafka")});
    std::abort();
  }
  close();
}

void RdConsumer::start() {
  std::lock_guard guard(close_mu_);
  if (started_ || stop_.load()) return;
  started_ = true;
  auto topics = detail::PartitionListPtr(
      rd_kafka_topic_partition_list_new(static_cast<int>(config_.topics.size())));
  for (const auto& t : config_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (const auto err = rd_kafka_subscribe(rk_, topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    core::log().error("kafka subscribe failed",
                      {core::f::id("component", "kafka"), core::f::id("group", config_.group_id),
                       core::f::str("error", rd_kafka_err2str(err))});
  }
  thread_ = std::thread([this] { run(); });
}

void RdConsumer::close() {
  if (on_poll_thread()) {  // from the handler: the poll thread closes after it returns
    stop_ = true;
    cv_.notify_all();
    return;
  }
  std::lock_guard guard(close_mu_);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else if (!finished_.load()) {
    finish();  // never started
  }
}

void RdConsumer::run() {
  thread_id_.store(std::this_thread::get_id());
  core::log().info("kafka consumer started",
                   {core::f::id("component", "kafka"), core::f::id("group", config_.group_id)});
  while (!stop_.load()) {
    last_poll_ns_.store(Clock::now().time_since_epoch().count());
    poll_deadline_ = Clock::now() + poll_budget_;
    resume_due();
    report_progress();
    rd_kafka_message_t* m = poll_once(rk_, static_cast<int>(config_.poll_timeout.count()));
    if (m == nullptr) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        warn_throttled(m->err, "kafka consumer error", rd_kafka_message_errstr(m));
      }
    } else if (open_batch_ && config_.max_batch > 1) {
      process_batch(m);
      continue;  // process_batch destroyed it
    } else {
      process(m);
    }
    rd_kafka_message_destroy(m);
  }
  last_poll_ns_.store(0);  // stopping: its handler's last record is let finish
  finish();
  // Once joined, this thread's id may be another thread's: that one is no poll thread.
  thread_id_.store(std::thread::id{});
}

void RdConsumer::process_batch(rd_kafka_message_t* first) {
  std::vector<Message> msgs;
  msgs.push_back(detail::to_message(first));
  rd_kafka_message_destroy(first);
  while (msgs.size() < config_.max_batch && !stop_.load()) {
    rd_kafka_message_t* m = poll_once(rk_, 0);
    if (m == nullptr) break;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      msgs.push_back(detail::to_message(m));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      warn_throttled(m->err, "kafka consumer error", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  {
    // A rebalance served by those polls may have taken partitions away: their records belong
    // to the new owner now (it starts from the committed offset).
    std::lock_guard lock(mu_);
    std::erase_if(msgs, [&](const Message& msg) {
      return !std::binary_search(assignment_.begin(), assignment_.end(),
                                 TopicPartition{msg.topic, msg.partition});
    });
  }
  handle_batch(msgs);
}

void RdConsumer::handle_batch(std::vector<Message>& msgs) {
  if (batch_sizes_ == nullptr) {
    auto& reg = core::metrics();
    const core::Labels labels{{"group", config_.group_id}};
    batch_sizes_ = &reg.histogram("lia_kafka_batch_records", "Records handled in one batch", labels,
                                  {1, 2, 5, 10, 20, 50, 100, 200, 500});
    batch_fallbacks_ = &reg.counter(
        "lia_kafka_batch_fallbacks_total",
        "Batches undone and handled record by record (a handler or the commit failed)", labels);
  }
  std::size_t i = 0;
  while (i < msgs.size() && !stop_.load()) {
    if (i > 0 && past_poll_deadline()) {
      rewind(msgs, i);  // the rest after a poll
      return;
    }
    bool parked = false;
    {
      std::lock_guard lock(mu_);
      parked = !parked_.empty();
    }
    if (msgs.size() - i == 1 || parked) {  // alone, or a partition waits: the careful path
      // A record that used up its round (a database outage), or needed more than one try,
      // took seconds: the rest goes back to the fetcher, so the consumer polls between such
      // records, within max.poll.interval.
      if (const auto outcome = process(msgs[i++]);
          outcome == Outcome::parked || outcome == Outcome::retried) {
        if (!stop_.load()) rewind(msgs, i);
        return;
      }
      continue;
    }
    auto scope = open_batch_(std::span<const Message>(msgs).subspan(i));
    if (!scope) {
      warn_throttled(kBatchOpenFailed, "kafka batch could not start; handling a record alone",
                     scope.error().describe());
      process(msgs[i]);
      rewind(msgs, i + 1);  // the rest comes again after a poll
      return;
    }
    std::size_t j = i;
    bool broke = false;
    const auto scope_started = Clock::now();
    while (j < msgs.size() && !stop_.load()) {
      const auto started = Clock::now();
      auto status = call_handler(msgs[j]);
      const auto now = Clock::now();
      metrics_for(msgs[j].topic)
          .latency->observe(std::chrono::duration<double>(now - started).count());
      if (!status.ok() || (*scope)->failed()) {
        core::log().debug(
            "kafka batch undone by a record",
            {core::f::id("component", "kafka"), core::f::id("topic", msgs[j].topic),
             core::f::num("partition", msgs[j].partition), core::f::num("offset", msgs[j].offset),
             core::f::str("error", status.ok() ? std::string("the batch failed")
                                               : status.error().describe())});
        broke = true;
        break;
      }
      ++j;
      if (now - scope_started >= config_.max_batch_time) break;  // commit; the rest goes next
    }
    if (!broke) {
      auto committed = (*scope)->commit();
      if (committed.ok()) {
        batch_sizes_->observe(static_cast<double>(j - i));
        for (std::size_t k = i; k < j; ++k) {
          store(msgs[k]);
          handled_.fetch_add(1);
          metrics_for(msgs[k].topic).handled->inc();
        }
        i = j;
        continue;
      }
      warn_throttled(kBatchCommitFailed, "kafka batch commit failed; handling its records alone",
                     committed.error().describe());
    }
    // Undo the batch; what it held is handled again alone, with retries and dead letters.
    // Those may take long (a database outage): the rest of the fetched records is given back
    // to the fetcher, so that the consumer polls again between them as it does unbatched,
    // and so is the rest of the batch once one of its records parks its partition or needed
    // more than one try.
    scope->reset();
    batch_fallbacks_->inc();
    const std::size_t end = broke ? j + 1 : j;
    while (i < end && !stop_.load()) {
      if (const auto outcome = process(msgs[i++]);
          outcome == Outcome::parked || outcome == Outcome::retried || past_poll_deadline()) {
        break;
      }
    }
    if (!stop_.load()) rewind(msgs, i);
    return;
  }
}

void RdConsumer::rewind(const std::vector<Message>& msgs, std::size_t from) {
  std::map<TopicPartition, std::int64_t> first;
  for (std::size_t k = from; k < msgs.size(); ++k) {
    first.try_emplace(TopicPartition{msgs[k].topic, msgs[k].partition}, msgs[k].offset);
  }
  for (const auto& [tp, offset] : first) {
    {
      std::lock_guard lock(mu_);
      // A partition whose park still waits was already rewound to the record it waits on. One
      // resumed is fetching again: its records here were taken from the fetcher, and without
      // the seek the next one would look as if the log had lost these.
      if (const auto it = parked_.find(tp); it != parked_.end() && !it->second.resumed) continue;
    }
    seek(tp, offset);
  }
}

bool RdConsumer::sticky_assignor_needs_join(rd_kafka_t* rk) {
  if (rd_kafka_version() >= 0x020300ff) return false;
  char value[256];
  std::size_t size = sizeof value;
  if (rd_kafka_conf_get(rd_kafka_conf(rk), "partition.assignment.strategy", value, &size) !=
      RD_KAFKA_CONF_OK) {
    return false;
  }
  return std::string_view(value).find("cooperative-sticky") != std::string_view::npos;
}

bool RdConsumer::wait_for_first_assignment(rd_kafka_t* rk) {
  // A join takes a rebalance of the group: a session timeout and a few seconds more bound it
  // where every member polls (a member in a long handler delays it up to max.poll.interval.ms,
  // which a stop does not wait for). The session timeout in force: LIA_KAFKA_PROPERTIES may
  // have set it. A broker out of reach makes a stop wait the whole bound.
  auto session = config_.session_timeout;
  char value[32];
  std::size_t size = sizeof value;
  if (rd_kafka_conf_get(rd_kafka_conf(rk), "session.timeout.ms", value, &size) ==
      RD_KAFKA_CONF_OK) {
    long long ms = 0;
    if (std::from_chars(value, value + std::strlen(value), ms).ec == std::errc{} && ms > 0) {
      session = milliseconds{ms};
    }
  }
  const auto deadline = Clock::now() + session + std::chrono::seconds{5};
  core::log().info("kafka consumer stopping: waits for its first assignment before it leaves",
                   {core::f::id("component", "kafka"), core::f::id("group", config_.group_id)});
  while (!joined_.load() && Clock::now() < deadline) {
    // No assignment yet, so no record: only the group's callbacks and errors.
    if (rd_kafka_message_t* m = poll_once(rk, 100); m != nullptr) rd_kafka_message_destroy(m);
  }
  return joined_.load();
}

void RdConsumer::finish() {
  if (finished_.exchange(true)) return;
  rd_kafka_t* rk = nullptr;
  {
    std::lock_guard lock(mu_);
    rk = rk_;
  }
  if (rk == nullptr) return;
  // After a fatal error the client can neither commit nor leave its group (the broker has
  // fenced it), and librdkafka 2.0's close then never returns: it is destroyed without one.
  const auto fatal = fatal_error();
  const bool broken = fatal.has_value();
  // librdkafka before 2.3.0 (Debian 12 ships 2.0.2) aborts destroying a cooperative-sticky
  // member that has not had its first assignment yet (its #4312: the sticky assignor's state
  // is made then): 5 closes in 100 did, stopped while joining a group of the development
  // broker. So such a member first waits for it, serving the group's callbacks, within a bound;
  // past it, the handle is left to the process's exit rather than destroyed.
  bool unjoined = false;
  if (started_ && !broken && !joined_.load() && sticky_assignor_needs_join(rk)) {
    unjoined = !wait_for_first_assignment(rk);
  }
  if (started_ && !broken && !unjoined) commit_sync("close");
  // Leaves the group: the revoke callback commits again and unassigns.
  if (unjoined) {
    core::log().warn(
        "kafka consumer stopped before its first assignment: left to the process's exit (a "
        "cooperative-sticky member destroyed now would abort the process: librdkafka #4312, "
        "fixed in 2.3.0)",
        {core::f::id("component", "kafka"), core::f::id("group", config_.group_id),
         core::f::id("librdkafka", rd_kafka_version_str())});
  } else if (broken) {
    core::log().warn("kafka consumer closed without leaving its group after a fatal error",
                     {core::f::id("component", "kafka"), core::f::id("group", config_.group_id),
                      core::f::str("error", fatal->message())});
  } else if (const auto err = rd_kafka_consumer_close(rk); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    core::log().warn("kafka consumer close", {core::f::id("component", "kafka"),
                                              core::f::str("error", rd_kafka_err2str(err))});
  }
  {
    std::lock_guard lock(mu_);
    rk_ = nullptr;
    assignment_.clear();
    parked_.clear();
    paused_by_us_.clear();
  }
  if (unjoined) {
    // Not destroyed (see above).
  } else if (broken) {
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  } else {
    rd_kafka_destroy(rk);
  }
  report_progress(true);  // a closed member owns nothing: its share leaves the gauges
  core::log().info(
      "kafka consumer closed",
      {core::f::id("component", "kafka"), core::f::id("group", config_.group_id),
       core::f::num("handled", static_cast<std::int64_t>(handled_.load())),
       core::f::num("dead_lettered", static_cast<std::int64_t>(dead_lettered_.load()))});
}

void RdConsumer::process(const rd_kafka_message_t* m) {
  process(detail::to_message(m));
}

RdConsumer::Outcome RdConsumer::process(const Message& msg) {
  const TopicPartition tp{msg.topic, msg.partition};
  int attempts = 0;
  int round = config_.max_attempts;
  {
    std::unique_lock lock(mu_);
    auto it = parked_.find(tp);
    if (it != parked_.end()) {
      const Parked p = it->second;
      if (p.resumed && msg.offset == p.offset) {
        // The parked message is back: one more try per round. A record held only because a
        // rewind's seek failed (never tried) gets a whole round.
        attempts = p.attempts;
        if (attempts > 0) round = 1;
        parked_.erase(it);
      } else if (p.resumed && msg.offset > p.offset) {
        core::log().error(
            "kafka parked message is gone from the log (retention); moving on",
            {core::f::id("component", "kafka"), core::f::id("topic", tp.topic),
             core::f::num("partition", tp.partition), core::f::num("offset", p.offset)});
        parked_.erase(it);
      } else if (p.resumed && msg.offset < p.offset) {
        parked_.erase(it);  // the position moved back (offset reset): handle in order
      } else {
        // Fetched before the park took effect: drop it and rewind again, since returning a
        // message moves the position past it.
        lock.unlock();
        seek(tp, p.offset);
        return Outcome::skipped;
      }
    }
  }

  auto& metrics = metrics_for(msg.topic);
  core::Error last(core::Errc::internal, "not handled");
  int tries = 0;  // this call's
  for (;;) {
    ++tries;
    const auto started = Clock::now();
    auto status = call_handler(msg);
    metrics.latency->observe(std::chrono::duration<double>(Clock::now() - started).count());
    ++attempts;
    if (status.ok()) {
      store(msg);
      handled_.fetch_add(1);
      metrics.handled->inc();
      return tries > 1 ? Outcome::retried : Outcome::handled;
    }
    last = status.error();
    metrics.failures->inc();
    core::log().warn(
        "kafka handler failed",
        {core::f::id("component", "kafka"), core::f::id("topic", msg.topic),
         core::f::num("partition", msg.partition), core::f::num("offset", msg.offset),
         core::f::num("attempt", attempts), core::f::flag("retryable", last.retryable()),
         core::f::str("error", last.describe())});
    if (!last.retryable() || tries >= round) break;
    const auto backoff = backoff_for(attempts);
    // No try starts past this poll's budget: the record parks, and comes back after a poll.
    if (Clock::now() + backoff >= poll_deadline_) break;
    if (!wait_backoff(backoff)) return Outcome::parked;  // closing: redelivered later
  }
  // Only a record that can never be handled is dead-lettered. A retryable failure (the
  // database restarting, a lock timeout) waits in place: dead-lettering it would let the
  // chat's next records overtake it, and bring it back only by a manual replay.
  if (dlq_ && !last.retryable()) {
    auto sent = dlq_->send(msg, last, attempts, &stop_);
    if (sent.ok()) {
      store(msg);
      dead_lettered_.fetch_add(1);
      metrics.dead_lettered->inc();
      return tries > 1 ? Outcome::retried : Outcome::handled;
    }
    core::log().error("kafka dead letter failed; the partition waits and retries",
                      {core::f::id("component", "kafka"), core::f::id("topic", msg.topic),
                       core::f::num("partition", msg.partition), core::f::num("offset", msg.offset),
                       core::f::str("error", sent.error().describe())});
  }
  park(msg, attempts);
  return Outcome::parked;
}

core::Status RdConsumer::call_handler(const Message& msg) {
  try {
    return handler_(msg);
  } catch (const std::exception& e) {
    return core::Error(core::Errc::internal, fmt::format("handler threw: {}", e.what()), false);
  } catch (...) {
    return core::Error(core::Errc::internal, "handler threw a non-exception", false);
  }
}

void RdConsumer::store(const Message& msg) {
  next_offset_[TopicPartition{msg.topic, msg.partition}] = msg.offset + 1;
  auto list = make_list({{msg.topic, msg.partition}}, msg.offset + 1);
  auto err = rd_kafka_offsets_store(rk_, list.get());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Only when the partition was taken away meanwhile: the new owner redelivers it.
    core::log().warn("kafka offset store failed",
                     {core::f::id("component", "kafka"), core::f::id("topic", msg.topic),
                      core::f::num("partition", msg.partition), core::f::num("offset", msg.offset),
                      core::f::str("error", rd_kafka_err2str(err))});
  }
}

void RdConsumer::park(const Message& msg, int attempts) {
  const TopicPartition tp{msg.topic, msg.partition};
  {
    std::lock_guard lock(mu_);
    parked_[tp] = Parked{msg.offset, attempts, Clock::now() + config_.max_backoff, false};
    // Pause first (it remembers the position after the last returned message), then rewind.
    pause_locked(rk_, {tp});
  }
  seek(tp, msg.offset);
  core::log().warn("kafka partition parked on a message it can't handle",
                   {core::f::id("component", "kafka"), core::f::id("topic", msg.topic),
                    core::f::num("partition", msg.partition), core::f::num("offset", msg.offset),
                    core::f::num("attempts", attempts),
                    core::f::num("retry_in_ms", config_.max_backoff.count())});
}

void RdConsumer::seek(const TopicPartition& tp, std::int64_t offset) {
  // 5 s. librdkafka before 2.1.0 (Debian 12 ships 2.0.2) waited a thousandth of the timeout
  // given (its #4230): 5 ms, which a loaded machine misses, reporting a seek it did apply as
  // timed out (the partition then waits and seeks again, with an error logged).
  static const int seek_timeout_ms = rd_kafka_version() < 0x020100ff ? 5'000'000 : 5'000;
  next_offset_[tp] = offset;
  auto list = make_list({tp}, offset);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string what;
  int faults = seek_faults.load();
  while (faults > 0 && !seek_faults.compare_exchange_weak(faults, faults - 1)) {
  }
  if (faults > 0) {
    err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    what = "injected by a test";
  } else if (rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_, list.get(), seek_timeout_ms);
             error != nullptr) {
    err = rd_kafka_error_code(error);
    what = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
  } else if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    err = list->elems[0].err;
    what = rd_kafka_err2str(err);
  }
  std::lock_guard lock(mu_);
  auto parked = parked_.find(tp);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (parked != parked_.end() && parked->second.offset == offset) parked->second.reseek = false;
    return;
  }
  // A partition taken away meanwhile needs nothing: its new owner starts from the committed
  // offset, which is never past a record not handled.
  if (!std::binary_search(assignment_.begin(), assignment_.end(), tp)) return;
  if (parked == parked_.end()) parked = parked_.emplace(tp, Parked{offset, 0, {}, false}).first;
  Parked& p = parked->second;
  p.offset = offset;
  p.resumed = false;
  p.reseek = true;
  p.retry_at = std::max(p.retry_at, Clock::now() + config_.retry_backoff);
  pause_locked(rk_, {tp});
  core::log().error("kafka seek failed; the partition waits until a seek succeeds",
                    {core::f::id("component", "kafka"), core::f::id("topic", tp.topic),
                     core::f::num("partition", tp.partition), core::f::num("offset", offset),
                     core::f::str("error", what)});
}

void RdConsumer::resume_due() {
  std::vector<std::pair<TopicPartition, std::int64_t>> reseek;
  {
    std::lock_guard lock(mu_);
    if (paused_ || parked_.empty()) return;
    const auto now = Clock::now();
    for (const auto& [tp, p] : parked_) {
      if (!p.resumed && p.reseek && p.retry_at <= now) reseek.emplace_back(tp, p.offset);
    }
  }
  for (const auto& [tp, offset] : reseek) seek(tp, offset);  // clears `reseek`, or holds again
  std::lock_guard lock(mu_);
  if (paused_) return;
  const auto now = Clock::now();
  std::vector<TopicPartition> due;
  for (auto& [tp, p] : parked_) {
    if (!p.resumed && !p.reseek && p.retry_at <= now) {
      p.resumed = true;
      due.push_back(tp);
    }
  }
  resume_locked(rk_, due);
}

bool RdConsumer::wait_backoff(milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stop_.load(); });
}

milliseconds RdConsumer::backoff_for(int attempts) const {
  const int shift = std::clamp(attempts - 1, 0, 20);
  const auto d = config_.retry_backoff * (std::int64_t{1} << shift);
  return std::min<milliseconds>(d, config_.max_backoff);
}

void RdConsumer::commit_sync(std::string_view why) {
  const auto err = rd_kafka_commit(rk_, nullptr, 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    core::log().warn(
        "kafka commit failed",
        {core::f::id("component", "kafka"), core::f::id("group", config_.group_id),
         core::f::id("when", std::string(why)), core::f::str("error", rd_kafka_err2str(err))});
  }
}

// Not rd_kafka_assignment(): like every call answered by the group's thread, it may never
// return once the consumer closes (see on_rebalance).
void RdConsumer::track(bool assign, bool cooperative, const rd_kafka_topic_partition_list_t* list) {
  auto changed = to_vector(list);
  if (!cooperative) {  // eager: the list is the whole new assignment, or all of it goes
    assignment_ = assign ? std::move(changed) : std::vector<TopicPartition>{};
  } else if (assign) {
    assignment_.insert(assignment_.end(), changed.begin(), changed.end());
  } else {
    std::sort(changed.begin(), changed.end());
    std::erase_if(assignment_, [&](const TopicPartition& tp) {
      return std::binary_search(changed.begin(), changed.end(), tp);
    });
  }
  std::sort(assignment_.begin(), assignment_.end());
  assignment_.erase(std::unique(assignment_.begin(), assignment_.end()), assignment_.end());
}

void RdConsumer::pause_locked(rd_kafka_t* rk, const std::vector<TopicPartition>& tps) {
  if (tps.empty()) return;
  auto list = make_list(tps);
  rd_kafka_pause_partitions(rk, list.get());
  paused_by_us_.insert(tps.begin(), tps.end());
}

void RdConsumer::resume_locked(rd_kafka_t* rk, const std::vector<TopicPartition>& tps) {
  if (tps.empty()) return;
  if (finished_.load()) resumed_while_closing.fetch_add(tps.size(), std::memory_order_relaxed);
  auto list = make_list(tps);
  rd_kafka_resume_partitions(rk, list.get());
  for (int i = 0; i < list->cnt; ++i) {
    // A partition librdkafka no longer knows has no pause left to lift.
    if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR ||
        list->elems[i].err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
      paused_by_us_.erase(TopicPartition{list->elems[i].topic, list->elems[i].partition});
    }
  }
}

void RdConsumer::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<RdConsumer*>(opaque);
  // (NULL once the group's queue is gone, as it closes: no incremental call is made then.)
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  const auto log_error = [&](std::string_view what, std::string_view error) {
    core::log().error("kafka rebalance",
                      {core::f::id("component", "kafka"), core::f::id("step", std::string(what)),
                       core::f::str("error", std::string(error))});
  };
  const auto apply = [&](bool assign, const rd_kafka_topic_partition_list_t* list) {
    if (cooperative) {
      rd_kafka_error_t* e =
          assign ? rd_kafka_incremental_assign(rk, list) : rd_kafka_incremental_unassign(rk, list);
      if (e != nullptr) {
        log_error(assign ? "incremental_assign" : "incremental_unassign", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      const auto e = rd_kafka_assign(rk, assign ? list : nullptr);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) log_error("assign", rd_kafka_err2str(e));
    }
  };

  // rd_kafka_memberid(), rd_kafka_assignment() and the like wait for the group's thread to
  // answer. While the consumer closes, the assign/unassign below can let that thread finish
  // the group first, and then no answer ever comes: close() hung about once in 300 tries.
  // So nothing is asked of the group after apply(), and the member id only while running.
  const std::string member = self->stop_.load() ? std::string{} : member_id(rk);
  const auto with_member = [&](std::vector<core::Field> fields) {
    if (!member.empty()) fields.push_back(core::f::id("member", member));
    return fields;
  };

  // Partitions taken away: nothing of theirs is kept (parked records, positions), and
  // librdkafka keeps a partition's pause after it is taken away, so ours is lifted, after the
  // unassignment's own operations, and the partition starts fresh if it comes back.
  // Not while the consumer closes: the handle is destroyed next, so no partition comes back,
  // and a resume waits, without a bound, for librdkafka's main thread to answer, and the
  // group, once it finished closing, purges the queue that answer would come through (as for
  // member_id() above; librdkafka 2.0's rd_kafka_cgrp_terminated). The likely cause of a close
  // with every partition parked that hung once in a few hundred runs.
  const auto forget_locked = [&] {
    std::vector<TopicPartition> ours;
    for (const auto& tp : to_vector(partitions)) {
      self->parked_.erase(tp);
      self->next_offset_.erase(tp);
      if (self->paused_by_us_.contains(tp)) ours.push_back(tp);
    }
    if (!self->stop_.load()) {
      self->resume_locked(rk, ours);
    } else {
      for (const auto& tp : ours) self->paused_by_us_.erase(tp);
    }
    self->track(false, cooperative, partitions);
  };

  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    apply(true, partitions);
    std::lock_guard lock(self->mu_);
    const auto added = to_vector(partitions);
    if (self->stop_.load()) {
      // An assignment served by the close itself (librdkafka takes it as an unassignment):
      // no pause or resume, which could wait for ever (see forget_locked above).
    } else if (self->paused_) {
      self->pause_locked(rk, added);  // a paused consumer stays paused
    } else {
      // A pause of ours the revoke could not clear (librdkafka keeps it across assignments).
      std::vector<TopicPartition> leftover;
      for (const auto& tp : added) {
        if (self->paused_by_us_.contains(tp)) leftover.push_back(tp);
      }
      self->resume_locked(rk, leftover);
    }
    self->track(true, cooperative, partitions);
    for (const auto& tp : to_vector(partitions)) self->next_offset_.erase(tp);
    self->joined_.store(true);
    core::log().log(
        core::Level::info, "kafka partitions assigned",
        with_member({core::f::id("component", "kafka"),
                     core::f::id("group", self->config_.group_id),
                     core::f::num("added", partitions->cnt),
                     core::f::id("partitions", describe(partitions)),
                     core::f::num("total", static_cast<std::int64_t>(self->assignment_.size())),
                     core::f::flag("paused", self->paused_)}));
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    // Offsets stored so far belong to work that is done: commit them before another member
    // starts from the committed position (unless the partitions are already lost).
    if (rd_kafka_assignment_lost(rk) == 0) self->commit_sync("revoke");
    apply(false, partitions);
    std::lock_guard lock(self->mu_);
    forget_locked();
    core::log().log(
        core::Level::info, "kafka partitions revoked",
        with_member({core::f::id("component", "kafka"),
                     core::f::id("group", self->config_.group_id),
                     core::f::num("removed", partitions->cnt),
                     core::f::num("total", static_cast<std::int64_t>(self->assignment_.size()))}));
    return;
  }
  // Any other error: the partitions are given up, as at a revoke (without its commit: the
  // group's state is not known).
  log_error("callback", rd_kafka_err2str(err));
  apply(false, partitions);
  std::lock_guard lock(self->mu_);
  forget_locked();
}

void RdConsumer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<RdConsumer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    core::Error fatal(core::Errc::internal, reason, false);
    detail::fatal_error(rk, fatal);
    core::log().error("kafka consumer fatal error",
                      {core::f::id("component", "kafka"), core::f::str("error", fatal.message())});
    return;
  }
  self->warn_throttled(err, "kafka consumer error", reason);
}

std::optional<core::Error> RdConsumer::fatal_error() const {
  std::lock_guard lock(mu_);
  if (rk_ == nullptr) return std::nullopt;
  core::Error e(core::Errc::internal, "", false);
  if (detail::fatal_error(rk_, e)) return e;
  return std::nullopt;
}

std::optional<core::Error> RdConsumer::stalled() const {
  const auto last = last_poll_ns_.load();
  if (last == 0 || stop_.load()) return std::nullopt;
  const auto idle = Clock::now() - Clock::time_point(Clock::duration(last));
  if (idle < stall_limit_) return std::nullopt;
  return core::Error(
      core::Errc::unavailable,
      fmt::format("its poll thread has not polled for {} s (a handler that does not return)",
                  std::chrono::duration_cast<std::chrono::seconds>(idle).count()),
      false);
}

bool RdConsumer::raise_fatal_for_test() {
  std::lock_guard lock(mu_);
  return rk_ != nullptr &&
         rd_kafka_test_fatal_error(rk_, RD_KAFKA_RESP_ERR__FENCED, "raised by a test") ==
             RD_KAFKA_RESP_ERR_NO_ERROR;
}

void RdConsumer::warn_throttled(int code, std::string_view what, std::string_view detail) {
  const auto now = Clock::now();
  auto [it, fresh] = last_warn_at_.emplace(code, now);
  if (!fresh) {
    if (now - it->second < std::chrono::seconds{10}) return;
    it->second = now;
  }
  core::log().warn(what,
                   {core::f::id("component", "kafka"),
                    core::f::id("code", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code))),
                    core::f::str("reason", std::string(detail))});
}

void RdConsumer::pause() {
  std::lock_guard lock(mu_);
  if (paused_) return;
  paused_ = true;
  if (rk_ == nullptr || stop_.load()) return;  // closing: see on_rebalance
  pause_locked(rk_, assignment_);
}

void RdConsumer::resume() {
  std::lock_guard lock(mu_);
  if (!paused_) return;
  paused_ = false;
  if (rk_ == nullptr || stop_.load()) return;  // closing: see on_rebalance
  std::vector<TopicPartition> tps;
  for (const auto& tp : assignment_) {
    // A parked partition waiting for its retry is left to resume_due(), on the poll thread:
    // marked resumed here, from another thread, it could take a record of that partition
    // still in the poll thread's hands for the parked one gone from the log.
    auto it = parked_.find(tp);
    if (it != parked_.end() && !it->second.resumed) continue;
    tps.push_back(tp);
  }
  resume_locked(rk_, tps);
}

bool RdConsumer::assigned() const {
  std::lock_guard lock(mu_);
  return !assignment_.empty();
}

std::vector<TopicPartition> RdConsumer::assignment() const {
  std::lock_guard lock(mu_);
  return assignment_;
}

TopicMetrics& RdConsumer::metrics_for(const std::string& topic) {
  auto it = metrics_.find(topic);
  if (it != metrics_.end()) return it->second;
  auto& reg = core::metrics();
  const core::Labels labels{{"topic", topic}, {"group", config_.group_id}};
  TopicMetrics m{
      &reg.counter("lia_kafka_consumed_total", "Messages handled successfully", labels),
      &reg.counter("lia_kafka_dead_lettered_total", "Messages sent to the dead-letter topic",
                   labels),
      &reg.counter("lia_kafka_handler_failures_total", "Failed handler calls (each try)", labels),
      &reg.histogram("lia_kafka_handler_seconds", "Time spent in one handler call", labels)};
  return metrics_.emplace(topic, m).first->second;
}

void RdConsumer::report_progress(bool closed) {
  const auto now = Clock::now();
  if (!closed && now - reported_at_ < std::chrono::seconds{1}) return;
  reported_at_ = now;
  if (parked_partitions_.gauge == nullptr) {
    auto& reg = core::metrics();
    parked_partitions_.gauge = &reg.gauge(
        "lia_kafka_parked_partitions",
        "Partitions of the group's members in this process waiting to retry a record they could "
        "neither handle nor dead-letter",
        {{"group", config_.group_id}});
    for (const auto& topic : config_.topics) {
      lag_[topic].gauge =
          &reg.gauge("lia_kafka_consumer_lag",
                     "Records in the partitions of the group's members in this process "
                     "not handled yet: the high watermark of the last fetch minus the "
                     "next record to handle",
                     {{"topic", topic}, {"group", config_.group_id}});
    }
  }
  std::vector<TopicPartition> owned;
  std::map<TopicPartition, std::int64_t> parked_at;
  if (!closed) {
    std::lock_guard lock(mu_);
    owned = assignment_;
    for (const auto& [tp, p] : parked_) parked_at[tp] = p.offset;
  }
  std::map<std::string, std::int64_t> lag;
  if (!owned.empty()) {
    // From the client's own state, without asking the broker: the high watermark is the one
    // the last fetch response carried. A parked partition stands at the record it waits on;
    // one this member has not handled or moved yet, at librdkafka's position (if it has one).
    auto list = make_list(owned);
    if (rd_kafka_position(rk_, list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) list.reset();
    for (int i = 0; list && i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      const TopicPartition tp{e.topic, e.partition};
      std::int64_t position = e.err == RD_KAFKA_RESP_ERR_NO_ERROR ? e.offset : -1;
      if (auto it = next_offset_.find(tp); it != next_offset_.end()) position = it->second;
      if (auto it = parked_at.find(tp); it != parked_at.end()) position = it->second;
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (position < 0 ||
          rd_kafka_get_watermark_offsets(rk_, e.topic, e.partition, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        continue;  // nothing known of it yet
      }
      lag[e.topic] += std::max<std::int64_t>(0, high - position);
    }
  }
  for (auto& [topic, share] : lag_) share.update(lag[topic]);
  parked_partitions_.update(static_cast<std::int64_t>(parked_at.size()));
}

}  // namespace

int detail::fail_next_seeks_for_test(int n) {
  return seek_faults.exchange(n);
}

bool detail::raise_fatal_for_test(Consumer& consumer) {
  auto* rd = dynamic_cast<RdConsumer*>(&consumer);
  return rd != nullptr && rd->raise_fatal_for_test();
}

std::uint64_t detail::polls_for_test() {
  return polls.load(std::memory_order_relaxed);
}

std::uint64_t detail::resumed_while_closing_for_test() {
  return resumed_while_closing.load(std::memory_order_relaxed);
}

core::Result<std::unique_ptr<Consumer>> Consumer::create(const ConsumerConfig& config,
                                                         Handler handler,
                                                         std::shared_ptr<DeadLetter> dead_letter,
                                                         BatchOpener open_batch) {
  auto consumer = std::make_unique<RdConsumer>(config, std::move(handler), std::move(dead_letter),
                                               std::move(open_batch));
  if (auto s = consumer->init(); !s) return s.error();
  return std::unique_ptr<Consumer>(std::move(consumer));
}

}  // namespace lia::kafka
