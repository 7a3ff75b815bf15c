// Consumer against the development broker: offsets stored only after handling, retries,
// dead letters, close and hand-over, pause/resume, rebalances.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::kafka;
using lia::testing::unique_name;
using lia::testing::wait_until;
using std::chrono::seconds;

namespace {

std::unique_ptr<Consumer> make_consumer(const ConsumerConfig& config, Handler handler,
                                        std::shared_ptr<DeadLetter> dlq = nullptr) {
  auto c = Consumer::create(config, std::move(handler), std::move(dlq));
  REQUIRE(c.ok());
  return std::move(c).value();
}

Handler collect_into(test::Collector& collector) {
  return [&collector](const Message& m) {
    collector.add(m);
    return core::ok();
  };
}

std::string header_or(const Message& m, const std::string& name) {
  const auto* v = m.header(name);
  return v != nullptr ? *v : "<missing>";
}

// Until both members are assigned and hold all `partitions` between them.
bool wait_for_split(const Consumer& a, const Consumer& b, int partitions) {
  // The development broker's group coordinator can take several 5 s rounds to let a second
  // member in (the first one assigned and revoked again each round): alone the split took 8
  // to 19 s here, beside another test's rebalance up to 50 s. The bound only matters if it
  // never happens.
  return wait_until(
      [&] {
        return a.assigned() && b.assigned() &&
               a.assignment().size() + b.assignment().size() ==
                   static_cast<std::size_t>(partitions);
      },
      seconds{120});
}

}  // namespace

TEST_CASE(
    "a message that can never be handled is dead-lettered with its origin but a busy one waits") {
  const auto topic = unique_name("kafka_dlq");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  const auto deliveries =
      test::produce_all(*producer, {
                                       {topic, "c1", "fine-1", {}, 0},
                                       {topic, "c1", "poison", {{"trace", "t-42"}}, 0},
                                       {topic, "c1", "throws", {}, 0},
                                       {topic, "c1", "always-busy", {}, 0},
                                       {topic, "c1", "fine-2", {}, 0},
                                   });
  REQUIRE(deliveries[4].offset == deliveries[0].offset + 4);

  std::mutex mu;
  std::map<std::string, int> calls;
  std::vector<std::string> order;
  std::atomic<bool> db_back{false};
  auto config = test::consumer_config(topic, group);
  config.max_attempts = 3;
  auto dlq = std::make_shared<DeadLetter>(producer);
  auto consumer = make_consumer(
      config,
      [&](const Message& m) -> core::Status {
        {
          std::lock_guard lock(mu);
          ++calls[m.value];
        }
        if (m.value == "always-busy" && db_back.load()) {
          std::lock_guard lock(mu);
          order.push_back(m.value);
          return core::ok();
        }
        if (m.value == "poison") {
          return core::Error(core::Errc::invalid_argument, "bad payload from 5511987654321");
        }
        if (m.value == "throws") throw std::runtime_error("boom");
        if (m.value == "always-busy") return core::Error(core::Errc::unavailable, "db down");
        std::lock_guard lock(mu);
        order.push_back(m.value);
        return core::ok();
      },
      dlq);
  consumer->start();
  // The database is down for a while: "always-busy" is tried again and again, in place, and
  // fine-2 behind it waits (a dead letter would let it overtake).
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return calls["always-busy"] >= 6;  // two park rounds past max_attempts
      },
      seconds{20}));
  CHECK(consumer->dead_lettered() == 2);
  {
    std::lock_guard lock(mu);
    CHECK(calls["fine-2"] == 0);
  }
  db_back = true;
  REQUIRE(wait_until([&] { return consumer->handled() == 3; }, seconds{20}));
  consumer->close();
  CHECK(consumer->dead_lettered() == 2);
  {
    std::lock_guard lock(mu);
    CHECK(calls["poison"] == 1);  // not retryable: no second try
    CHECK(calls["throws"] == 1);
    CHECK(calls["fine-2"] == 1);
    CHECK(order == std::vector<std::string>{"fine-1", "always-busy", "fine-2"});
  }
  // Everything is done, so the committed position is past the last message.
  CHECK(test::committed(group, topic, {0}).at(0) == deliveries[4].offset + 1);

  test::Collector dead;
  auto reader =
      make_consumer(test::consumer_config(topic + ".dlq", unique_name("g")), collect_into(dead));
  reader->start();
  REQUIRE(wait_until([&] { return dead.size() >= 2; }, seconds{20}));
  reader->close();
  REQUIRE(dead.size() == 2);
  std::map<std::string, Message> by_value;
  for (const auto& m : dead.messages()) by_value[m.value] = m;

  const auto& poison = by_value.at("poison");
  CHECK(poison.topic == topic + ".dlq");
  CHECK(poison.key == "c1");
  // scrubbed like a log line: ops read it
  CHECK(header_or(poison, "lia.dlq.error") == "invalid_argument: bad payload from *********4321");
  CHECK(header_or(poison, "lia.dlq.retryable") == "false");
  CHECK(header_or(poison, "lia.dlq.origin.topic") == topic);
  CHECK(header_or(poison, "lia.dlq.origin.partition") == "0");
  CHECK(header_or(poison, "lia.dlq.origin.offset") == std::to_string(deliveries[1].offset));
  CHECK(header_or(poison, "lia.dlq.attempts") == "1");
  CHECK(test::looks_like_rfc3339_ms(header_or(poison, "lia.dlq.at")));
  CHECK(header_or(poison, "trace") == "t-42");

  const auto& threw = by_value.at("throws");
  CHECK(header_or(threw, "lia.dlq.error") == "internal: handler threw: boom");
  CHECK(header_or(threw, "lia.dlq.retryable") == "false");
  CHECK(header_or(threw, "lia.dlq.origin.offset") == std::to_string(deliveries[2].offset));
  CHECK(by_value.count("always-busy") == 0);
}

