#include <atomic>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <lia/core/metrics.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/outbox_relay.hpp>

#include "support.hpp"

using namespace lia;
using namespace std::chrono_literals;
using pg::Tx;
using pg::test::scalar;
using pg::test::TempSchema;

namespace {

// A producer that acks (or fails) at once and remembers what it was given.
class FakeProducer : public kafka::Producer {
 public:
  using kafka::Producer::produce;
  void produce(kafka::Record record, kafka::DeliveryCallback done) override {
    std::int64_t offset = 0;
    {
      std::lock_guard lk(mu_);
      records_.push_back(record);
      offset = static_cast<std::int64_t>(records_.size());
    }
    if (fail ||
        (!fail_containing.empty() && record.value.find(fail_containing) != std::string::npos)) {
      done(core::Error(core::Errc::unavailable, "broker down"));
    } else if (!missing_topic.empty() && record.topic == missing_topic) {
      done(core::Error(core::Errc::not_found, "kafka delivery: Broker: Unknown topic or partition",
                       false));
    } else if (unauthorized) {
      done(core::Error(core::Errc::unauthorized, "kafka delivery: Topic authorization failed",
                       false));
    } else if (fatal) {
      done(core::Error(core::Errc::internal, "kafka delivery: fatal: producer fenced", false));
    } else if (record.value.find(refuse_containing) != std::string::npos) {
      done(core::Error(core::Errc::too_large, "kafka delivery: Broker: Message size too large",
                       false));
    } else {
      done(kafka::Delivery{record.topic, 0, offset});
    }
  }
  core::Status flush(std::chrono::milliseconds) override { return core::ok(); }
  std::size_t in_flight() const override { return 0; }
  std::optional<core::Error> fatal_error() const override {
    if (fatal) return core::Error(core::Errc::internal, "producer fenced", false);
    return std::nullopt;
  }
  std::vector<kafka::Record> records() const {
    std::lock_guard lk(mu_);
    return records_;
  }
  std::atomic<bool> fail{false};
  std::atomic<bool> unauthorized{false};   // every record refused: an ACL missing
  std::atomic<bool> fatal{false};          // the producer went fatal
  std::string refuse_containing = "\x01";  // records whose value holds it are refused for good
  std::string missing_topic;               // records to it fail: the topic does not exist
  std::string fail_containing;             // records whose value holds it fail for now

 private:
  mutable std::mutex mu_;
  std::vector<kafka::Record> records_;
};

// How many records `p` was given for `topic`.
std::size_t sent_to(const FakeProducer& p, const std::string& topic) {
  std::size_t n = 0;
  for (const auto& r : p.records()) n += r.topic == topic ? 1 : 0;
  return n;
}

void migrate(TempSchema& s) {
  auto r = pg::migrate_service(s.pool, s.name, "svc", {});
  if (!r) FAIL(r.error().message());
}

std::vector<std::string> enqueue_n(TempSchema& s, const std::string& topic, int n, int keys) {
  std::vector<std::string> ids;
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    ids.clear();
    for (int i = 0; i < n; ++i) {
      ids.push_back(core::Uuid::v7().str());
      auto e = pg::enqueue(tx, s.name,
                           {.event_id = ids.back(),
                            .topic = topic,
                            .key = "chat-" + std::to_string(i % keys),
                            .payload = "{\"seq\":" + std::to_string(i) + "}",
                            .headers = {{"ce_type", "test.v1"}}});
      if (!e) return e.error();
    }
    return core::ok();
  });
  REQUIRE(r.ok());
  return ids;
}

std::int64_t unpublished(TempSchema& s) {
  return scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox WHERE published_at IS NULL");
}

}  // namespace

