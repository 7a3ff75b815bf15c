// Batched handling against the development broker: records already fetched share one
// BatchScope, committed once; a failing record or a failing commit undoes the scope and its
// records are handled again one by one, so every effect lands exactly once and in order.

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include <lia/kafka/kafka.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::kafka;
using lia::testing::unique_name;
using lia::testing::wait_until;
using std::chrono::seconds;

namespace {

// A stand-in for a database: effects made inside a scope become visible only when it
// commits; effects made outside any scope are committed at once (a transaction of their own).
struct Journal {
  std::mutex mu;
  std::vector<std::string> committed;
  std::vector<std::string>* pending = nullptr;  // the open scope's effects
  std::vector<std::size_t> committed_batches;   // sizes of the scopes that committed
  int scopes = 0;
  int undone = 0;
  int commits_to_fail = 0;

  void apply(const std::string& effect) {
    std::lock_guard lock(mu);
    if (pending != nullptr) {
      pending->push_back(effect);
    } else {
      committed.push_back(effect);
    }
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return committed;
  }
};

class Scope final : public BatchScope {
 public:
  explicit Scope(Journal& j) : j_(j) {
    std::lock_guard lock(j_.mu);
    ++j_.scopes;
    j_.pending = &pending_;
  }
  ~Scope() override {
    std::lock_guard lock(j_.mu);
    if (!done_) ++j_.undone;
    j_.pending = nullptr;
  }
  core::Status commit() override {
    std::lock_guard lock(j_.mu);
    j_.pending = nullptr;
    done_ = true;
    if (j_.commits_to_fail > 0) {
      --j_.commits_to_fail;
      ++j_.undone;
      return core::Error(core::Errc::unavailable, "commit lost");
    }
    j_.committed.insert(j_.committed.end(), pending_.begin(), pending_.end());
    j_.committed_batches.push_back(pending_.size());
    return core::ok();
  }
  bool failed() const override { return false; }

 private:
  Journal& j_;
  std::vector<std::string> pending_;
  bool done_ = false;
};

BatchOpener opener(Journal& j) {
  return [&j](std::span<const Message>) -> core::Result<std::unique_ptr<BatchScope>> {
    return std::unique_ptr<BatchScope>(std::make_unique<Scope>(j));
  };
}

std::vector<std::string> numbered(int n) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back("r" + std::to_string(i));
  return out;
}

std::vector<Delivery> produce_values(Producer& producer, const std::string& topic,
                                     const std::vector<std::string>& values) {
  std::vector<Record> records;
  records.reserve(values.size());
  for (const auto& v : values) records.push_back({topic, "chat", v, {}, 0});
  return test::produce_all(producer, records);
}

}  // namespace

TEST_CASE("records fetched together share a scope, committed once, in order") {
  const auto topic = unique_name("kafka_batch");
  const auto group = unique_name("g");
  auto producer = test::make_producer();
  const auto values = numbered(60);
  const auto deliveries = produce_values(*producer, topic, values);

  Journal journal;
  auto config = test::consumer_config(topic, group);
  config.max_batch = 16;
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) {
        journal.apply(m.value);
        return core::ok();
      },
      nullptr, opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == values.size(); }, seconds{20}));
  (*consumer)->close();

  CHECK(journal.snapshot() == values);
  // The 60 records were waiting before the consumer started: some scopes held several, and
  // none more than max_batch.
  std::lock_guard lock(journal.mu);
  CHECK(journal.scopes < static_cast<int>(values.size()));
  CHECK(journal.undone == 0);
  const auto largest =
      *std::max_element(journal.committed_batches.begin(), journal.committed_batches.end());
  CHECK(largest > 1);
  CHECK(largest <= 16);
  CHECK(test::committed(group, topic, {0}).at(0) == deliveries.back().offset + 1);
}