TEST_CASE("a record's round of tries stops at a third of max.poll.interval.ms and parks") {
  const auto topic = unique_name("kafka_round_budget");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "c", "slow", {}, 0}});
  auto config = test::consumer_config(topic, unique_name("g"));
  config.properties["max.poll.interval.ms"] = "6000";  // a third: 2 s
  config.max_attempts = 10;                            // 10 tries 0.4 s apart: 3.6 s in place
  config.retry_backoff = std::chrono::milliseconds{400};
  config.max_backoff = std::chrono::milliseconds{400};
  std::mutex mu;
  std::vector<std::uint64_t> polls;  // detail::polls_for_test() at each call
  auto consumer = make_consumer(
      config,
      [&](const Message&) -> core::Status {
        std::lock_guard lock(mu);
        polls.push_back(detail::polls_for_test());
        if (polls.size() < 12) return core::Error(core::Errc::unavailable, "database slow");
        return core::ok();
      },
      std::make_shared<DeadLetter>(producer));
  consumer->start();
  REQUIRE(wait_until([&] { return consumer->handled() == 1; }, seconds{30}));
  consumer->close();
  std::lock_guard lock(mu);
  INFO("calls: " << polls.size());
  CHECK(polls.size() == 12);
  // Past 2 s no try starts (at 0, 0.4, 0.8, 1.2 s, perhaps 1.6 s): the record parks, and is
  // tried again after a poll, not ten times in a row.
  CHECK(test::longest_run(polls) <= 5);
  CHECK(consumer->dead_lettered() == 0);
}

TEST_CASE("a retryable error that clears on the third try is handled once and not dead-lettered") {
  const auto topic = unique_name("kafka_retry");
  auto producer = test::make_producer();
  test::produce_all(
      *producer,
      {{topic, "c", "a", {}, 0}, {topic, "c", "flaky", {}, 0}, {topic, "c", "b", {}, 0}});
  std::mutex mu;
  std::map<std::string, int> calls;
  std::map<std::string, int> successes;
  auto consumer = make_consumer(
      test::consumer_config(topic, unique_name("g")),
      [&](const Message& m) -> core::Status {
        std::lock_guard lock(mu);
        if (m.value == "flaky" && ++calls[m.value] < 3) {
          return core::Error(core::Errc::unavailable, "try again");
        }
        ++successes[m.value];
        return core::ok();
      },
      std::make_shared<DeadLetter>(producer));
  consumer->start();
  REQUIRE(wait_until([&] { return consumer->handled() == 3; }, seconds{20}));
  consumer->close();
  std::lock_guard lock(mu);
  CHECK(calls["flaky"] == 3);
  CHECK(successes == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"flaky", 1}});
  CHECK(consumer->dead_lettered() == 0);
}

