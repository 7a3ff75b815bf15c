// The runtime's batched consumer path (group commit: records fetched together share one
// pg::Batch, their inbox claims checked with one look-up and written at commit, a failing
// record reruns them one by one), driven through lia-runtime-probe with LIA_PROBE_EFFECTS:
// a SIGKILL between a batch's database commit and its offset commit, a SIGKILL in the middle
// of a batch, and a retryable failure in the middle of a batch, apply every event exactly once.

#include <algorithm>
#include <regex>
#include <set>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>

#include <lia/core/uuid.hpp>
#include <lia/http/client.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "probe_support.hpp"

using lia::probe::test::migrated_probe;
using lia::probe::test::probe;
using lia::probe::test::ready_port;
using lia::testing::drop_schema;
using lia::testing::Process;
using namespace std::chrono_literals;

namespace {

constexpr int kSigkilled = 128 + 9;

// One "probe effect" log line: a handling of a record by LIA_PROBE_EFFECTS.
struct Handling {
  std::string event_id;
  std::int64_t batch = 0;   // the probe's batch number; 0: handled alone
  std::int64_t joined = 0;  // records of the batch handled before this one
  bool fresh = false;       // its inbox claim was new
  bool failed = false;
};

std::vector<Handling> handlings(const std::string& output) {
  static const std::regex line(
      R"re("msg":"probe effect","event_id":"([^"]+)","batch":([0-9]+),"joined":([0-9]+),"fresh":(true|false),"failed":(true|false))re");
  std::vector<Handling> out;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), line);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    out.push_back({m[1], std::stoll(m[2]), std::stoll(m[3]), m[4] == "true", m[5] == "true"});
  }
  return out;
}

std::shared_ptr<lia::pg::Pool> pool() {
  lia::pg::PoolConfig pc;
  pc.url = lia::testing::pg_url();
  pc.size = 2;
  auto p = lia::pg::Pool::create(pc);
  REQUIRE(p.ok());
  return *p;
}

// The number a one-row query answers.
std::int64_t number(const lia::core::Result<lia::pg::Rows>& r) {
  if (!r) FAIL(r.error().message());
  REQUIRE(r->size() == 1);
  return (*r)[0].get<std::int64_t>(0);
}

std::int64_t scalar(lia::pg::Pool& db, const std::string& sql) {
  return number(db.exec(sql));
}

std::int64_t scalar(lia::pg::Pool& db, const std::string& sql, const std::string& arg) {
  return number(db.exec(sql, arg));
}

std::multiset<std::string> effect_ids(lia::pg::Pool& db, const std::string& schema) {
  auto rows = db.exec("SELECT event_id FROM " + schema + ".effects");
  REQUIRE(rows.ok());
  std::multiset<std::string> out;
  for (const auto& r : *rows) out.insert(r.get<std::string>(0));
  return out;
}