TEST_CASE("a record failing inside a scope undoes it, then each record lands once, alone") {
  const auto topic = unique_name("kafka_batch_fail");
  auto producer = test::make_producer();
  std::vector<std::string> values = numbered(10);
  values[4] = "poison";
  values[7] = "flaky";
  produce_values(*producer, topic, values);

  Journal journal;
  std::mutex mu;
  std::map<std::string, int> calls;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  config.max_attempts = 3;
  config.retry_backoff = std::chrono::milliseconds{10};
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        int n = 0;
        {
          std::lock_guard lock(mu);
          n = ++calls[m.value];
        }
        if (m.value == "poison") return core::Error(core::Errc::invalid_argument, "bad payload");
        if (m.value == "flaky" && n < 3) return core::Error(core::Errc::unavailable, "busy");
        journal.apply(m.value);
        return core::ok();
      },
      std::make_shared<DeadLetter>(producer), opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until(
      [&] { return (*consumer)->handled() + (*consumer)->dead_lettered() == values.size(); },
      seconds{20}));
  (*consumer)->close();

  std::vector<std::string> expected;
  for (const auto& v : values) {
    if (v != "poison") expected.push_back(v);
  }
  CHECK(journal.snapshot() == expected);  // every effect once, in offset order
  CHECK((*consumer)->dead_lettered() == 1);
  std::lock_guard lock(mu);
  // Not retryable: tried in the scope (if it shared one), then once alone and dead-lettered.
  CHECK(calls["poison"] >= 1);
  CHECK(calls["poison"] <= 2);
  CHECK(calls["flaky"] == 3);
  std::lock_guard jl(journal.mu);
  CHECK(journal.undone >= 1);
}

TEST_CASE("a rewind whose seek fails holds the partition until a seek succeeds: none skipped") {
  const auto topic = unique_name("kafka_batch_seek");
  auto producer = test::make_producer();
  std::vector<std::string> values = numbered(30);
  values[4] = "poison";  // undoes the first scope; what was fetched after it is rewound
  produce_values(*producer, topic, values);

  Journal journal;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  // The rewind's seek fails, and so does the first seek again: the fetcher stays past the
  // rewound records until a seek succeeds.
  detail::fail_next_seeks_for_test(2);
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        if (m.value == "poison") return core::Error(core::Errc::invalid_argument, "bad payload");
        journal.apply(m.value);
        return core::ok();
      },
      std::make_shared<DeadLetter>(producer), opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  const bool all = wait_until(
      [&] { return (*consumer)->handled() + (*consumer)->dead_lettered() == values.size(); },
      seconds{20});
  (*consumer)->close();
  CHECK(detail::fail_next_seeks_for_test(0) == 0);  // both faults were met
  REQUIRE(all);
  std::vector<std::string> expected;
  for (const auto& v : values) {
    if (v != "poison") expected.push_back(v);
  }
  CHECK(journal.snapshot() == expected);  // every effect once, in offset order
}

TEST_CASE("a scope whose commit fails hands its records to the one-by-one path") {
  const auto topic = unique_name("kafka_batch_commit");
  auto producer = test::make_producer();
  const auto values = numbered(20);
  produce_values(*producer, topic, values);

  Journal journal;
  journal.commits_to_fail = 1;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) {
        journal.apply(m.value);
        return core::ok();
      },
      nullptr, opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == values.size(); }, seconds{20}));
  (*consumer)->close();
  CHECK(journal.snapshot() == values);
  std::lock_guard lock(journal.mu);
  CHECK(journal.commits_to_fail == 0);
  CHECK(journal.undone == 1);
}

namespace {

// Produces `records` while the consumer is paused, so that they are fetched together.
void fetch_together(Consumer& consumer, Producer& producer, const std::vector<Record>& records) {
  consumer.pause();
  test::produce_all(producer, records);
  consumer.resume();
}

struct OutageCall {
  std::int32_t partition;
  std::uint64_t polls;  // detail::polls_for_test() when the handler was called
  bool alone;           // outside any scope
};

// Two records on every partition of a new topic, fetched together by a batched consumer
// whose handler fails as in a database outage: records alone always, those in a scope when
// `in_scope_fails`. Returns the handler's calls, in order, once every partition's first
// record had its round alone.
std::vector<OutageCall> outage_calls(Journal& journal, bool in_scope_fails) {
  const auto topic = unique_name("kafka_batch_outage");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "warm-up", {}, 0}});
  const int partitions = test::partition_count(topic);
  REQUIRE(partitions >= 2);
  std::mutex mu;
  std::vector<OutageCall> calls;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  config.max_attempts = 2;
  config.retry_backoff = std::chrono::milliseconds{20};
  config.max_backoff = std::chrono::milliseconds{60'000};  // no second round in this test
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        if (m.value == "warm-up") return core::ok();
        bool alone = false;
        {
          std::lock_guard lock(journal.mu);
          alone = journal.pending == nullptr;
        }
        std::lock_guard lock(mu);
        calls.push_back({m.partition, detail::polls_for_test(), alone});
        if (alone || in_scope_fails) return core::Error(core::Errc::unavailable, "database down");
        return core::ok();
      },
      nullptr, opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == 1; }, seconds{20}));
  std::vector<Record> records;
  for (int p = 0; p < partitions; ++p) {
    for (int k = 0; k < 2; ++k) records.push_back({topic, "", "r", {}, p});
  }
  fetch_together(**consumer, *producer, records);
  const bool all = wait_until(
      [&] {
        std::lock_guard lock(mu);
        std::map<std::int32_t, int> alone;
        for (const auto& c : calls) alone[c.partition] += c.alone ? 1 : 0;
        return std::count_if(alone.begin(), alone.end(),
                             [](const auto& e) { return e.second >= 2; }) == partitions;
      },
      seconds{30});
  // Every partition is parked and paused now: its close leaves them so (a resume waits on
  // threads the closing group may have let go).
  const auto resumed_before = detail::resumed_while_closing_for_test();
  (*consumer)->close();
  CHECK(detail::resumed_while_closing_for_test() == resumed_before);
  REQUIRE(all);
  std::lock_guard lock(mu);
  return calls;
}