TEST_CASE(
    "after a consumer closes the next one in the group continues right after its last message") {
  const auto topic = unique_name("kafka_handover");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  std::vector<Record> records;
  records.reserve(40);
  for (int i = 0; i < 40; ++i)
    records.push_back({topic, "k" + std::to_string(i), std::to_string(i)});
  const auto deliveries = test::produce_all(*producer, records);

  test::Collector first;
  Consumer* first_ptr = nullptr;
  auto a = make_consumer(test::consumer_config(topic, group), [&](const Message& m) {
    first.add(m);
    if (first.size() == 16) first_ptr->close();  // from the handler: this one still counts
    return core::ok();
  });
  first_ptr = a.get();
  a->start();
  REQUIRE(wait_until([&] { return first.size() >= 16; }, seconds{20}));
  a->close();  // joins; idempotent
  REQUIRE(first.size() == 16);
  CHECK(a->handled() == 16);

  test::Collector second;
  auto b = make_consumer(test::consumer_config(topic, group), collect_into(second));
  b->start();
  REQUIRE(wait_until([&] { return second.size() >= 24; }, seconds{20}));
  b->close();

  const auto seen_first = first.positions();
  const auto seen_second = second.positions();
  CHECK(second.size() == 24);  // nothing redelivered...
  for (const auto& p : seen_second) CHECK(seen_first.count(p) == 0);
  std::set<test::Position> all(seen_first);
  all.insert(seen_second.begin(), seen_second.end());
  for (const auto& p : test::positions_of(deliveries)) CHECK(all.count(p) == 1);  // ...nothing lost
}

TEST_CASE(
    "a handler that never succeeds without a dead-letter topic holds its partition's offset") {
  const auto topic = unique_name("kafka_stuck");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  const auto d = test::produce_all(*producer, {
                                                  {topic, "", "good-0", {}, 0},
                                                  {topic, "", "poison", {}, 0},
                                                  {topic, "", "good-2", {}, 0},
                                                  {topic, "", "other-0", {}, 1},
                                                  {topic, "", "other-1", {}, 1},
                                              });
  std::atomic<int> poison_calls{0};
  test::Collector ok;
  auto config = test::consumer_config(topic, group);
  config.max_attempts = 2;
  auto consumer = make_consumer(config, [&](const Message& m) -> core::Status {
    if (m.value == "poison") {
      ++poison_calls;
      return core::Error(core::Errc::unavailable, "downstream down");
    }
    ok.add(m);
    return core::ok();
  });
  consumer->start();
  // Several park-and-retry rounds pass while the other partition is fully handled.
  REQUIRE(wait_until([&] { return poison_calls.load() >= 5 && ok.size() >= 3; }, seconds{20}));
  // /metrics shows it: one parked partition, and its two records (the poison message and
  // good-2) not handled yet.
  auto& lag =
      core::metrics().gauge("lia_kafka_consumer_lag", "", {{"topic", topic}, {"group", group}});
  auto& parked = core::metrics().gauge("lia_kafka_parked_partitions", "", {{"group", group}});
  CHECK(wait_until([&] { return parked.value() == 1 && lag.value() == 2; }, seconds{10}));
  const auto handled = ok.messages();
  consumer->close();
  CHECK(parked.value() == 0);  // a closed member owns nothing
  CHECK(lag.value() == 0);
  std::set<std::string> values;
  for (const auto& m : ok.messages()) values.insert(m.value);
  CHECK(values == std::set<std::string>{"good-0", "other-0", "other-1"});  // good-2 waits, in order
  CHECK(consumer->dead_lettered() == 0);

  const auto offsets = test::committed(group, topic, {0, 1});
  CHECK(offsets.at(0) == d[1].offset);      // stays on the poison message
  CHECK(offsets.at(1) == d[4].offset + 1);  // the healthy partition moved on

  // The next consumer gets the poison message again, then what follows it.
  test::Collector next;
  auto b = make_consumer(test::consumer_config(topic, group), collect_into(next));
  b->start();
  REQUIRE(wait_until([&] { return next.size() >= 2; }, seconds{20}));
  b->close();
  const auto again = next.messages();
  REQUIRE(again.size() == 2);
  CHECK(again[0].value == "poison");
  CHECK(again[1].value == "good-2");
}

