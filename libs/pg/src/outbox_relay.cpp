#include <algorithm>
#include <array>
#include <condition_variable>
#include <map>
#include <set>

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/uuid.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/outbox_relay.hpp>
#include <lia/pg/tx.hpp>

#include "local_relays.hpp"

namespace lia::pg {
namespace {

namespace f = core::f;
using core::Errc;
using core::Error;

constexpr const char* kEventIdHeader = "lia.event_id";

// Kafka refused this record itself (too large, malformed), so no retry can help and it is set
// aside. Other lasting errors are about the producer or the cluster (a fatal producer, an ACL
// or a topic missing): the records they fail wait for the cause to go, and the others of the
// batch that Kafka acknowledged are marked meanwhile.
bool refused_for_good(const Error& e) {
  return !e.retryable() && (e.code() == Errc::too_large || e.code() == Errc::invalid_argument);
}

// Delivery results of one batch, shared with the producer's callbacks (which may outlive a
// batch that gave up waiting).
struct Acks {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = 0;
  std::size_t failed = 0;  // retryable failures: the batch is sent again
  std::optional<Error> first_error;
  std::vector<std::optional<Error>> refused;  // per record: Kafka refused it for good
  std::vector<char> delivered;                // per record: acknowledged
  // per record: failed for a lasting reason about its topic (missing, no ACL), not the
  // cluster's passing trouble (a timeout, a broker down)
  std::vector<char> topic_failed;
};

}  // namespace

struct OutboxRelay::Impl {
  int wake_fd = -1;
  std::unique_ptr<Connection> conn;
  core::Counter* published = nullptr;
  core::Counter* failures = nullptr;
  core::Counter* set_aside = nullptr;
  core::Gauge* lag = nullptr;
  core::Gauge* failed_rows = nullptr;
  std::chrono::steady_clock::time_point next_cleanup{};
  std::chrono::steady_clock::time_point next_lag{};
  std::string table;
  std::string relay_table;  // outbox_relay: who holds the outbox, and how the last let go
  std::string inbox_table;
  const std::atomic<bool>* stopping = nullptr;  // stop() cuts an ack wait short
  // Topics whose records failed for a lasting reason (missing, no ACL): left out of the batches
  // until the time given, then tried again with the rest.
  std::map<std::string, std::chrono::steady_clock::time_point> held;

