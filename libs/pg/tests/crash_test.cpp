// Crash safety of the outbox and the inbox: processes SIGKILLed at the worst moment lose
// nothing and apply nothing twice.

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

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

constexpr int kSigkilled = 128 + 9;

void setup(TempSchema& s) {
  auto r = pg::migrate_service(s.pool, s.name, "svc", {});
  if (!r) FAIL(r.error().message());
  // No unique constraint on purpose: a double application would show as a duplicate row.
  REQUIRE(s.pool
              ->exec("CREATE TABLE " + s.q() +
                     ".effects (event_id text NOT NULL, applied_by "
                     "text NOT NULL)")
              .ok());
}

kafka::ConsumerConfig consumer_config(const std::string& topic, const std::string& group) {
  kafka::ConsumerConfig cfg;
  cfg.bootstrap = testing::kafka_bootstrap();
  cfg.group_id = group;
  cfg.topics = {topic};
  cfg.client_id = "pg-crash-test";
  cfg.session_timeout = std::chrono::milliseconds{6000};  // what the mock broker needs
  cfg.heartbeat_interval = std::chrono::milliseconds{500};
  return cfg;
}

std::shared_ptr<kafka::Producer> producer() {
  auto p = kafka::Producer::create(
      {.bootstrap = testing::kafka_bootstrap(), .client_id = "pg-crash-test"});
  REQUIRE(p.ok());
  return std::shared_ptr<kafka::Producer>(std::move(*p));
}

// Applies each message once with the inbox, counting what it saw.
struct InboxApplier {
  TempSchema& s;
  std::string consumer;
  std::mutex mu;
  std::map<std::string, int> seen;  // event id -> deliveries
  std::map<std::string, std::vector<int>> first_seq_by_key;
  int total = 0;
  int skipped = 0;

  core::Status handle(const kafka::Message& m) {
    const std::string* id = m.header("lia.event_id");
    if (id == nullptr) return core::Error(core::Errc::invalid_argument, "no lia.event_id");
    auto claimed = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<bool> {
      auto c = pg::inbox_claim(tx, s.name, consumer, *id);
      if (!c) return c.error();
      if (*c) {
        auto e = tx.exec("INSERT INTO " + s.q() + ".effects VALUES ($1, $2)", *id, "test");
        if (!e) return e.error();
      }
      return *c;
    });
    if (!claimed) return claimed.error();
    std::lock_guard lk(mu);
    ++total;
    if (++seen[*id] == 1) {
      // payload is {"seq":N}
      const auto colon = m.value.find(':');
      if (colon != std::string::npos) {
        first_seq_by_key[m.key].push_back(std::stoi(m.value.substr(colon + 1)));
      }
    }
    if (!*claimed) ++skipped;
    return core::ok();
  }
};

}  // namespace

TEST_CASE(
    "an outbox relay SIGKILLed between Kafka's ack and marking the rows re-sends them, "
    "and the inbox applies every event exactly once",
    "[crash][relay]") {
  TempSchema s("pgcrash_relay");
  setup(s);
  const std::string topic = testing::unique_name("pg_crash_relay");
  constexpr int kEvents = 200;
  constexpr int kBatch = 50;
  std::vector<std::string> ids;
  for (int chunk = 0; chunk < kEvents / 50; ++chunk) {
    auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
      for (int i = chunk * 50; i < (chunk + 1) * 50; ++i) {
        const std::string id = core::Uuid::v7().str();
        auto e = pg::enqueue(tx, s.name,
                             {.event_id = id,
                              .topic = topic,
                              .key = "chat-" + std::to_string(i % 7),
                              .payload = "{\"seq\":" + std::to_string(i) + "}"});
        if (!e) return e.error();
        ids.push_back(id);
      }
      return core::ok();
    });
    REQUIRE(r.ok());
  }
  REQUIRE(ids.size() == static_cast<std::size_t>(kEvents));

  // 1. The relay dies right after its first batch was acknowledged.
  testing::Process crashing(
      {LIA_PG_TEST_HELPER, "relay", s.name, std::to_string(kBatch), "--kill-after-ack"});
  const auto rc = crashing.wait(60s);
  INFO("relay output:\n" << crashing.output());
  REQUIRE(rc == kSigkilled);
  REQUIRE_THAT(crashing.output(), Catch::Contains("first batch acknowledged"));
  // Kafka has the first batch, but the database never heard of it.
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox WHERE published_at IS NULL") ==
        kEvents);

  // 2. A relay started normally publishes everything, the first batch again.
  {
    pg::OutboxRelay relay(s.pool, producer(), s.name,
                          {.batch_size = kBatch, .poll_interval = 200ms});
    relay.start();
    REQUIRE(testing::wait_until(
        [&] {
          return scalar(*s.pool, "SELECT count(*) FROM " + s.q() +
                                     ".outbox WHERE published_at IS NULL") == 0;
        },
        60s));
    relay.stop();
    CHECK(relay.published() == static_cast<std::uint64_t>(kEvents));
  }

  // 3. A consumer applying with the inbox sees duplicates and applies each event once.
  InboxApplier applier{s, "relay-crash-consumer"};
  auto consumer = kafka::Consumer::create(
      consumer_config(topic, testing::unique_name("pg_crash_relay_group")),
      [&](const kafka::Message& m) { return applier.handle(m); }, nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  const bool all = testing::wait_until(
      [&] {
        std::lock_guard lk(applier.mu);
        return applier.total >= kEvents + kBatch;
      },
      90s);
  (*consumer)->close();
  std::lock_guard lk(applier.mu);
  INFO("delivered " << applier.total << ", distinct " << applier.seen.size());
  REQUIRE(all);
  CHECK(applier.seen.size() == static_cast<std::size_t>(kEvents));
  for (const auto& id : ids) CHECK(applier.seen.count(id) == 1);
  // The first batch was sent twice: before the crash and after it.
  int duplicated = 0;
  for (int i = 0; i < kBatch; ++i) duplicated += applier.seen[ids[i]] >= 2 ? 1 : 0;
  CHECK(duplicated == kBatch);
  CHECK(applier.total == kEvents + kBatch);
  CHECK(applier.skipped == kBatch);
  // Events of one key arrived in the order they were written.
  for (const auto& [key, seqs] : applier.first_seq_by_key) {
    INFO("key " << key);
    CHECK(std::is_sorted(seqs.begin(), seqs.end()));
  }
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".effects") == kEvents);
  CHECK(scalar(*s.pool, "SELECT count(DISTINCT event_id) FROM " + s.q() + ".effects") == kEvents);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".inbox") == kEvents);
}