TEST_CASE("the relay marks nothing that Kafka did not acknowledge", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  auto ids = enqueue_n(s, "t.v1", 10, 3);
  auto producer = std::make_shared<FakeProducer>();
  producer->fail = true;
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 4});
  auto failed = relay.publish_once();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().retryable());
  CHECK(producer->records().size() == 4);  // tried the batch
  CHECK(unpublished(s) == 10);             // and marked none of it

  producer->fail = false;
  std::size_t total = 0;
  for (int i = 0; i < 5; ++i) {
    auto n = relay.publish_once();
    REQUIRE(n.ok());
    total += *n;
  }
  CHECK(total == 10);
  CHECK(unpublished(s) == 0);
  CHECK(relay.published() == 10);

  // After the failed try, the batch was sent again from the start, in id order, with headers.
  auto recs = producer->records();
  REQUIRE(recs.size() == 14);
  for (std::size_t i = 0; i < 10; ++i) {
    const auto& r = recs[4 + i];
    CHECK(r.topic == "t.v1");
    CHECK(r.value == "{\"seq\":" + std::to_string(i) + "}");
    CHECK(r.key == "chat-" + std::to_string(i % 3));
    std::map<std::string, std::string> h;
    for (const auto& x : r.headers) h[x.key] = x.value;
    CHECK(h["lia.event_id"] == ids[i]);
    CHECK(h["ce_type"] == "test.v1");
  }
}

TEST_CASE("a row Kafka refuses for good is set aside and holds no later row back", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 5, 2);  // seq 0..4
  auto producer = std::make_shared<FakeProducer>();
  producer->refuse_containing = "\"seq\":1}";
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 3});
  for (int i = 0; i < 3; ++i) REQUIRE(relay.publish_once().ok());
  CHECK(relay.published() == 4);
  // Every other row went once, in order; the refused one was tried once and set aside.
  std::vector<std::string> values;
  for (const auto& r : producer->records()) values.push_back(r.value);
  CHECK(values == std::vector<std::string>{"{\"seq\":0}", "{\"seq\":1}", "{\"seq\":2}",
                                           "{\"seq\":3}", "{\"seq\":4}"});
  CHECK(unpublished(s) == 1);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() +
                            ".outbox WHERE payload = '{\"seq\":1}' AND failed_at IS NOT NULL AND "
                            "last_error LIKE '%Message size too large%'") == 1);
  auto& set_aside = core::metrics().counter("lia_outbox_set_aside_total", "", {{"schema", s.name}});
  CHECK(set_aside.value() == 1);
  // Cleared by hand once the cause is fixed (a larger message.max.bytes, say): sent again.
  producer->refuse_containing = "\x01";
  REQUIRE(scalar(*s.pool, "WITH u AS (UPDATE " + s.q() +
                              ".outbox SET failed_at = NULL WHERE failed_at IS NOT NULL RETURNING "
                              "1) SELECT count(*) FROM u") == 1);
  REQUIRE(relay.publish_once().ok());
  CHECK(relay.published() == 5);
  CHECK(unpublished(s) == 0);
}

TEST_CASE("a row Kafka did not take holds back the later rows of its key, not others", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 5, 2);  // seq 0, 2, 4 of chat-0; 1, 3 of chat-1
  auto producer = std::make_shared<FakeProducer>();
  producer->fail_containing = "\"seq\":2}";
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 10});
  (void)relay.publish_once();
  // chat-1's rows went; chat-0's seq 4, which Kafka took, waits for seq 2.
  CHECK(relay.published() == 3);
  CHECK(unpublished(s) == 2);
  producer->fail_containing.clear();
  REQUIRE(relay.publish_once().ok());
  CHECK(unpublished(s) == 0);
  // What Kafka holds last of chat-0 is seq 4, as in the outbox, not seq 2 sent again.
  std::string last_of_chat0;
  for (const auto& r : producer->records()) {
    if (r.key == "chat-0") last_of_chat0 = r.value;
  }
  CHECK(last_of_chat0 == "{\"seq\":4}");
}