  // Adds the rows it marks to `total_marked`. Fails only when it marked none; some records
  // failing holds their topics back (`held`) and returns the rows marked.
  core::Result<std::size_t> batch(Connection& conn, kafka::Producer& producer,
                                  const OutboxRelayOptions& options,
                                  std::atomic<std::uint64_t>& total_marked);
  void update_lag(Connection& conn);
  void cleanup(Connection& conn, const OutboxRelayOptions& options);
  // Until the timeout, a wake-up (a local commit, stop()) or, with notifications, a NOTIFY.
  void wait(std::chrono::milliseconds timeout, bool notifications = true);
};

namespace {

// A row left for the next round holds back the later rows of its key (topic and key) that
// Kafka took in this batch: marked, they would stay before it in Kafka, and a compacted topic
// would keep the row sent again after them as the key's value. Left too, they go again after
// it, and the key ends as in the outbox (consumers' inboxes skip the second copies).
void hold_back_successors(std::vector<char>& marked, const std::vector<std::string>& topics,
                          const std::vector<std::string>& keys) {
  std::set<std::pair<std::string_view, std::string_view>> left;
  for (std::size_t i = 0; i < marked.size(); ++i) {
    if (keys[i].empty()) continue;  // no key: no order kept between such records anyway
    const std::pair<std::string_view, std::string_view> key{topics[i], keys[i]};
    if (marked[i] == 0) {
      left.insert(key);
    } else if (!left.empty() && left.count(key) > 0) {
      marked[i] = 0;
    }
  }
}

}  // namespace

core::Result<std::size_t> OutboxRelay::Impl::batch(Connection& conn, kafka::Producer& producer,
                                                   const OutboxRelayOptions& options,
                                                   std::atomic<std::uint64_t>& total_marked) {
  if (auto s = detail::begin(conn, {}); !s.ok()) return s.error();
  auto fail = [&](Error e) {
    detail::rollback(conn);
    failures->inc();
    return e;
  };
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(held, [&](const auto& kv) { return kv.second <= now; });
  std::string held_list = "{";
  for (const auto& [topic, until] : held) append_array_element(held_list, topic);
  held_list += '}';
  auto selected = conn.exec(  // carries the BEGIN
      "WITH batch AS (SELECT id, event_id, topic, key, payload, headers FROM " + table +
          " WHERE published_at IS NULL AND failed_at IS NULL AND topic <> ALL($2::text[]) ORDER "
          "BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
          "SELECT b.id, b.event_id::text, b.topic, b.key, b.payload, h.key, h.value "
          "FROM batch b LEFT JOIN LATERAL jsonb_each_text(b.headers) h ON true ORDER BY b.id",
      static_cast<std::int64_t>(options.batch_size), held_list);
  if (!selected) return fail(selected.error());
  const Rows& rows = *selected;

  std::vector<std::int64_t> ids;
  std::vector<kafka::Record> records;
  for (const auto& row : rows) {
    const auto id = row.get<std::int64_t>(0);
    if (ids.empty() || ids.back() != id) {
      ids.push_back(id);
      kafka::Record rec;
      rec.topic = row.get<std::string>(2);
      rec.key = row.get<std::string>(3);
      rec.value = row.get<std::string>(4);
      rec.headers.push_back({kEventIdHeader, row.get<std::string>(1)});
      records.push_back(std::move(rec));
    }
    if (!row.is_null(5)) {
      auto& headers = records.back().headers;
      auto key = row.get<std::string>(5);
      auto value = row.get<std::optional<std::string>>(6).value_or("");
      if (key == kEventIdHeader) {
        headers.front().value = std::move(value);  // the caller's own event id header wins
      } else {
        headers.push_back({std::move(key), std::move(value)});
      }
    }
  }
  if (ids.empty()) {
    if (auto s = detail::commit(conn); !s.ok()) return s.error();
    return std::size_t{0};
  }

  std::vector<std::string> topics;
  std::vector<std::string> keys;
  topics.reserve(records.size());
  keys.reserve(records.size());
  for (const auto& r : records) {
    topics.push_back(r.topic);
    keys.push_back(r.key);
  }
  auto acks = std::make_shared<Acks>();
  acks->pending = records.size();
  acks->refused.resize(records.size());
  acks->delivered.resize(records.size(), 0);
  acks->topic_failed.resize(records.size(), 0);
  for (std::size_t i = 0; i < records.size(); ++i) {
    producer.produce(std::move(records[i]), [acks, i](const kafka::DeliveryResult& r) {
      std::lock_guard lk(acks->mu);
      if (r.ok()) {
        acks->delivered[i] = 1;
      } else if (refused_for_good(r.error())) {
        acks->refused[i] = r.error();
      } else if (!r.ok()) {
        ++acks->failed;
        if (!acks->first_error) acks->first_error = r.error();
        if (!r.error().retryable()) acks->topic_failed[i] = 1;
      }
      if (--acks->pending == 0) acks->cv.notify_all();
    });
  }
  // Stopping with acks still missing, or some records failed: only the rows Kafka acknowledged
  // are marked (the rest stays for the next round or the next relay, which sends it again). One
  // topic missing or unwritable thus holds back only its own rows, not the whole outbox, and
  // what the other topics acknowledged is not sent again each round.
  std::vector<char> only;
  std::optional<Error> incomplete;   // some records not delivered
  std::vector<std::string> to_hold;  // topics their records failed for a lasting reason
  {
    std::unique_lock lk(acks->mu);
    // Waits in slices so that stop() never waits out a whole ack timeout, only stop_ack_wait
    // (what is still unacknowledged then stays unpublished, and the next relay sends it).
    auto deadline = std::chrono::steady_clock::now() + options.ack_timeout;
    bool stop_seen = false;
    while (acks->pending > 0 && std::chrono::steady_clock::now() < deadline) {
      if (!stop_seen && stopping != nullptr && stopping->load()) {
        stop_seen = true;  // a little longer, so that the rows are marked before the lock goes
        deadline = std::min(deadline, std::chrono::steady_clock::now() + options.stop_ack_wait);
      }
      acks->cv.wait_for(lk, std::chrono::milliseconds{100}, [&] { return acks->pending == 0; });
    }
    if (acks->pending > 0 && stop_seen) {
      core::log().warn(
          "outbox relay stopping before Kafka acknowledged its whole batch: the "
          "acknowledged rows are marked, the others stay for the next relay",
          {f::id("schema", table),
           f::num("unacknowledged", static_cast<std::int64_t>(acks->pending)),
           f::num("batch", static_cast<std::int64_t>(records.size()))});
      only = acks->delivered;
      for (std::size_t i = 0; i < only.size(); ++i) {
        if (acks->refused[i]) only[i] = 1;  // set aside below, as usual
      }
      if (std::find(only.begin(), only.end(), 1) == only.end()) {
        return fail(Error(Errc::cancelled, "relay stopping before Kafka acknowledged the batch"));
      }
    }
    if (acks->pending > 0 && only.empty()) {
      incomplete =
          Error(Errc::timeout,
                fmt::format("{} of {} outbox events not acknowledged by Kafka within {} ms",
                            acks->pending, records.size(), options.ack_timeout.count()));
    } else if (acks->failed > 0 && only.empty()) {
      incomplete = Error(Errc::unavailable,
                         fmt::format("{} of {} outbox events not delivered: {}", acks->failed,
                                     records.size(), acks->first_error->message()));
    }
    if (incomplete) {
      only = acks->delivered;
      for (std::size_t i = 0; i < only.size(); ++i) {
        if (acks->refused[i]) only[i] = 1;
      }
      for (std::size_t i = 0; i < only.size(); ++i) {
        if (acks->topic_failed[i] != 0) to_hold.push_back(topics[i]);
      }
      if (std::find(only.begin(), only.end(), 1) == only.end() && to_hold.empty()) {
        return fail(*incomplete);
      }
    }
  }
  if (!only.empty()) hold_back_successors(only, topics, keys);
  // A producer gone fatal fails every record, each "for good": none of them is at fault.
  if (auto fatal = producer.fatal_error()) {
    return fail(
        Error(Errc::unavailable, "the Kafka producer hit a fatal error: " + fatal->message() +
                                     "; the batch stays for the next process"));
  }
  // Topics whose records failed for a lasting reason wait a while: the next batches go on
  // without them (a key's records all go to one topic, so no key's order changes).
  const auto hold_until = std::chrono::steady_clock::now() + options.topic_hold;
  for (const auto& topic : to_hold) held[topic] = hold_until;
  if (options.after_ack_before_mark) options.after_ack_before_mark();

  // Rows Kafka refused for good (too large, say; a retry cannot help) are set aside with
  // their error, so that they hold no later row back; the rest is marked as usual.
  const std::string aside_sql =
      "UPDATE " + table + " SET failed_at = now(), last_error = $2 WHERE id = $1";
  std::vector<Params> aside;  // one statement per refused row (they are rare)
  std::string id_list = "{";
  std::size_t marked_rows = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!only.empty() && only[i] == 0) continue;  // not acknowledged: left for the next relay
    if (const auto& refused = acks->refused[i]) {
      aside.push_back(make_params(ids[i], core::scrub_text(refused->describe())));
      core::log().error(
          "outbox event refused by Kafka for good: set aside (failed_at), it "
          "holds no later event back",
          {f::id("schema", table), f::num("outbox_id", ids[i]),
           f::str("error", refused->describe())});
      continue;
    }
    if (id_list.size() > 1) id_list += ',';
    id_list += std::to_string(ids[i]);
    ++marked_rows;
  }
  id_list += '}';
  std::vector<Connection::Statement> last;
  last.reserve(aside.size() + 1);
  for (const auto& p : aside) last.push_back({aside_sql, &p});
  // Kept for the audit retention, or deleted at once (a DELETE leaves every index alone,
  // where setting published_at writes a new row version and new index entries).
  // The mark and the COMMIT: one round trip.
  const std::string mark =
      options.retention.count() > 0
          ? "UPDATE " + table + " SET published_at = now() WHERE id = ANY($1::bigint[])"
          : "DELETE FROM " + table + " WHERE id = ANY($1::bigint[])";
  const Params marked = make_params(id_list);
  last.push_back({mark, &marked});
  if (auto s = detail::commit(conn, nullptr, last); !s.ok()) {
    failures->inc();
    return s.error();
  }
  published->inc(static_cast<double>(marked_rows));
  total_marked += marked_rows;
  set_aside->inc(static_cast<double>(aside.size()));
  if (incomplete && marked_rows + aside.size() == 0) {
    // Nothing went: the relay backs off (its topics are held meanwhile).
    failures->inc();
    return *incomplete;
  }
  if (incomplete) {
    // The rest went: no backoff for the relay, only for the topics held.
    failures->inc();
    std::string names;
    for (const auto& [topic, until] : held) names += (names.empty() ? "" : ",") + topic;
    core::log().warn("outbox events not delivered: their topics wait, the others go on",
                     {f::id("schema", table), f::str("error", incomplete->message()),
                      f::id("held_topics", names),
                      f::num("marked", static_cast<std::int64_t>(marked_rows + aside.size()))});
  }
  return marked_rows;
}