// Between a round of one partition's record and the next partition's, the consumer polled.
void check_polled_between_rounds(const std::vector<OutageCall>& calls) {
  const OutageCall* last = nullptr;
  for (const auto& c : calls) {
    if (!c.alone) continue;
    if (last != nullptr && last->partition != c.partition) {
      INFO("partition " << last->partition << " then " << c.partition);
      CHECK(c.polls > last->polls);
    }
    last = &c;
  }
  // The second record of each partition waited behind its first: never tried alone.
  std::map<std::int32_t, int> alone;
  for (const auto& c : calls) alone[c.partition] += c.alone ? 1 : 0;
  for (const auto& [partition, n] : alone) {
    INFO("partition " << partition);
    CHECK(n == 2);  // the first record's round of 2
  }
}

}  // namespace

// A database outage: every record fails every try of its round and parks its partition. Each
// round takes seconds in production; back to back without a poll, a dozen of them would pass
// max.poll.interval.ms and the member would lose its partitions.
TEST_CASE("records that use up their round one after another are handled between polls") {
  Journal journal;
  check_polled_between_rounds(outage_calls(journal, /*in_scope_fails=*/true));
}

TEST_CASE("a batch whose commit fails in an outage is handled alone between polls") {
  Journal journal;
  journal.commits_to_fail = 1;  // the records succeed in the scope; its commit fails
  const auto calls = outage_calls(journal, /*in_scope_fails=*/false);
  check_polled_between_rounds(calls);
  std::lock_guard lock(journal.mu);
  CHECK(journal.commits_to_fail == 0);
}

TEST_CASE(
    "a batch of slow records goes back to poll once a third of max.poll.interval.ms is spent") {
  Journal journal;
  const auto topic = unique_name("kafka_batch_slow");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "warm-up", {}, 0}});
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  config.properties["max.poll.interval.ms"] = "6000";  // a third: 2 s
  std::mutex mu;
  std::vector<std::uint64_t> polls;  // detail::polls_for_test() at each slow record's call
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) {
        if (m.value != "warm-up") {
          std::this_thread::sleep_for(std::chrono::milliseconds{300});  // a slow database
          std::lock_guard lock(mu);
          polls.push_back(detail::polls_for_test());
        }
        journal.apply(m.value);
        return core::ok();
      },
      nullptr, opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == 1; }, seconds{20}));
  std::vector<Record> records;
  std::vector<std::string> values{"warm-up"};
  for (int k = 0; k < 20; ++k) {
    values.push_back("r" + std::to_string(k));
    records.push_back({topic, "", values.back(), {}, 0});
  }
  fetch_together(**consumer, *producer, records);
  REQUIRE(wait_until([&] { return (*consumer)->handled() == values.size(); }, seconds{60}));
  (*consumer)->close();
  CHECK(journal.snapshot() == values);  // each once, in order
  std::lock_guard lock(mu);
  // 6 s of records: after 2 s (7 records at most: 0, 0.3 ... 1.8 s) the rest goes back to
  // the fetcher, and comes again after a poll.
  INFO("calls: " << polls.size());
  CHECK(polls.size() == 20);
  CHECK(test::longest_run(polls) <= 7);
}

TEST_CASE("max_batch below 1 is refused, naming the setting") {
  auto config = test::consumer_config("t", "g");
  config.max_batch = 0;
  auto c = Consumer::create(
      config, [](const Message&) { return core::ok(); }, nullptr);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message().find("max_batch") != std::string::npos);
}