TEST_CASE("members of one group in one process add up on the gauges instead of overwriting") {
  const auto topic = unique_name("kafka_members");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  test::produce_all(*producer, {
                                   {topic, "", "poison", {}, 0},
                                   {topic, "", "after", {}, 0},
                                   {topic, "", "fine-0", {}, 1},
                                   {topic, "", "fine-1", {}, 1},
                               });
  auto config = test::consumer_config(topic, group);
  config.max_attempts = 2;
  const Handler handler = [](const Message& m) -> core::Status {
    if (m.value == "poison") return core::Error(core::Errc::unavailable, "downstream down");
    return core::ok();
  };
  auto first = make_consumer(config, handler);
  auto second = make_consumer(config, handler);
  first->start();
  // Staggered: the mock coordinator sometimes loops on two simultaneous eager joins (see the
  // split test below).
  REQUIRE(wait_until([&] { return first->assigned(); }, seconds{20}));
  second->start();
  REQUIRE(wait_until([&] { return !first->assignment().empty() && !second->assignment().empty(); },
                     seconds{20}));
  auto& lag =
      core::metrics().gauge("lia_kafka_consumer_lag", "", {{"topic", topic}, {"group", group}});
  auto& parked = core::metrics().gauge("lia_kafka_parked_partitions", "", {{"group", group}});
  REQUIRE(wait_until([&] { return parked.value() == 1 && lag.value() == 2; }, seconds{20}));
  // The member without the parked partition reports every second too: the sum holds.
  int off = 0;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    if (parked.value() != 1 || lag.value() != 2) ++off;
  }
  CHECK(off == 0);
  first->close();
  second->close();
  CHECK(parked.value() == 0);
  CHECK(lag.value() == 0);
}

TEST_CASE("the lag gauge counts the records a busy consumer has not reached yet") {
  const auto topic = unique_name("kafka_lag");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  std::vector<Record> records;
  records.reserve(12);
  for (int i = 0; i < 12; ++i) records.push_back({topic, "", std::to_string(i), {}, 0});
  test::produce_all(*producer, records);
  auto& lag =
      core::metrics().gauge("lia_kafka_consumer_lag", "", {{"topic", topic}, {"group", group}});
  std::atomic<double> seen_while_busy{0};
  auto consumer = make_consumer(test::consumer_config(topic, group), [&](const Message&) {
    std::this_thread::sleep_for(std::chrono::milliseconds{250});
    seen_while_busy = std::max(seen_while_busy.load(), lag.value());
    return core::ok();
  });
  consumer->start();
  REQUIRE(wait_until([&] { return consumer->handled() == 12; }, seconds{20}));
  // Reported between records, about once a second: with 3 s of work, some report came while
  // records were still waiting, and never more than were produced.
  CHECK(seen_while_busy.load() >= 1);
  CHECK(seen_while_busy.load() <= 12);
  CHECK(wait_until([&] { return lag.value() == 0; }, seconds{10}));
  consumer->close();
}

TEST_CASE("pause stops delivery also across a rebalance and resume restarts it") {
  const auto topic = unique_name("kafka_pause");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "warm-up", {}, 0}});
  const int partitions = test::partition_count(topic);
  REQUIRE(partitions >= 2);

  test::Collector got_a;
  auto a = make_consumer(test::consumer_config(topic, group), collect_into(got_a));
  a->start();
  REQUIRE(wait_until([&] { return got_a.size() == 1; }, seconds{20}));

  a->pause();
  std::vector<Record> batch;
  batch.reserve(static_cast<std::size_t>(partitions));
  for (int p = 0; p < partitions; ++p)
    batch.push_back({topic, "", "paused-" + std::to_string(p), {}, p});
  const auto paused_batch = test::produce_all(*producer, batch);

  // A second member joins: the group rebalances while `a` is paused.
  test::Collector got_b;
  auto b = make_consumer(test::consumer_config(topic, group), collect_into(got_b));
  b->start();
  REQUIRE(wait_for_split(*a, *b, partitions));
  const auto b_parts = b->assignment();
  std::vector<test::Position> for_a;
  std::vector<test::Position> for_b;
  for (const auto& d : paused_batch) {
    const bool to_b = std::find(b_parts.begin(), b_parts.end(),
                                TopicPartition{topic, d.partition}) != b_parts.end();
    (to_b ? for_b : for_a).emplace_back(d.partition, d.offset);
  }
  REQUIRE(!for_a.empty());
  REQUIRE(!for_b.empty());
  // b handles its share of the batch, so the records reached the group ...
  REQUIRE(wait_until([&] { return got_b.has_all(for_b); }, seconds{20}));
  // ... while the paused member got none of them.
  CHECK(got_a.size() == 1);

  a->resume();
  REQUIRE(wait_until([&] { return got_a.has_all(for_a); }, seconds{20}));
  a->close();
  b->close();
}