TEST_CASE("a producer gone fatal or an ACL missing sets no row aside: the batch waits", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 4, 2);
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.batch_size = 10, .topic_hold = std::chrono::milliseconds{100}});
  const std::string set_aside =
      "SELECT count(*) FROM " + s.q() + ".outbox WHERE failed_at IS NOT NULL";
  for (auto* mode : {&producer->unauthorized, &producer->fatal}) {
    *mode = true;
    auto n = relay.publish_once();
    CHECK_FALSE(n.ok());
    CHECK(unpublished(s) == 4);
    CHECK(scalar(*s.pool, set_aside) == 0);
    *mode = false;
    // (the missing ACL held its topic back a while)
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  // The cause gone, everything goes, in order.
  REQUIRE(relay.publish_once().ok());
  CHECK(unpublished(s) == 0);
  CHECK(relay.published() == 4);
}

TEST_CASE("a topic missing holds back only its own rows: the others go on without it", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 3, 3);
  enqueue_n(s, "new.v2", 2, 2);  // its topic is not created yet
  enqueue_n(s, "t.v1", 3, 3);
  auto producer = std::make_shared<FakeProducer>();
  producer->missing_topic = "new.v2";
  // Held for 2 s: the rounds that find it held take milliseconds, with room for a stalled
  // machine; the waits past it are the only sleeps.
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.batch_size = 4, .topic_hold = std::chrono::milliseconds{2000}});
  const auto round = [&] {
    const auto before = producer->records().size();
    auto n = relay.publish_once();
    return std::pair{n.ok() ? static_cast<std::int64_t>(*n) : std::int64_t{-1},
                     producer->records().size() - before};
  };
  // The first batch (3 of t.v1, 1 of new.v2): t.v1's are marked, and the round succeeds.
  CHECK(round() == std::pair<std::int64_t, std::size_t>{3, 4});
  // new.v2 sits out: the next batches hold t.v1's rows only, each sent once.
  CHECK(round() == std::pair<std::int64_t, std::size_t>{3, 3});
  CHECK(round() == std::pair<std::int64_t, std::size_t>{0, 0});
  CHECK(unpublished(s) == 2);
  CHECK(sent_to(*producer, "t.v1") == 6);
  CHECK(relay.published() == 6);
  // Past its hold, tried again: still missing, so nothing marked (a failure: the relay backs
  // off), and held again.
  std::this_thread::sleep_for(std::chrono::milliseconds{2100});
  CHECK(round() == std::pair<std::int64_t, std::size_t>{-1, 2});
  CHECK(round() == std::pair<std::int64_t, std::size_t>{0, 0});
  // Once the topic exists and its hold is over, its rows go, in order.
  producer->missing_topic.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds{2100});
  CHECK(round() == std::pair<std::int64_t, std::size_t>{2, 2});
  CHECK(unpublished(s) == 0);
  CHECK(relay.published() == 8);
  CHECK(sent_to(*producer, "t.v1") == 6);  // each once
}

// A producer whose acks come when the test says so.
class LateProducer : public kafka::Producer {
 public:
  using kafka::Producer::produce;
  void produce(kafka::Record record, kafka::DeliveryCallback done) override {
    std::lock_guard lk(mu_);
    records_.push_back(record);
    waiting_.push_back(std::move(done));
  }
  core::Status flush(std::chrono::milliseconds) override {
    if (on_flush) on_flush();
    return core::ok();
  }
  std::size_t in_flight() const override {
    std::lock_guard lk(mu_);
    return waiting_.size();
  }
  std::optional<core::Error> fatal_error() const override { return std::nullopt; }
  void ack_all() { ack_first(std::numeric_limits<std::size_t>::max()); }
  void ack_first(std::size_t n) {
    std::vector<kafka::DeliveryCallback> due;
    {
      std::lock_guard lk(mu_);
      n = std::min(n, waiting_.size());
      due.assign(std::make_move_iterator(waiting_.begin()),
                 std::make_move_iterator(waiting_.begin() + static_cast<std::ptrdiff_t>(n)));
      waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (auto& done : due) done(kafka::Delivery{"t.v1", 0, 1});
  }
  std::function<void()> on_flush;
  std::size_t produced() const {
    std::lock_guard lk(mu_);
    return records_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<kafka::Record> records_;
  std::vector<kafka::DeliveryCallback> waiting_;
};

TEST_CASE("a relay stopped while its batch waits for acks marks what Kafka then acknowledges",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 3, 1);
  auto producer = std::make_shared<LateProducer>();
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 10, .stop_ack_wait = 5s});
  relay.start();
  REQUIRE(testing::wait_until([&] { return producer->in_flight() == 3; }, 10s));
  std::thread stopper([&] { relay.stop(); });
  std::this_thread::sleep_for(300ms);  // stop() has begun and waits
  producer->ack_all();
  stopper.join();
  // Marked before the lock went: the next relay has nothing to send again.
  CHECK(unpublished(s) == 0);
  CHECK(producer->produced() == 3);
}