// An outage long enough for parked partitions to come back: a resumed partition's records
// fetched behind another partition's record that parks again go back to the fetcher with the
// rest, and none is skipped as if the log had lost it.
TEST_CASE("records of a resumed partition fetched behind a record that parks are not skipped") {
  Journal journal;
  const auto topic = unique_name("kafka_batch_resumed");
  auto producer = test::make_producer();
  test::produce_all(*producer, {{topic, "", "warm-up", {}, 0}});
  const int partitions = test::partition_count(topic);
  REQUIRE(partitions >= 2);
  std::atomic<bool> down{true};
  std::atomic<int> refused{0};  // tries while down
  std::mutex mu;
  std::map<std::string, int> done;  // value -> successful handlings
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  config.max_attempts = 1;
  config.retry_backoff = std::chrono::milliseconds{20};
  config.max_backoff = std::chrono::milliseconds{100};  // many rounds within the outage
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        if (m.value == "warm-up") return core::ok();
        if (down.load()) {
          ++refused;
          return core::Error(core::Errc::unavailable, "database down");
        }
        journal.apply(m.value);
        std::lock_guard lock(mu);
        ++done[m.value];
        return core::ok();
      },
      nullptr, opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == 1; }, seconds{20}));
  std::vector<Record> records;
  std::vector<std::string> values;
  for (int p = 0; p < partitions; ++p) {
    for (int k = 0; k < 3; ++k) {
      values.push_back("p" + std::to_string(p) + "r" + std::to_string(k));
      records.push_back({topic, "", values.back(), {}, p});
    }
  }
  fetch_together(**consumer, *producer, records);
  // Rounds of parks and resumes: each partition's first record tried several times.
  REQUIRE(wait_until([&] { return refused.load() >= 4 * partitions; }, seconds{30}));
  down = false;
  const bool all = wait_until(
      [&] {
        std::lock_guard lock(mu);
        return done.size() == values.size();
      },
      seconds{30});
  (*consumer)->close();
  CHECK(all);
  std::lock_guard lock(mu);
  for (const auto& v : values) {
    INFO(v);
    CHECK(done[v] == 1);
  }
}

// While a partition waits (parked), records are handled one by one; one that needed more
// than one try may have taken a lock timeout per try: the consumer polls before the next.
TEST_CASE("records that needed retries while a partition waits are handled between polls") {
  const auto topic = unique_name("kafka_batch_retried");
  auto producer = test::make_producer();
  const int partitions = test::partition_count(topic);
  REQUIRE(partitions >= 2);
  test::produce_all(*producer, {{topic, "", "warm-up", {}, 1}});
  Journal journal;
  std::mutex mu;
  std::map<std::string, int> tries;
  // At the last try of each retried record, in order (r2's ends in a dead letter).
  std::vector<std::uint64_t> polls_at_success;
  auto config = test::consumer_config(topic, unique_name("g"));
  config.max_batch = 50;
  config.max_attempts = 2;
  config.retry_backoff = std::chrono::milliseconds{20};
  // Partition 0's record fails every try: its partition parks, resumes for one more try and
  // parks again, so one partition always waits while r1..r3 are handled.
  config.max_backoff = std::chrono::milliseconds{60'000};
  auto consumer = Consumer::create(
      config,
      [&](const Message& m) -> core::Status {
        std::lock_guard lock(mu);
        const int n = ++tries[m.value];
        if (m.value == "warm-up") return core::ok();
        if (m.value == "down") return core::Error(core::Errc::unavailable, "database down");
        if (n == 1) return core::Error(core::Errc::unavailable, "lock timeout");
        polls_at_success.push_back(detail::polls_for_test());
        if (m.value == "r2") return core::Error(core::Errc::invalid_argument, "bad payload");
        return core::ok();
      },
      std::make_shared<DeadLetter>(producer), opener(journal));
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(wait_until([&] { return (*consumer)->handled() == 1; }, seconds{20}));
  test::produce_all(*producer, {{topic, "", "down", {}, 0}});
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return tries["down"] >= 2;  // its round used: partition 0 parked
      },
      seconds{20}));
  fetch_together(**consumer, *producer,
                 {{topic, "", "r1", {}, 1}, {topic, "", "r2", {}, 1}, {topic, "", "r3", {}, 1}});
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return polls_at_success.size() == 3;
      },
      seconds{20}));
  (*consumer)->close();
  std::lock_guard lock(mu);
  CHECK(polls_at_success[1] > polls_at_success[0]);
  CHECK(polls_at_success[2] > polls_at_success[1]);
  CHECK(tries["r1"] == 2);
  CHECK(tries["r2"] == 2);
  CHECK(tries["r3"] == 2);
}