// Produces n records on `topic`, each with a lia.event_id header of its own, and waits for
// their acks. Returns the event ids.
std::vector<std::string> produce_events(const std::string& topic, int n) {
  auto producer = lia::kafka::Producer::create({.bootstrap = lia::testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  std::vector<std::string> ids;
  std::vector<std::future<lia::kafka::DeliveryResult>> acks;
  for (int i = 0; i < n; ++i) {
    ids.push_back(lia::core::Uuid::v7().str());
    acks.push_back((*producer)->produce({.topic = topic,
                                         .key = "chat-" + std::to_string(i % 5),
                                         .value = "{\"seq\":" + std::to_string(i) + "}",
                                         .headers = {{"lia.event_id", ids.back()}}}));
  }
  for (auto& a : acks) REQUIRE(a.get().ok());
  return ids;
}

// Whether the probe's log shows a handling of each of `ids`.
bool seen_all(const std::string& output, const std::vector<std::string>& ids) {
  std::set<std::string> seen;
  for (const auto& h : handlings(output)) seen.insert(h.event_id);
  return std::all_of(ids.begin(), ids.end(), [&seen](const auto& id) { return seen.contains(id); });
}

// Runs the probe with `env` and the crash hook `crash` (its settings) until it SIGKILLs
// itself, logging `marker`; its output.
std::string crashed_output(std::map<std::string, std::string> env,
                           const std::map<std::string, std::string>& crash,
                           std::string_view marker) {
  for (const auto& kv : crash) env[kv.first] = kv.second;
  Process crashing({probe()}, env);
  const auto rc = crashing.wait(90s);
  auto out = crashing.output();
  INFO("crashed probe's output:\n" << out);
  REQUIRE(rc == std::optional<int>(kSigkilled));
  REQUIRE(out.find(marker) != std::string::npos);
  return out;
}

}  // namespace

TEST_CASE(
    "a batching consumer SIGKILLed after a batch's database commit and before its offset commit "
    "applies every event exactly once after a restart",
    "[crash]") {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env["LIA_PROBE_EFFECTS"] = "true";
  env["LIA_CONSUMER_BATCH"] = "10";
  env["LIA_OUTBOX_RETENTION_HOURS"] = "1";  // published outbox rows stay, to be counted
  constexpr int kEvents = 60;
  // All in the log before the probe starts, so that its fetches bring many records at once.
  const auto ids = produce_events(env.at("LIA_PROBE_TOPIC"), kEvents);
  auto db = pool();

  // 1. The probe dies as its third batch starts: the first two committed in the database, and
  // their offsets were stored but not committed. In production the auto commit sends stored
  // offsets within a second; here it would only in ten minutes, so the kill surely falls in
  // that window.
  const auto crash_out =
      crashed_output(env,
                     {{"LIA_PROBE_SIGKILL_AFTER_BATCHES", "2"},
                      {"LIA_KAFKA_PROPERTIES", "auto.commit.interval.ms=600000"}},
                     "probe SIGKILL");
  INFO("crashed probe's output:\n" << crash_out);
  const auto before = effect_ids(*db, schema);
  // Two batches of at least two records each (records handled alone may have come first).
  REQUIRE(before.size() >= 4);
  REQUIRE(before.size() < static_cast<std::size_t>(kEvents));
  CHECK(std::set<std::string>(before.begin(), before.end()).size() == before.size());
  // What the probe claimed before the kill is exactly what committed.
  std::set<std::string> claimed_before;
  for (const auto& h : handlings(crash_out)) {
    CHECK(h.batch <= 2);
    if (h.fresh && !h.failed) claimed_before.insert(h.event_id);
  }
  CHECK(claimed_before == std::set<std::string>(before.begin(), before.end()));

  // 2. Restarted in the same group, it is given every record again from the last committed
  // offsets: those of the committed batches meet their inbox claims and change nothing.
  Process svc({probe()}, env);
  const auto skipped = [&] {
    std::set<std::string> out;
    for (const auto& h : handlings(svc.output())) {
      if (!h.fresh && !h.failed) out.insert(h.event_id);
    }
    return out;
  };
  const bool done = lia::testing::wait_until(
      [&] {
        return seen_all(svc.output(), ids) &&
               scalar(*db, "SELECT count(*) FROM " + schema + ".effects") >= kEvents;
      },
      90s, 100ms);
  svc.signal(SIGTERM);
  const auto code = svc.wait(30s);
  const auto out = svc.output();
  INFO("restarted probe's output:\n" << out);
  // Every record committed before the kill came again (its offset had not reached Kafka) and
  // was skipped; nothing else was.
  CHECK(skipped() == std::set<std::string>(before.begin(), before.end()));
  REQUIRE(done);
  CHECK(code == std::optional<int>(0));

  // One effect, one inbox claim and one outbox event per event id: nothing applied twice,
  // nothing lost.
  const auto after = effect_ids(*db, schema);
  CHECK(after.size() == static_cast<std::size_t>(kEvents));
  CHECK(std::set<std::string>(after.begin(), after.end()) ==
        std::set<std::string>(ids.begin(), ids.end()));
  CHECK(scalar(*db, "SELECT count(*) FROM " + schema + ".inbox WHERE consumer = 'probe.effects'") ==
        kEvents);
  CHECK(scalar(*db, "SELECT count(*) FROM " + schema + ".outbox") == kEvents);
  CHECK(scalar(*db, "SELECT count(DISTINCT key) FROM " + schema + ".outbox") == kEvents);
  // Skipped inside a batch: by the batch's one inbox look-up of the records' event ids.
  bool skipped_in_batch = false;
  for (const auto& h : handlings(out)) skipped_in_batch |= !h.fresh && h.batch > 0;
  CHECK(skipped_in_batch);

  drop_schema(schema);
}

TEST_CASE(
    "a batching consumer SIGKILLed in the middle of a batch, after an auto commit, loses none of "
    "its records",
    "[crash]") {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env["LIA_PROBE_EFFECTS"] = "true";
  env["LIA_CONSUMER_BATCH"] = "10";
  constexpr int kEvents = 60;
  const auto ids = produce_events(env.at("LIA_PROBE_TOPIC"), kEvents);
  auto db = pool();

  // 1. The probe stalls in its third batch, one record's writes made and not committed, while
  // auto commits run every 100 ms, then dies. An offset stored before its batch committed
  // would reach Kafka in that stall, and the record would never come again.
  const auto crash_out = crashed_output(env,
                                        {{"LIA_PROBE_SIGKILL_IN_BATCH", "3"},
                                         {"LIA_KAFKA_PROPERTIES", "auto.commit.interval.ms=100"}},
                                        "probe SIGKILL mid-batch");
  INFO("crashed probe's output:\n" << crash_out);
  std::set<std::string> uncommitted;  // handled in the killed batch: rolled back with it
  for (const auto& h : handlings(crash_out)) {
    if (h.batch == 3) uncommitted.insert(h.event_id);
  }
  REQUIRE(uncommitted.size() == 1);
  const auto before = effect_ids(*db, schema);
  CHECK_FALSE(before.contains(*uncommitted.begin()));

  // 2. Restarted, it is given that record again, and every other one whose offset was not
  // committed (those of the first batches were, in the stall: they do not come again).
  Process svc({probe()}, env);
  const bool done = lia::testing::wait_until(
      [&] {
        return seen_all(svc.output(), {*uncommitted.begin()}) &&
               scalar(*db, "SELECT count(*) FROM " + schema + ".effects") >= kEvents;
      },
      60s, 100ms);
  svc.signal(SIGTERM);
  const auto code = svc.wait(30s);
  INFO("restarted probe's output:\n" << svc.output());
  CHECK(done);
  CHECK(code == std::optional<int>(0));
  const auto after = effect_ids(*db, schema);
  CHECK(after.size() == static_cast<std::size_t>(kEvents));
  CHECK(std::set<std::string>(after.begin(), after.end()) ==
        std::set<std::string>(ids.begin(), ids.end()));
  drop_schema(schema);
}

TEST_CASE(
    "a record failing with a retryable error mid-batch undoes the batch, whose records rerun "
    "alone and apply once each, leaking no effect nor outbox row",
    "[batch]") {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env["LIA_PROBE_EFFECTS"] = "true";
  env["LIA_CONSUMER_BATCH"] = "20";
  env["LIA_OUTBOX_RETENTION_HOURS"] = "1";  // published outbox rows stay, to be counted
  // The first record handled in a batch after three others makes its writes, then fails.
  env["LIA_PROBE_FAIL_AT_JOINED"] = "3";
  constexpr int kEvents = 30;
  const auto ids = produce_events(env.at("LIA_PROBE_TOPIC"), kEvents);
  auto db = pool();

  Process svc({probe()}, env);
  REQUIRE(lia::testing::wait_until([&] { return ready_port(svc) > 0 || !svc.running(); }, 30s));
  const int port = ready_port(svc);
  const bool done = lia::testing::wait_until(
      [&] {
        return seen_all(svc.output(), ids) &&
               scalar(*db, "SELECT count(*) FROM " + schema + ".effects") >= kEvents;
      },
      90s, 100ms);
  std::string metrics;
  if (port > 0) {
    lia::http::Client client;
    auto r = client.get("http://127.0.0.1:" + std::to_string(port) + "/metrics");
    if (r.ok()) metrics = r->body;
  }
  svc.signal(SIGTERM);
  const auto code = svc.wait(30s);
  const auto out = svc.output();
  INFO("probe's output:\n" << out);
  REQUIRE(port > 0);
  CHECK(scalar(*db, "SELECT count(*) FROM " + schema + ".effects") == kEvents);
  REQUIRE(done);
  CHECK(code == std::optional<int>(0));

  // The batch the failure undid: the failing record and the three before it.
  const auto all = handlings(out);
  std::size_t failed_at = all.size();
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (all[k].failed) {
      CHECK(failed_at == all.size());  // once
      failed_at = k;
    }
  }
  REQUIRE(failed_at < all.size());
  const Handling& failing = all[failed_at];
  REQUIRE(failing.batch > 0);
  CHECK(failing.joined == 3);
  std::vector<std::string> undone;
  for (std::size_t k = 0; k < failed_at; ++k) {
    if (all[k].batch == failing.batch) undone.push_back(all[k].event_id);
  }
  CHECK(undone.size() == 3);
  undone.push_back(failing.event_id);
  const std::string effects_of = "SELECT count(*) FROM " + schema + ".effects WHERE event_id = $1";
  const std::string outbox_of = "SELECT count(*) FROM " + schema + ".outbox WHERE key = $1";
  // Each of them ran again alone after the failure, and its claim was fresh there: the batch's
  // claims, effects and outbox rows were rolled back with it.
  for (const auto& id : undone) {
    INFO("event " << id);
    int alone = 0;
    int attempts = 0;
    for (std::size_t k = 0; k < all.size(); ++k) {
      if (all[k].event_id != id) continue;
      ++attempts;
      if (k > failed_at && all[k].batch == 0 && all[k].fresh && !all[k].failed) ++alone;
    }
    CHECK(alone == 1);
    CHECK(attempts == 2);  // in the batch, then alone
    // One effect and one outbox event each, both from the rerun alone (batch 0).
    CHECK(scalar(*db, effects_of, id) == 1);
    CHECK(scalar(*db, effects_of + " AND batch = 0", id) == 1);
    CHECK(scalar(*db, outbox_of, id) == 1);
    CHECK(scalar(*db, outbox_of + " AND payload LIKE '%\"batch\":0}'", id) == 1);
  }
  // The consumer counted the batch undone.
  std::smatch fallbacks;
  const std::regex fallback_line("lia_kafka_batch_fallbacks_total\\{group=\"" +
                                 env.at("LIA_PROBE_GROUP") + "\"\\} ([0-9]+)");
  INFO(metrics);
  REQUIRE(std::regex_search(metrics, fallbacks, fallback_line));
  CHECK(std::stoi(fallbacks[1]) >= 1);

  // Every record applied exactly once, with one claim and one outbox event.
  const auto effects = effect_ids(*db, schema);
  CHECK(effects.size() == static_cast<std::size_t>(kEvents));
  CHECK(std::set<std::string>(effects.begin(), effects.end()) ==
        std::set<std::string>(ids.begin(), ids.end()));
  CHECK(scalar(*db, "SELECT count(*) FROM " + schema + ".inbox WHERE consumer = 'probe.effects'") ==
        kEvents);
  CHECK(scalar(*db, "SELECT count(*) FROM " + schema + ".outbox") == kEvents);
  CHECK(scalar(*db, "SELECT count(DISTINCT key) FROM " + schema + ".outbox") == kEvents);

  drop_schema(schema);
}