TEST_CASE(
    "a relay stopped with acks missing marks the acknowledged rows, then flushes holding "
    "its lock",
    "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 3, 1);
  auto producer = std::make_shared<LateProducer>();
  // Whether the relay's lock was still held when it flushed: another session can't take it.
  std::optional<bool> held_at_flush;
  producer->on_flush = [&] {
    auto r = s.pool->exec(
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got, "
        "pg_advisory_unlock(hashtextextended($1, 0)) AS released",
        "lia.outbox:" + s.name);
    if (r) held_at_flush = !(*r)[0].get<bool>(0);
  };
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 10, .stop_ack_wait = 300ms});
  relay.start();
  REQUIRE(testing::wait_until([&] { return producer->in_flight() == 3; }, 10s));
  producer->ack_first(2);  // the third is never acknowledged
  relay.stop();
  // The two acknowledged rows are not sent again by the next relay; the third is.
  CHECK(unpublished(s) == 1);
  CHECK(relay.published() == 2);
  REQUIRE(held_at_flush.has_value());
  CHECK(*held_at_flush);
}

TEST_CASE(
    "while Kafka refuses, the lag gauge shows the age of what waits, until another relay is active",
    "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 3, 1);
  REQUIRE(scalar(*s.pool, "WITH u AS (UPDATE " + s.q() +
                              ".outbox SET created_at = now() - interval '2 minutes' "
                              "RETURNING 1) SELECT count(*) FROM u") == 3);
  auto producer = std::make_shared<FakeProducer>();
  producer->fail = true;
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.batch_size = 10, .retry_backoff = 20ms, .max_backoff = 100ms});
  auto& lag = core::metrics().gauge("lia_outbox_lag_seconds", "", {{"schema", s.name}});
  relay.start();
  // Every batch fails, yet the gauge follows the oldest row (2 minutes), not the last success.
  CHECK(testing::wait_until([&] { return lag.value() >= 110; }, 10s));
  CHECK(relay.published() == 0);
  CHECK(unpublished(s) == 3);

  // Its session ends (a database blip), and another relay (this test) takes the lock first.
  auto other = pg::Connection::open({.url = testing::pg_url()});
  REQUIRE(other.ok());
  const std::string key = "lia.outbox:" + s.name;
  bool got = false;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    REQUIRE((*other)
                ->exec("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                       "'advisory' AND objsubid = 1 AND granted AND ((classid::bigint << 32) | "
                       "objid::bigint) = hashtextextended($1, 0) AND pid <> pg_backend_pid()",
                       key)
                .ok());
    auto r = (*other)->exec("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key);
    REQUIRE(r.ok());
    got = (*r)[0].get<bool>(0);
  }
  REQUIRE(got);
  CHECK(testing::wait_until([&] { return lag.value() == 0; }, 10s));
  CHECK_FALSE(relay.active());
  relay.stop();
}