void OutboxRelay::Impl::update_lag(Connection& conn) {
  // A gauge for scrapes: once a second is enough, and spares a query per batch under load.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_lag) return;
  next_lag = now + std::chrono::seconds{1};
  // Both gauges in one round trip: the oldest waiting row's age, and the rows set aside.
  auto r = conn.exec(
      "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8, (SELECT count(*) "
      "FROM " +
      table + " WHERE failed_at IS NOT NULL) FROM (SELECT created_at FROM " + table +
      " WHERE published_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT 1) oldest");
  if (r && !r->empty()) {
    lag->set(std::max(0.0, (*r)[0].get<double>(0)));
    failed_rows->set(static_cast<double>((*r)[0].get<std::int64_t>(1)));
  }
}

void OutboxRelay::Impl::cleanup(Connection& conn, const OutboxRelayOptions& options) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_cleanup) return;
  next_cleanup = now + options.cleanup_interval;
  // A slice per round of each table, so that a first cleanup of a long history holds no long
  // lock nor meets the statement timeout; a full slice brings the next round at once.
  constexpr int kOutboxSlice = 10000;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(options.retention).count();
  auto r = conn.exec("DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                         " WHERE published_at IS NOT NULL AND published_at < now() - "
                         "make_interval(secs => $1) LIMIT " +
                         std::to_string(kOutboxSlice) + ")",
                     static_cast<double>(secs));
  if (!r) {
    core::log().warn("outbox cleanup failed", {f::str("error", r.error().message())});
  } else {
    if (r->affected() > 0) core::log().info("outbox cleanup", {f::num("deleted", r->affected())});
    if (r->affected() >= kOutboxSlice) next_cleanup = now;
  }
  if (options.inbox_retention.count() <= 0) return;
  constexpr int kInboxSlice = 10000;
  const auto inbox_secs =
      std::chrono::duration_cast<std::chrono::seconds>(options.inbox_retention).count();
  auto in = conn.exec("DELETE FROM " + inbox_table + " WHERE (consumer, event_id) IN (SELECT " +
                          "consumer, event_id FROM " + inbox_table +
                          " WHERE processed_at < now() - make_interval(secs => $1) LIMIT " +
                          std::to_string(kInboxSlice) + ")",
                      static_cast<double>(inbox_secs));
  if (!in) {
    core::log().warn("inbox cleanup failed", {f::str("error", in.error().message())});
    return;
  }
  if (in->affected() > 0) core::log().info("inbox cleanup", {f::num("deleted", in->affected())});
  if (in->affected() >= kInboxSlice) next_cleanup = now;
}