TEST_CASE(
    "a consumer SIGKILLed after its database commit and before its offset commit "
    "applies every event exactly once after a restart",
    "[crash][inbox]") {
  TempSchema s("pgcrash_inbox");
  setup(s);
  const std::string topic = testing::unique_name("pg_crash_consumer");
  const std::string group = testing::unique_name("pg_crash_consumer_group");
  constexpr int kEvents = 100;
  constexpr int kKillAfter = 50;

  auto prod = producer();
  std::vector<std::future<kafka::DeliveryResult>> acks;
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    const std::string id = core::Uuid::v7().str();
    ids.insert(id);
    acks.push_back(prod->produce(kafka::Record{.topic = topic,
                                               .key = "chat-" + std::to_string(i % 5),
                                               .value = "{\"seq\":" + std::to_string(i) + "}",
                                               .headers = {{"lia.event_id", id}}}));
  }
  for (auto& a : acks) REQUIRE(a.get().ok());

  // 1. The consumer dies right after committing the 50th effect, before its offset is stored.
  testing::Process crashing({LIA_PG_TEST_HELPER, "consume", s.name, topic, group, "crash-consumer",
                             std::to_string(kKillAfter)});
  const auto rc = crashing.wait(90s);
  INFO("consumer output:\n" << crashing.output());
  REQUIRE(rc == kSigkilled);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".effects") == kKillAfter);

  // 2. A consumer in the same group takes over from the last committed offsets.
  InboxApplier applier{s, "crash-consumer"};
  auto consumer = kafka::Consumer::create(
      consumer_config(topic, group), [&](const kafka::Message& m) { return applier.handle(m); },
      nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  // The message whose effect committed right before the kill was never marked consumed, so
  // it must come again (as may others of the unstored or uncommitted offsets).
  const bool done = testing::wait_until(
      [&] {
        {
          std::lock_guard lk(applier.mu);
          if (applier.skipped < 1) return false;
        }
        return scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".effects") >= kEvents;
      },
      90s);
  (*consumer)->close();
  REQUIRE(done);
  std::lock_guard lk(applier.mu);
  INFO("delivered after restart " << applier.total << ", skipped " << applier.skipped);
  CHECK(applier.skipped >= 1);
  CHECK(applier.total == applier.skipped + (kEvents - kKillAfter));
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".effects") == kEvents);
  CHECK(scalar(*s.pool, "SELECT count(DISTINCT event_id) FROM " + s.q() + ".effects") == kEvents);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".inbox") == kEvents);
  auto rows = s.pool->exec("SELECT event_id FROM " + s.q() + ".effects");
  REQUIRE(rows.ok());
  std::set<std::string> applied;
  for (const auto& r : *rows) applied.insert(r.get<std::string>(0));
  CHECK(applied == ids);
}