TEST_CASE("a failing relay waits out its backoff though this process's commits wake it",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 1, 1);
  auto producer = std::make_shared<FakeProducer>();
  producer->fail = true;
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.batch_size = 10, .retry_backoff = 3s, .max_backoff = 3s});
  relay.start();
  REQUIRE(testing::wait_until([&] { return !producer->records().empty(); }, 10s));
  const auto first = producer->records().size();
  for (int i = 0; i < 20; ++i) {  // each commit wakes the relay
    enqueue_n(s, "t.v1", 1, 1);
    std::this_thread::sleep_for(25ms);
  }
  // Well inside the 3 s backoff: no batch at all (at most one, on a machine slow enough to
  // reach the backoff's end), where each wake-up used to send one.
  CHECK(producer->records().size() - first <= 10);
  relay.stop();
}

TEST_CASE("the running relay wakes on this process's commits, without a NOTIFY, and keeps rows",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  auto listener = pg::Connection::open({.url = testing::pg_url()});
  REQUIRE(listener.ok());
  auto& l = **listener;
  REQUIRE(l.exec_script("LISTEN " + pg::quote_ident(pg::outbox_channel(s.name))).ok());
  auto producer = kafka::Producer::create({.bootstrap = testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  // A poll interval far beyond the test's patience: only a wake-up can start a batch.
  pg::OutboxRelay relay(s.pool, std::shared_ptr<kafka::Producer>(std::move(*producer)), s.name,
                        {.batch_size = 10, .poll_interval = 10min});
  relay.start();
  REQUIRE(testing::wait_until([&] { return relay.active(); }));
  const std::string topic = testing::unique_name("pg_relay");
  enqueue_n(s, topic, 5, 4);
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }, 30s));
  // The relay now waits (for 10 minutes at most): these can only go out because the commit
  // woke it. Both write paths: rows inserted at once and rows queued for the commit.
  enqueue_n(s, topic, 20, 4);
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }, 30s));
  auto queued = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    for (int i = 0; i < 3; ++i) {
      pg::enqueue_at_commit(
          tx, s.name,
          {.event_id = core::Uuid::v7().str(), .topic = topic, .key = "k", .payload = "{}"});
    }
    return core::ok();
  });
  REQUIRE(queued.ok());
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }, 30s));
  CHECK(relay.published() == 28);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox") == 28);  // kept
  // None of those commits notified: the relay is in this process.
  REQUIRE(l.consume_input().ok());
  CHECK(l.take_notifications().empty());
  const auto text = core::metrics().render();
  CHECK_THAT(text, Catch::Contains("lia_outbox_published_total{schema=\"" + s.name + "\"}"));
  CHECK_THAT(text, Catch::Contains("lia_outbox_lag_seconds{schema=\"" + s.name + "\"}"));
  relay.stop();
  CHECK_FALSE(relay.active());
  // With no relay active here, a commit notifies again (for the relay of another process).
  enqueue_n(s, topic, 1, 1);
  CHECK(testing::wait_until(
      [&] { return l.consume_input().ok() && !l.take_notifications().empty(); }));
}

TEST_CASE("the running relay wakes on a NOTIFY from another process's commit", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay relay(s.pool, producer, s.name, {.poll_interval = 10min});
  relay.start();
  REQUIRE(testing::wait_until([&] { return relay.active(); }));
  REQUIRE(testing::wait_until([&] { return relay.published() == 0 && unpublished(s) == 0; }));
  // What a writer without a local relay commits: the row and a NOTIFY, on its own session.
  auto other = pg::Connection::open({.url = testing::pg_url()});
  REQUIRE(other.ok());
  REQUIRE((*other)
              ->exec_script("BEGIN; INSERT INTO " + s.q() +
                            ".outbox (event_id, topic, key, payload) VALUES ('" +
                            core::Uuid::v7().str() + "', 't.v1', 'k', '{}'); NOTIFY " +
                            pg::quote_ident(pg::outbox_channel(s.name)) + "; COMMIT")
              .ok());
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }, 30s));
  CHECK(relay.published() == 1);
  CHECK(producer->records().size() == 1);
  relay.stop();
}