void OutboxRelay::Impl::wait(std::chrono::milliseconds timeout, bool notifications) {
  if (!notifications) {
    pollfd fd{wake_fd, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) > 0 && (fd.revents & POLLIN) != 0) {
      std::uint64_t v = 0;
      (void)::read(wake_fd, &v, sizeof v);
    }
    return;
  }
  if (conn && !conn->take_notifications().empty()) return;  // arrived during the batch
  pollfd fds[2] = {{wake_fd, POLLIN, 0}, {conn ? conn->socket() : -1, POLLIN, 0}};
  const int r = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (r <= 0) return;
  if ((fds[0].revents & POLLIN) != 0) {
    std::uint64_t v = 0;
    (void)::read(wake_fd, &v, sizeof v);
  }
  if (conn && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
    if (conn->consume_input().ok()) (void)conn->take_notifications();
  }
}

OutboxRelay::OutboxRelay(std::shared_ptr<Pool> pool, std::shared_ptr<kafka::Producer> producer,
                         std::string schema, OutboxRelayOptions options)
    : pool_(std::move(pool)),
      producer_(std::move(producer)),
      schema_(std::move(schema)),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>()) {
  if (options_.batch_size == 0) options_.batch_size = 1;
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  impl_->table = quote_ident(schema_) + ".outbox";
  impl_->inbox_table = quote_ident(schema_) + ".inbox";
  impl_->relay_table = quote_ident(schema_) + ".outbox_relay";
  impl_->stopping = &stopping_;
  const core::Labels labels{{"schema", schema_}};
  auto& m = core::metrics();
  impl_->published = &m.counter("lia_outbox_published_total",
                                "Outbox events published to Kafka and marked sent", labels);
  impl_->failures = &m.counter("lia_outbox_failures_total",
                               "Outbox batches rolled back (Kafka or database failure)", labels);
  impl_->lag =
      &m.gauge("lia_outbox_lag_seconds", "Age of the oldest unpublished outbox event", labels);
  impl_->set_aside =
      &m.counter("lia_outbox_set_aside_total",
                 "Outbox events Kafka refused for good, set aside (failed_at)", labels);
  impl_->failed_rows = &m.gauge(
      "lia_outbox_failed_rows",
      "Outbox events set aside because Kafka refused them (clear failed_at to resend)", labels);
}