TEST_CASE("a partition parked when the group rebalances is fetched again once it is reassigned") {
  const auto topic = unique_name("kafka_park_rebalance");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "create", {}, 0}});
  const int partitions = test::partition_count(topic);
  REQUIRE(partitions >= 2);

  // Every record fails until `healthy`, and one try per round parks its partition at once;
  // the park's own retry comes only after a minute, long past this test.
  std::atomic<bool> healthy{false};
  test::Collector got_a;
  test::Collector got_b;
  auto config = test::consumer_config(topic, group);
  config.max_attempts = 1;
  config.max_backoff = seconds{60};
  std::atomic<int> failed{0};
  auto a = make_consumer(config, [&](const Message& m) -> core::Status {
    if (!healthy.load()) {
      ++failed;
      return core::Error(core::Errc::unavailable, "database restarting (test)");
    }
    got_a.add(m);
    return core::ok();
  });
  a->start();
  REQUIRE(wait_until([&] { return failed.load() >= 1; }, seconds{20}));  // "create" parked
  std::vector<Record> batch;
  for (int p = 1; p < partitions; ++p) batch.push_back({topic, "", "r" + std::to_string(p), {}, p});
  auto wanted = test::positions_of(test::produce_all(*producer, batch));
  REQUIRE(wait_until([&] { return failed.load() >= partitions; }, seconds{20}));  // all parked
  healthy = true;

  // A second member joins: `a` gives up every partition and gets about half of them back,
  // parked ones among them. Those must fetch again, from their committed offsets.
  auto b = make_consumer(test::consumer_config(topic, group), collect_into(got_b));
  b->start();
  REQUIRE(wait_for_split(*a, *b, partitions));
  REQUIRE_FALSE(a->assignment().empty());
  wanted.emplace_back(0, 0);  // "create"
  const auto seen_by_either = [&] {
    auto all = got_a.positions();
    const auto more = got_b.positions();
    all.insert(more.begin(), more.end());
    for (const auto& p : wanted) {
      if (all.count(p) == 0) return false;
    }
    return true;
  };
  CHECK(wait_until(seen_by_either, seconds{20}));
  // `a` itself handled the records of the partitions it got back.
  CHECK(got_a.size() > 0);
  b->close();
  a->close();
}

namespace {
// Two members split the partitions; when one leaves, the other takes them all and nothing is
// lost. `strategy` is partition.assignment.strategy (eager or cooperative rebalancing).
void split_and_take_over(const std::string& strategy) {
  const auto topic = unique_name("kafka_split");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "create", {}, 0}});
  const auto partitions = static_cast<std::size_t>(test::partition_count(topic));

  auto config = test::consumer_config(topic, group);
  config.properties["partition.assignment.strategy"] = strategy;
  test::Collector got_a;
  test::Collector got_b;
  auto a = make_consumer(config, collect_into(got_a));
  auto b = make_consumer(config, collect_into(got_b));
  // Eager: one member joins, then the other. Two JoinGroups at the same instant sometimes
  // sent the development broker's (librdkafka's mock) eager coordinator into a loop: one
  // member assigned half the partitions and revoked every 5 s, the other never assigned (1
  // run in 14; 0 in 16 staggered). Cooperative: both at once, as before; staggered, its mock
  // rebalance stalled instead (2 runs in 6). A real coordinator takes both; what this test
  // is about is the split and the take-over.
  const bool eager = strategy != "cooperative-sticky";
  a->start();
  if (eager) REQUIRE(wait_until([&] { return a->assigned(); }, seconds{20}));
  b->start();
  const auto split = [&] {
    return a->assigned() && b->assigned() && !a->assignment().empty() && !b->assignment().empty() &&
           a->assignment().size() + b->assignment().size() == partitions;
  };
  if (eager && !wait_until(split, seconds{15})) {
    // The loop above still came, once, staggered as they are (a clean clone's CI on a busy
    // machine, 2026-12-07): the second member leaves and a new one joins, once. The split and
    // the take-over are all asserted below as before.
    core::log().warn(
        "test: the development broker's eager coordinator looped; the second "
        "member joins again");
    b->close();
    b = make_consumer(config, collect_into(got_b));
    b->start();
  }
  REQUIRE(wait_until(split, seconds{20}));

  std::vector<Record> first;
  first.reserve(40);
  for (int i = 0; i < 40; ++i) first.push_back({topic, "chat-" + std::to_string(i), "1st"});
  const auto first_d = test::produce_all(*producer, first);
  const auto seen_by_either = [&](const std::vector<test::Position>& wanted) {
    auto all = got_a.positions();
    const auto more = got_b.positions();
    all.insert(more.begin(), more.end());
    for (const auto& p : wanted) {
      if (all.count(p) == 0) return false;
    }
    return true;
  };
  REQUIRE(wait_until([&] { return seen_by_either(test::positions_of(first_d)); }, seconds{20}));
  CHECK(got_a.size() > 0);
  CHECK(got_b.size() > 0);

  b->close();
  // While the group rebalances, more records arrive.
  std::vector<Record> second;
  second.reserve(40);
  for (int i = 0; i < 40; ++i) second.push_back({topic, "chat-" + std::to_string(i), "2nd"});
  const auto second_d = test::produce_all(*producer, second);
  REQUIRE(wait_until([&] { return a->assignment().size() == partitions; }, seconds{20}));
  REQUIRE(wait_until([&] { return got_a.has_all(test::positions_of(second_d)); }, seconds{20}));
  a->close();
  CHECK(seen_by_either(test::positions_of(first_d)));
}
}  // namespace