TEST_CASE("only one relay per schema is active and a standby takes over", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay a(s.pool, producer, s.name, {.poll_interval = 100ms});
  pg::OutboxRelay b(s.pool, producer, s.name, {.poll_interval = 100ms});
  a.start();
  REQUIRE(testing::wait_until([&] { return a.active(); }));
  b.start();
  enqueue_n(s, "t.v1", 5, 2);
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }));
  CHECK_FALSE(b.active());
  CHECK(b.published() == 0);
  a.stop();
  REQUIRE(testing::wait_until([&] { return b.active(); }));
  enqueue_n(s, "t.v1", 5, 2);
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }));
  CHECK(a.published() == 5);
  CHECK(b.published() == 5);
  b.stop();
}

TEST_CASE("a relay whose producer cannot deliver lets its lock go to a standby that can",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  auto cut_off = std::make_shared<FakeProducer>();  // a pod that cannot reach Kafka
  cut_off->fail = true;
  auto fine = std::make_shared<FakeProducer>();
  pg::OutboxRelay a(s.pool, cut_off, s.name,
                    {.poll_interval = 100ms,
                     .retry_backoff = 50ms,
                     .max_backoff = 100ms,
                     .handover_after = 1s,
                     .stand_aside = std::chrono::minutes{10}});
  pg::OutboxRelay b(s.pool, fine, s.name,
                    {.poll_interval = 100ms,
                     .compacted_topics = {"c.v1"},
                     .takeover_hold = std::chrono::minutes{10}});
  a.start();
  REQUIRE(testing::wait_until([&] { return a.active(); }));
  b.start();
  enqueue_n(s, "t.v1", 5, 2);
  enqueue_n(s, "c.v1", 2, 2);
  // a keeps failing, b stands by, until a has failed for handover_after.
  REQUIRE(testing::wait_until([&] { return cut_off->records().size() >= 10; }));
  CHECK_FALSE(b.active());
  REQUIRE(testing::wait_until([&] { return b.active(); }));
  REQUIRE(testing::wait_until([&] { return unpublished(s) == 0; }));
  CHECK_FALSE(a.active());  // standing aside
  CHECK(b.published() == 7);
  CHECK(sent_to(*fine, "t.v1") == 5);
  CHECK(a.published() == 0);
  // Nothing of a's was in flight when it let go, and its note said so: b held back none of
  // the compacted topic's rows.
  CHECK(sent_to(*fine, "c.v1") == 2);
  b.stop();
  a.stop();
}

TEST_CASE("with a retention of 0 the relay deletes rows once Kafka has them, not before",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  enqueue_n(s, "t.v1", 6, 2);
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay relay(s.pool, producer, s.name, {.batch_size = 100, .retention = 0h});
  producer->fail = true;
  REQUIRE_FALSE(relay.publish_once().ok());
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox") == 6);  // none lost
  producer->fail = false;
  auto n = relay.publish_once();
  REQUIRE(n.ok());
  CHECK(*n == 6);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox") == 0);
  CHECK(producer->records().size() == 12);  // the failed try, then the six again
}

TEST_CASE("the running relay deletes inbox claims past their retention and keeps the rest",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  // Three claims of 50 days ago, two of 40: the retention is 45 days.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(s.pool
                ->exec("INSERT INTO " + s.q() +
                           ".inbox (consumer, event_id, processed_at) VALUES ('c', $1, now() - "
                           "make_interval(days => $2))",
                       "e" + std::to_string(i), i < 3 ? 50 : 40)
                .ok());
  }
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay relay(
      s.pool, producer, s.name,
      {.poll_interval = 20ms, .inbox_retention = 45h * 24, .cleanup_interval = 10ms});
  relay.start();
  const std::string left = "SELECT count(*) FROM " + s.q() + ".inbox";
  CHECK(lia::testing::wait_until([&] { return scalar(*s.pool, left) == 2; }, 10s));
  relay.stop();
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() +
                            ".inbox WHERE processed_at > now() - interval '45 days'") == 2);
}