OutboxRelay::~OutboxRelay() {
  stop();
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

void OutboxRelay::start() {
  std::lock_guard lk(start_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void OutboxRelay::stop() {
  std::lock_guard lk(start_mu_);
  stopping_ = true;
  if (impl_->wake_fd >= 0) {
    const std::uint64_t one = 1;
    (void)::write(impl_->wake_fd, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

core::Result<std::size_t> OutboxRelay::publish_once() {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  return impl_->batch(**lease, *producer_, options_, published_);
}

core::Status OutboxRelay::take_over(Connection& conn, const std::string& holder,
                                    const core::Logger& log) {
  // Noted as not let go cleanly until a clean stop says otherwise; the last holder's note read
  // back (a sub-select of RETURNING sees the row as it was).
  auto r = conn.exec("INSERT INTO " + impl_->relay_table +
                         " (id, holder, released_clean) VALUES (1, $1, false) ON CONFLICT (id) DO "
                         "UPDATE SET holder = $1, released_clean = false, taken_at = now() "
                         "RETURNING (SELECT holder FROM " +
                         impl_->relay_table + " WHERE id = 1), (SELECT released_clean FROM " +
                         impl_->relay_table + " WHERE id = 1)",
                     holder);
  if (!r) return r.error();
  const auto last = (*r)[0].get<std::optional<std::string>>(0);
  const auto clean = (*r)[0].get<std::optional<bool>>(1);
  // The first relay ever, one that let go cleanly, or this process again with nothing of its
  // own in flight (its producer keeps a partition's records in order anyway).
  if (!last || clean.value_or(true) ||
      (*last == holder && producer_->flush(std::chrono::milliseconds{0}).ok())) {
    return core::ok();
  }
  if (options_.compacted_topics.empty()) return core::ok();
  const auto until = std::chrono::steady_clock::now() + options_.takeover_hold;
  for (const auto& topic : options_.compacted_topics) impl_->held[topic] = until;
  log.warn(
      "outbox relay took over from one that did not let go cleanly: compacted topics wait "
      "until its records in flight are delivered or expired",
      {f::id("last_holder", *last), f::num("hold_ms", options_.takeover_hold.count()),
       f::num("topics", static_cast<std::int64_t>(options_.compacted_topics.size()))});
  return core::ok();
}

void OutboxRelay::run() {
  const auto log = core::log().with({f::id("component", "outbox_relay"), f::id("schema", schema_)});
  const std::string lock_key = "lia.outbox:" + schema_;
  // This relay's name in the outbox_relay row: its host and process, and an id of this run
  // (another relay of the same process is another holder: its producer may be another).
  std::array<char, 256> host{};
  (void)::gethostname(host.data(), host.size() - 1);
  const std::string holder =
      fmt::format("{}:{}:{}", host.data(), ::getpid(), core::Uuid::v7().str());
  auto backoff = options_.retry_backoff;
  auto failed = [&](const Error& e, const char* what) {
    log.warn(what, {f::str("error", e.message()), f::num("backoff_ms", backoff.count())});
    // The whole backoff: this process's commits wake the relay, and would cut it short.
    const auto until = std::chrono::steady_clock::now() + backoff;
    for (auto now = std::chrono::steady_clock::now(); now < until && !stopping_;
         now = std::chrono::steady_clock::now()) {
      impl_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                      std::chrono::milliseconds{1},
                  false);
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  };
  // A relay that sees another one active reports nothing waiting: that one reports the
  // schema's lag, and a stale figure here would hold the alert up. (One that cannot reach the
  // database keeps its last figure: every replica may be in that state.)
  auto stand_by = [&] {
    impl_->lag->set(0);
    impl_->failed_rows->set(0);
  };
  // Lets the lock go: records of ours still in flight are delivered (or fail) first, else the
  // next relay could send a key's newer row first, and this late copy would end up last (a
  // compacted topic keeps it); with none left in flight, the next relay need not hold
  // anything back.
  auto release = [&] {
    detail::unregister_local_relay(schema_, impl_->wake_fd);
    if (auto st = producer_->flush(options_.stop_ack_wait); !st.ok()) {
      log.warn("outbox relay released its lock with records still in flight",
               {f::str("error", st.error().message())});
    } else if (auto& conn = impl_->conn; conn && conn->healthy()) {
      (void)conn->exec("UPDATE " + impl_->relay_table + " SET released_clean = true WHERE id = 1");
    }
    impl_->conn.reset();  // closing the session releases the lock
    active_ = false;
  };
  // Since when every batch failed, the database answering: the producer cannot deliver.
  bool failing = false;
  std::chrono::steady_clock::time_point failing_since{};
  while (!stopping_) {
    auto& conn = impl_->conn;
    if (!conn || !conn->healthy()) {
      if (active_) {
        log.warn("outbox relay lost its connection");
        detail::unregister_local_relay(schema_, impl_->wake_fd);
      }
      active_ = false;
      failing = false;  // (the lock went with the session)
      conn.reset();
      auto c = Connection::open(pool_->config());
      if (!c) {
        impl_->failures->inc();
        failed(c.error(), "outbox relay cannot connect");
        continue;
      }
      conn = std::move(*c);
      // The outbox is a queue: a few live rows among many deleted ones not vacuumed yet. A
      // plan cached while it looked empty would read all of them (sequential scan); through
      // the index, dead entries are skipped once seen. This session is the relay's alone.
      if (auto r = conn->exec_script("SET enable_seqscan = off; SET enable_bitmapscan = off; "
                                     "LISTEN " +
                                     quote_ident(outbox_channel(schema_)));
          !r) {
        conn.reset();
        failed(r.error(), "outbox relay cannot LISTEN");
        continue;
      }
    }
    if (!active_) {
      auto r = conn->exec("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key);
      if (!r) {
        failed(r.error(), "outbox relay cannot take its lock");
        continue;
      }
      if (!(*r)[0].get<bool>(0)) {
        stand_by();
        impl_->wait(options_.poll_interval);  // another relay is active: stand by
        continue;
      }
      active_ = true;
      // From here on, this process's commits wake the relay directly instead of notifying.
      detail::register_local_relay(schema_, impl_->wake_fd);
      log.info("outbox relay active");
      if (auto st = take_over(*conn, holder, log); !st.ok() && sqlstate(st.error()) == "42P01") {
        // The schema is behind this build (platform migration 4 not applied yet, the service's
        // wait for it skipped): the outbox goes on, as before the note existed.
        log.warn(
            "outbox relay: no outbox_relay table (platform migration 4), so no note of "
            "its takeover; apply the migrations");
      } else if (!st.ok()) {
        failed(st.error(), "outbox relay cannot note its takeover");
        conn.reset();  // the lock goes with the session; taken again next round
        active_ = false;
        detail::unregister_local_relay(schema_, impl_->wake_fd);
        continue;
      }
    }
    const auto batch_began = std::chrono::steady_clock::now();
    auto n = impl_->batch(*conn, *producer_, options_, published_);
    if (!n) {
      if (auto fatal = producer_->fatal_error()) {
        log.error("outbox relay: the Kafka producer hit a fatal error and must be recreated",
                  {f::str("error", fatal->message())});
      }
      // Kafka refusing leaves the database reachable: the age of what waits keeps growing on
      // the gauge (the alert LiaOutboxBehind watches it), not frozen at the last success.
      if (conn->healthy()) impl_->update_lag(*conn);
      const auto now = std::chrono::steady_clock::now();
      if (!conn->healthy()) {
        failing = false;  // the database's trouble: the lock goes with the session anyway
      } else if (!failing) {
        failing = true;
        failing_since = batch_began;  // (a batch Kafka cannot take fails after its ack timeout)
      } else if (options_.handover_after.count() > 0 &&
                 now - failing_since >= options_.handover_after) {
        log.warn(
            "outbox relay could not publish for a while: letting its lock go so that "
            "another replica's relay can (standing aside, then trying it again)",
            {f::str("error", n.error().message()),
             f::num("failing_ms",
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - failing_since)
                        .count()),
             f::num("stand_aside_ms", options_.stand_aside.count())});
        failing = false;
        release();
        const auto until = std::chrono::steady_clock::now() + options_.stand_aside;
        for (auto t = std::chrono::steady_clock::now(); t < until && !stopping_;
             t = std::chrono::steady_clock::now()) {
          impl_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(until - t) +
                          std::chrono::milliseconds{1},
                      false);
        }
        continue;
      }
      failed(n.error(), "outbox batch failed, will retry");
      continue;
    }
    failing = false;
    backoff = options_.retry_backoff;
    impl_->update_lag(*conn);
    impl_->cleanup(*conn, options_);
    if (*n == options_.batch_size) continue;  // probably more waiting
    impl_->wait(options_.poll_interval);
  }
  if (active_) release();
  impl_->conn.reset();
  active_ = false;
}

}  // namespace lia::pg
