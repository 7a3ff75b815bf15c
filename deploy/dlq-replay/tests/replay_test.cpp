// lia-dlq-replay against the development broker: dead letters go back to their topic once,
// with their key, value and headers; a record without its origin stops the run; the command
// line refuses bad usage with status 2.

#include <mutex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include <lia/core/config.hpp>
#include <lia/dlq_replay/cli.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/testing/testing.hpp>

using namespace lia;
using namespace std::chrono_literals;

namespace {

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

Outcome cli(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
  if (env.count("LIA_KAFKA_BOOTSTRAP") == 0)
    env["LIA_KAFKA_BOOTSTRAP"] = testing::kafka_bootstrap();
  auto e = core::Env::from_map(std::move(env));
  std::ostringstream out;
  std::ostringstream err;
  Outcome o;
  o.status = dlq_replay::run(args, e, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

std::shared_ptr<kafka::Producer> producer() {
  kafka::ProducerConfig pc;
  pc.bootstrap = testing::kafka_bootstrap();
  auto p = kafka::Producer::create(pc);
  REQUIRE(p.ok());
  return std::shared_ptr<kafka::Producer>(std::move(p).value());
}

// A record of `topic` as a consumer saw it, dead-lettered the way the services do it.
void dead_letter(kafka::DeadLetter& dlq, const std::string& topic, std::int64_t offset,
                 const std::string& id) {
  kafka::Message m;
  m.topic = topic;
  m.partition = 0;
  m.offset = offset;
  m.key = "lia-demo:5511987654321";
  m.value = R"({"id":")" + id + R"(","text":"quero cancelar"})";
  m.headers = {{"lia.event_id", id}, {"lia.event_type", "lia.test.happened"}};
  REQUIRE(dlq.send(m, core::Error(core::Errc::unavailable, "token missing"), 2).ok());
}

// Every record of `topic` from its start, once at least `want` arrived and a moment passed.
std::vector<kafka::Message> read_all(const std::string& topic, std::size_t want) {
  std::mutex mu;
  std::vector<kafka::Message> seen;
  kafka::ConsumerConfig cc;
  cc.bootstrap = testing::kafka_bootstrap();
  cc.group_id = testing::unique_name("replay_reader");
  cc.topics = {topic};
  cc.session_timeout = 6000ms;
  cc.heartbeat_interval = 500ms;
  auto c = kafka::Consumer::create(
      cc,
      [&](const kafka::Message& m) {
        std::lock_guard lock(mu);
        seen.push_back(m);
        return core::Status{};
      },
      nullptr);
  REQUIRE(c.ok());
  (*c)->start();
  testing::wait_until(
      [&] {
        std::lock_guard lock(mu);
        return seen.size() >= want;
      },
      20s);
  std::this_thread::sleep_for(500ms);  // anything beyond `want` shows up too
  (*c)->close();
  std::lock_guard lock(mu);
  return seen;
}

std::size_t count_lines(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("dead letters go back to their topic once, with their key, value and headers") {
  const auto topic = testing::unique_name("replay_src");
  const auto dlq_topic = topic + ".dlq";
  auto p = producer();
  kafka::DeadLetter dlq(p);
  for (int i = 0; i < 3; ++i) dead_letter(dlq, topic, 40 + i, "ev-" + std::to_string(i));

  // --list shows them, without key or value (personal data), and changes nothing.
  auto listed = cli({"--list", dlq_topic});
  INFO(listed.out << listed.err);
  REQUIRE(listed.status == 0);
  CHECK(count_lines(listed.out, "partition 0 offset ") == 3);
  CHECK(listed.out.find("lia.test.happened ev-1 from " + topic +
                        " partition 0 offset 41, 2 "
                        "attempt(s)") != std::string::npos);
  CHECK(listed.out.find("unavailable: token missing") != std::string::npos);
  CHECK(listed.out.find("5511987654321") == std::string::npos);
  CHECK(listed.out.find("quero cancelar") == std::string::npos);
  CHECK(listed.out.find("3 dead letter(s) in " + dlq_topic + " not replayed yet") !=
        std::string::npos);

  auto replayed = cli({dlq_topic});
  INFO(replayed.out << replayed.err);
  REQUIRE(replayed.status == 0);
  CHECK(replayed.out.find("replayed 3 dead letter(s) of " + dlq_topic + " to " + topic) !=
        std::string::npos);
  auto back = read_all(topic, 3);
  REQUIRE(back.size() == 3);
  for (std::size_t i = 0; i < back.size(); ++i) {
    const auto& m = back[i];
    const std::string id = "ev-" + std::to_string(i);
    INFO(id);
    CHECK(m.key == "lia-demo:5511987654321");
    CHECK(m.value == R"({"id":")" + id + R"(","text":"quero cancelar"})");
    REQUIRE(m.header("lia.event_id") != nullptr);
    CHECK(*m.header("lia.event_id") == id);
    REQUIRE(m.header("lia.replayed_from") != nullptr);
    CHECK(*m.header("lia.replayed_from") == dlq_topic + "/0/" + std::to_string(i));
    // As dead-lettered: a consumer can tell a replayed record (notification sends it again).
    REQUIRE(m.header("lia.dlq.origin.topic") != nullptr);
    CHECK(*m.header("lia.dlq.origin.topic") == topic);
  }

  // Done once: a second run replays nothing, a later dead letter alone.
  auto again = cli({dlq_topic});
  REQUIRE(again.status == 0);
  CHECK(again.out.find("replayed 0 dead letter(s)") != std::string::npos);
  dead_letter(dlq, topic, 50, "ev-late");
  auto late = cli({dlq_topic});
  REQUIRE(late.status == 0);
  CHECK(late.out.find("replayed 1 dead letter(s)") != std::string::npos);
  auto all = read_all(topic, 4);
  REQUIRE(all.size() == 4);
  CHECK(*all[3].header("lia.event_id") == "ev-late");
}

TEST_CASE("a record without its origin stops the replay, and what came before it stays done") {
  const auto topic = testing::unique_name("replay_bad");
  const auto dlq_topic = topic + ".dlq";
  auto p = producer();
  kafka::DeadLetter dlq(p);
  dead_letter(dlq, topic, 1, "ev-a");
  REQUIRE(p->produce(kafka::Record{dlq_topic, "k", "not a dead letter", {}, 0}).get().ok());
  dead_letter(dlq, topic, 3, "ev-c");

  for (int run = 0; run < 2; ++run) {
    INFO("run " << run);
    auto r = cli({dlq_topic});
    INFO(r.out << r.err);
    CHECK(r.status == 1);
    CHECK(r.err.find("partition 0 offset 1 names no topic as its origin") != std::string::npos);
    // The first run replayed ev-a and committed it; the second starts behind it.
    CHECK(r.err.find(run == 0 ? "(1 of 3 replayed" : "(0 of 2 replayed") != std::string::npos);
  }
  auto back = read_all(topic, 1);
  REQUIRE(back.size() == 1);  // ev-a once, across both runs; ev-c waits behind the bad record
  CHECK(*back[0].header("lia.event_id") == "ev-a");
}

TEST_CASE(
    "a record too large for its dead-letter topic goes there without its value and is "
    "replayed from its origin") {
  const auto topic = testing::unique_name("replay_big");
  const auto dlq_topic = topic + ".dlq";
  auto p = producer();
  // Within the limit as it is; over it with the dead letter's headers.
  const std::string value = R"({"id":"ev-big","text":")" + std::string(1900, 'a') + R"("})";
  const std::vector<kafka::Header> headers = {
      {"lia.event_id", "ev-big"}, {"lia.event_type", "lia.test.happened"}, {"trace", "t-1"}};
  auto first = p->produce(kafka::Record{topic, "lia-demo:5511987654321", value, headers, 0}).get();
  REQUIRE(first.ok());
  kafka::ProducerConfig pc;
  pc.bootstrap = testing::kafka_bootstrap();
  pc.properties = {{"message.max.bytes", "2100"}};
  auto limited = kafka::Producer::create(pc);
  REQUIRE(limited.ok());
  kafka::DeadLetter dlq(std::shared_ptr<kafka::Producer>(std::move(limited).value()));
  kafka::Message m;
  m.topic = topic;
  m.partition = 0;
  m.offset = first->offset;
  m.key = "lia-demo:5511987654321";
  m.value = value;
  m.headers = headers;
  REQUIRE(dlq.send(m, core::Error(core::Errc::invalid_argument, "schema"), 1).ok());

  auto letters = read_all(dlq_topic, 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].value.empty());
  REQUIRE(letters[0].header(kafka::DeadLetter::kValueAtOrigin) != nullptr);
  CHECK(*letters[0].header(kafka::DeadLetter::kValueAtOrigin) == std::to_string(value.size()));
  auto listed = cli({"--list", dlq_topic});
  INFO(listed.out << listed.err);
  CHECK(listed.out.find("lia.test.happened ev-big from " + topic) != std::string::npos);
  CHECK(listed.out.find("kept without its value, " + std::to_string(value.size()) + " bytes") !=
        std::string::npos);

  auto replayed = cli({dlq_topic});
  INFO(replayed.out << replayed.err);
  REQUIRE(replayed.status == 0);
  CHECK(replayed.out.find("replayed 1 dead letter(s)") != std::string::npos);
  auto back = read_all(topic, 2);
  REQUIRE(back.size() == 2);
  const auto& again = back[1];
  CHECK(again.key == "lia-demo:5511987654321");
  CHECK(again.value == value);
  REQUIRE(again.header("trace") != nullptr);
  CHECK(*again.header("trace") == "t-1");
  REQUIRE(again.header("lia.dlq.origin.offset") != nullptr);
  CHECK(*again.header("lia.dlq.origin.offset") == std::to_string(first->offset));
  CHECK(again.header(kafka::DeadLetter::kValueAtOrigin) == nullptr);
  REQUIRE(again.header("lia.replayed_from") != nullptr);
  CHECK(*again.header("lia.replayed_from") == dlq_topic + "/0/0");

  // Dead-lettered again, and replayed by a producer with the same limit: with the replay's
  // headers it would not fit, so it goes back as it was at its origin.
  REQUIRE(dlq.send(m, core::Error(core::Errc::invalid_argument, "schema"), 1).ok());
  auto limited_run = cli({dlq_topic}, {{"LIA_KAFKA_PROPERTIES", "message.max.bytes=2100"}});
  INFO(limited_run.out << limited_run.err);
  REQUIRE(limited_run.status == 0);
  CHECK(limited_run.out.find("replayed 1 dead letter(s)") != std::string::npos);
  auto third = read_all(topic, 3);
  REQUIRE(third.size() == 3);
  CHECK(third[2].value == value);
  REQUIRE(third[2].headers.size() == headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    CHECK(third[2].headers[i].key == headers[i].key);
    CHECK(third[2].headers[i].value == headers[i].value);
  }
}

TEST_CASE("a slim dead letter whose record is not at its origin stops the replay") {
  // Each origin topic holds one record, "k" at offset 0; a slim dead letter points at `offset`
  // with `key`.
  const auto stuck = [](std::int64_t offset, const std::string& key) {
    const auto topic = testing::unique_name("replay_gone");
    auto p = producer();
    REQUIRE(p->produce(kafka::Record{topic, "k", "the only record", {}, 0}).get().ok());
    kafka::Message m;
    m.topic = topic;
    m.partition = 0;
    m.offset = offset;
    m.key = key;
    m.value = "what it was";
    kafka::DeadLetter dlq(p);
    REQUIRE(
        p->produce(dlq.slim_record_for(m, core::Error(core::Errc::internal, "x"), 1)).get().ok());
    auto r = cli({topic + ".dlq"});
    INFO(r.out << r.err);
    CHECK(r.status == 1);
    CHECK(read_all(topic, 1).size() == 1);  // nothing re-published
    return std::make_pair(topic, r.err);
  };
  auto [gone_topic, gone] = stuck(5, "k");  // past the end
  CHECK(gone.find("points at " + gone_topic +
                  " partition 0 offset 5, which is not there any more") != std::string::npos);
  auto [other_topic, other] = stuck(0, "another key");
  CHECK(other.find("points at " + other_topic + " partition 0 offset 0, where another record is") !=
        std::string::npos);
}

TEST_CASE("lia-dlq-replay refuses bad usage and settings with status 2, naming them") {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{}, "which dead-letter topic?"},
      {{"whatsapp.inbound.v1"}, "'whatsapp.inbound.v1' is not a dead-letter topic"},
      {{"--max", "0", "a.dlq"}, "--max needs a whole number from 1"},
      {{"--max"}, "--max needs a whole number from 1"},
      {{"--frobnicate", "a.dlq"}, "unknown option --frobnicate"},
      {{"a.dlq", "b.dlq"}, "one topic at a time"},
  };
  for (const auto& [args, wanted] : cases) {
    auto r = cli(args);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(wanted) != std::string::npos);
  }
  auto bad_props = cli({"a.dlq"}, {{"LIA_KAFKA_PROPERTIES", "sasl.password=x"}});
  CHECK(bad_props.status == 2);
  CHECK(bad_props.err.find("LIA_KAFKA_PROPERTIES") != std::string::npos);
  CHECK(bad_props.err.find("=x") == std::string::npos);
  auto help = cli({"--help"});
  CHECK(help.status == 0);
  CHECK(help.out.find("usage: lia-dlq-replay") == 0);
}