TEST_CASE("two members split the partitions and the survivor takes all (eager)") {
  split_and_take_over("range,roundrobin");
}

TEST_CASE("two members split the partitions and the survivor takes all (cooperative)") {
  split_and_take_over("cooperative-sticky");
}

TEST_CASE(
    "a cooperative-sticky member stopped before its first assignment waits for it, then leaves") {
  const auto topic = unique_name("kafka_coop_stop");
  test::produce_all(*test::make_producer(), {{topic, "c1", "x", {}, 0}});
  // librdkafka before 2.3.0 aborts the process destroying such a member (its #4312): 5 in 100
  // did here. The wait is for those only; an eager member, or a newer librdkafka, leaves at once.
  const bool affected = rd_kafka_version() < 0x020300ff;
  for (const char* strategy : {"cooperative-sticky", "range,roundrobin"}) {
    INFO(strategy);
    auto config = test::consumer_config(topic, unique_name("g"));
    config.properties["partition.assignment.strategy"] = strategy;
    auto c = make_consumer(config, [](const Message&) { return core::ok(); });
    c->start();
    c->close();
    CHECK(c->joined() == (affected && std::string_view(strategy) == "cooperative-sticky"));
  }
}

TEST_CASE("a parked record whose seek back fails is handled, not skipped, when it resumes") {
  const auto topic = unique_name("kafka_park_seek");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "c1", "busy-twice", {}, 0},
                                {topic, "c1", "next-1", {}, 0},
                                {topic, "c1", "next-2", {}, 0}});
  std::mutex mu;
  std::vector<std::string> order;
  int busy_calls = 0;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_attempts = 2;
  // The park's seek back to "busy-twice" fails: the fetcher is past it until a seek works.
  detail::fail_next_seeks_for_test(1);
  auto consumer = make_consumer(config, [&](const Message& m) -> core::Status {
    std::lock_guard lock(mu);
    if (m.value == "busy-twice" && ++busy_calls <= 2) {
      return core::Error(core::Errc::unavailable, "db restarting");
    }
    order.push_back(m.value);
    return core::ok();
  });
  consumer->start();
  const bool all = wait_until([&] { return consumer->handled() == 3; }, seconds{20});
  consumer->close();
  CHECK(detail::fail_next_seeks_for_test(0) == 0);
  REQUIRE(all);
  std::lock_guard lock(mu);
  CHECK(order == std::vector<std::string>{"busy-twice", "next-1", "next-2"});
  CHECK(busy_calls == 3);
}