TEST_CASE("the relay's outbox cleanup goes on slice after slice past its retention", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  // 25,000 rows published 10 days ago (more than two slices), 3 published an hour ago.
  REQUIRE(s.pool
              ->exec("INSERT INTO " + s.q() +
                     ".outbox (event_id, topic, key, payload, published_at) SELECT "
                     "gen_random_uuid(), 't', 'k', '{}', now() - interval '10 days' FROM "
                     "generate_series(1, 25000)")
              .ok());
  REQUIRE(s.pool
              ->exec("INSERT INTO " + s.q() +
                     ".outbox (event_id, topic, key, payload, published_at) SELECT "
                     "gen_random_uuid(), 't', 'k', '{}', now() - interval '1 hour' FROM "
                     "generate_series(1, 3)")
              .ok());
  auto producer = std::make_shared<FakeProducer>();
  // One cleanup an hour: the slices after the first come at once, not an hour apart.
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.poll_interval = 20ms, .retention = 24h, .cleanup_interval = 1h});
  relay.start();
  const std::string left = "SELECT count(*) FROM " + s.q() + ".outbox";
  CHECK(lia::testing::wait_until([&] { return scalar(*s.pool, left) == 3; }, 20s));
  relay.stop();
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() +
                            ".outbox WHERE published_at > now() - interval '1 day'") == 3);
}

TEST_CASE("a relay taking over from one that did not let go cleanly holds the compacted topics",
          "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  // The last holder is gone without noting a clean release (a crash, a lost session).
  REQUIRE(s.pool
              ->exec("INSERT INTO " + s.name +
                     ".outbox_relay (id, holder, released_clean) VALUES (1, 'gone:1:0x1', false)")
              .ok());
  enqueue_n(s, "users.v1", 1, 1);
  enqueue_n(s, "t.v1", 1, 1);
  const pg::OutboxRelayOptions options{.poll_interval = 100ms,
                                       .compacted_topics = {"users.v1"},
                                       .takeover_hold = std::chrono::minutes{10}};
  {
    auto producer = std::make_shared<FakeProducer>();
    pg::OutboxRelay relay(s.pool, producer, s.name, options);
    relay.start();
    // The other topics go at once; the compacted one waits out the records that relay may
    // have had in flight.
    REQUIRE(testing::wait_until([&] { return unpublished(s) == 1; }, 20s));  // sent, marked
    CHECK(relay.active());
    CHECK(sent_to(*producer, "t.v1") == 1);
    CHECK(sent_to(*producer, "users.v1") == 0);
    relay.stop();  // its producer flushed: a clean release, noted
  }
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.name + ".outbox_relay WHERE released_clean") ==
        1);
  // The next one holds nothing back.
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay next(s.pool, producer, s.name, options);
  next.start();
  CHECK(testing::wait_until([&] { return unpublished(s) == 0; }, 20s));
  CHECK(sent_to(*producer, "users.v1") == 1);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.name + ".outbox_relay WHERE released_clean") ==
        0);
  next.stop();
}

TEST_CASE("a relay on a schema without its outbox_relay table publishes as before", "[relay]") {
  TempSchema s("pgrelay");
  migrate(s);
  REQUIRE(s.pool->exec("DROP TABLE " + s.name + ".outbox_relay").ok());
  enqueue_n(s, "users.v1", 2, 2);
  auto producer = std::make_shared<FakeProducer>();
  pg::OutboxRelay relay(s.pool, producer, s.name,
                        {.poll_interval = 100ms,
                         .compacted_topics = {"users.v1"},
                         .takeover_hold = std::chrono::minutes{10}});
  relay.start();
  CHECK(testing::wait_until([&] { return unpublished(s) == 0; }, 20s));
  CHECK(relay.active());
  relay.stop();
}