namespace {

// A producer for dead letters that refuses every record (the dead-letter topic unreachable,
// its ACL missing) until told to work, then hands them to a real producer.
class Switchable final : public Producer {
 public:
  explicit Switchable(std::shared_ptr<Producer> inner) : inner_(std::move(inner)) {}
  using Producer::produce;
  void produce(Record record, DeliveryCallback done) override {
    if (!working.load()) {
      ++refused;
      done(core::Error(core::Errc::unavailable, "dead-letter topic unreachable (test)"));
      return;
    }
    ++forwarded;
    inner_->produce(std::move(record), std::move(done));
  }
  core::Status flush(std::chrono::milliseconds timeout) override { return inner_->flush(timeout); }
  std::size_t in_flight() const override { return inner_->in_flight(); }

  std::atomic<bool> working{false};
  std::atomic<int> refused{0};
  std::atomic<int> forwarded{0};

 private:
  std::shared_ptr<Producer> inner_;
};

// A scope with nothing to undo: only the batched path through the consumer matters here.
class NoScope final : public BatchScope {
 public:
  core::Status commit() override { return core::ok(); }
  bool failed() const override { return false; }
};

// A record that is not retryable, whose dead letter can't be written: its partition parks on
// it (the committed offset stays on it, the records behind it wait) until the dead-letter
// topic works again; then it is dead-lettered once and the partition moves on.
void dead_letter_outage(bool batched) {
  const auto topic = unique_name(batched ? "kafka_dlq_down_batch" : "kafka_dlq_down");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  const auto d = test::produce_all(*producer, {
                                                  {topic, "c1", "before", {}, 0},
                                                  {topic, "c1", "poison", {{"trace", "t-7"}}, 0},
                                                  {topic, "c1", "after-1", {}, 0},
                                                  {topic, "c1", "after-2", {}, 0},
                                                  {topic, "c2", "other-0", {}, 1},
                                                  {topic, "c2", "other-1", {}, 1},
                                              });
  REQUIRE(d[3].offset == d[0].offset + 3);

  std::mutex mu;
  std::map<std::string, int> calls;
  std::vector<std::string> order;  // every handler call, in order
  auto config = test::consumer_config(topic, group);
  config.max_attempts = 3;
  BatchOpener open_batch;
  if (batched) {
    config.max_batch = 16;
    open_batch = [](std::span<const Message>) -> core::Result<std::unique_ptr<BatchScope>> {
      return std::unique_ptr<BatchScope>(std::make_unique<NoScope>());
    };
  }
  auto dlq_producer = std::make_shared<Switchable>(producer);
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        std::lock_guard lock(mu);
        ++calls[m.value];
        order.push_back(m.value);
        if (m.value == "poison") {
          return core::Error(core::Errc::invalid_argument, "undecodable envelope");
        }
        return core::ok();
      },
      std::make_shared<DeadLetter>(dlq_producer), std::move(open_batch));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  const auto poison_calls = [&] {
    std::lock_guard lock(mu);
    return calls["poison"];
  };

  // 1. The dead-letter topic can't be written: the record is tried once per round (it is not
  // retryable), its dead letter fails, and the partition parks on it, round after round.
  // (Or the records behind it were handled, which must not happen: checked at once.)
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return (calls["poison"] >= 3 || calls["after-1"] >= 1) && calls["other-1"] >= 1;
      },
      seconds{20}));
  {
    std::lock_guard lock(mu);
    CHECK(calls["after-1"] == 0);
    REQUIRE(calls["poison"] >= 3);
  }
  auto& parked = core::metrics().gauge("lia_kafka_parked_partitions", "", {{"group", group}});
  CHECK(wait_until([&] { return parked.value() == 1; }, seconds{10}));
  // Stored offsets are committed every 200 ms: partition 0's stays on the poison record.
  CHECK(wait_until([&] { return test::committed(group, topic, {0}).at(0) == d[1].offset; },
                   seconds{10}));
  const int rounds = poison_calls();
  REQUIRE(wait_until([&] { return poison_calls() >= rounds + 2; }, seconds{20}));
  CHECK(test::committed(group, topic, {0}).at(0) == d[1].offset);  // still on it, not past it
  CHECK(dlq_producer->refused.load() >= 3);  // every round tried the dead letter again
  CHECK(dlq_producer->forwarded.load() == 0);
  CHECK((*consumer)->dead_lettered() == 0);
  CHECK(parked.value() == 1);
  {
    std::lock_guard lock(mu);
    CHECK(calls["after-1"] == 0);  // the records behind it wait
    CHECK(calls["after-2"] == 0);
    // The other partition went on (a batch undone by the poison record may have run its
    // records twice: the no-op scope here undoes nothing).
    CHECK(calls["other-0"] >= 1);
    CHECK(calls["other-1"] >= 1);
  }

  // 2. The dead-letter topic works again: the next round dead-letters the record, once, and
  // the partition moves on, in order.
  dlq_producer->working = true;
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return calls["after-2"] >= 1;
      },
      seconds{20}));
  CHECK(wait_until([&] { return parked.value() == 0; }, seconds{10}));
  CHECK(wait_until([&] { return test::committed(group, topic, {0}).at(0) == d[3].offset + 1; },
                   seconds{10}));
  (*consumer)->close();
  CHECK((*consumer)->dead_lettered() == 1);
  CHECK(dlq_producer->forwarded.load() == 1);
  {
    std::lock_guard lock(mu);
    CHECK(calls["after-1"] == 1);
    CHECK(calls["after-2"] == 1);
    // After the last try of the poison record come the records behind it, in order.
    const auto last_poison = std::find(order.rbegin(), order.rend(), "poison").base();
    CHECK(std::vector<std::string>(last_poison, order.end()) ==
          std::vector<std::string>{"after-1", "after-2"});
  }
  const auto offsets = test::committed(group, topic, {0, 1});
  CHECK(offsets.at(0) == d[3].offset + 1);
  CHECK(offsets.at(1) == d[5].offset + 1);

  // The dead-letter topic holds it once, with its origin.
  test::Collector dead;
  auto reader =
      make_consumer(test::consumer_config(topic + ".dlq", unique_name("g")), collect_into(dead));
  reader->start();
  REQUIRE(wait_until([&] { return dead.size() >= 1; }, seconds{20}));
  reader->close();
  const auto letters = dead.messages();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].value == "poison");
  CHECK(header_or(letters[0], "lia.dlq.origin.offset") == std::to_string(d[1].offset));
  CHECK(header_or(letters[0], "lia.dlq.retryable") == "false");
  CHECK(header_or(letters[0], "trace") == "t-7");
}

}  // namespace

TEST_CASE(
    "a record that can be neither handled nor dead-lettered parks its partition until the "
    "dead-letter topic works again") {
  dead_letter_outage(/*batched=*/false);
}

TEST_CASE("a batched consumer parks a partition on a record it can't dead-letter, too") {
  dead_letter_outage(/*batched=*/true);
}

TEST_CASE("a consumer's fatal error is reported, for the liveness probe") {
  const auto topic = unique_name("kafka_fatal");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "x", {}, 0}});
  auto consumer = Consumer::create(
      test::consumer_config(topic, unique_name("g")),
      [](const Message&) -> core::Status { return core::ok(); }, nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == 1; }, seconds{20}));
  CHECK_FALSE((*consumer)->fatal_error().has_value());
  REQUIRE(detail::raise_fatal_for_test(**consumer));
  const auto fatal = (*consumer)->fatal_error();
  REQUIRE(fatal.has_value());
  CHECK_FALSE(fatal->retryable());
  CHECK(fatal->message().find("raised by a test") != std::string::npos);
  (*consumer)->close();
}

TEST_CASE("a consumer whose handler does not return is reported stalled, for the liveness probe") {
  const auto topic = unique_name("kafka_stall");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "x", {}, 0}});
  auto config = test::consumer_config(topic, unique_name("g"));
  config.stalled_after = std::chrono::milliseconds{500};
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  auto consumer = make_consumer(config, [&](const Message&) {
    entered = true;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds{20});
    return core::ok();
  });
  consumer->start();
  // Polling and idle (before the record comes) is not stalled.
  CHECK_FALSE(consumer->stalled().has_value());
  REQUIRE(wait_until([&] { return entered.load(); }, seconds{20}));
  REQUIRE(wait_until([&] { return consumer->stalled().has_value(); }, seconds{10}));
  const auto stuck = consumer->stalled();
  REQUIRE(stuck.has_value());
  CHECK(stuck->message().find("has not polled") != std::string::npos);
  // Once the handler returns, the thread polls again.
  release = true;
  REQUIRE(wait_until([&] { return consumer->handled() == 1; }, seconds{10}));
  CHECK(wait_until([&] { return !consumer->stalled().has_value(); }, seconds{10}));
  consumer->close();
  CHECK_FALSE(consumer->stalled().has_value());
}
