// Kafka pieces that need no broker: configuration errors, dead-letter records, headers.

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include <lia/kafka/kafka.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::kafka;

namespace {
bool mentions(const core::Error& e, const std::string& what) {
  return e.message().find(what) != std::string::npos;
}
}  // namespace

TEST_CASE("producer config errors name the property") {
  ProducerConfig c;
  c.bootstrap = "127.0.0.1:1";

  c.properties = {{"no.such.property", "1"}};
  auto unknown = Producer::create(c);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code() == core::Errc::invalid_argument);
  CHECK(mentions(unknown.error(), "no.such.property"));

  c.properties = {{"batch.num.messages", "not-a-number"}};
  auto bad_value = Producer::create(c);
  REQUIRE_FALSE(bad_value.ok());
  CHECK(mentions(bad_value.error(), "batch.num.messages"));

  c.properties = {{"enable.idempotence", "false"}};
  auto fixed = Producer::create(c);
  REQUIRE_FALSE(fixed.ok());
  CHECK(mentions(fixed.error(), "enable.idempotence"));

  c.properties = {};
  c.bootstrap.clear();
  auto no_bootstrap = Producer::create(c);
  REQUIRE_FALSE(no_bootstrap.ok());
  CHECK(mentions(no_bootstrap.error(), "bootstrap"));
}

TEST_CASE("consumer config errors name the setting") {
  ConsumerConfig c;
  c.bootstrap = "127.0.0.1:1";
  c.group_id = "g";
  c.topics = {"t"};
  auto handler = [](const Message&) { return core::ok(); };

  auto none = Consumer::create(c, nullptr, nullptr);
  REQUIRE_FALSE(none.ok());
  CHECK(mentions(none.error(), "handler"));

  auto no_group = c;
  no_group.group_id.clear();
  auto r1 = Consumer::create(no_group, handler, nullptr);
  REQUIRE_FALSE(r1.ok());
  CHECK(mentions(r1.error(), "group_id"));

  auto bad_prop = c;
  bad_prop.properties = {{"session.timeout.ms", "soon"}};
  auto r2 = Consumer::create(bad_prop, handler, nullptr);
  REQUIRE_FALSE(r2.ok());
  CHECK(mentions(r2.error(), "session.timeout.ms"));

  auto no_backoff = c;
  no_backoff.max_backoff = std::chrono::milliseconds{0};
  auto no_wait = Consumer::create(no_backoff, handler, nullptr);
  REQUIRE_FALSE(no_wait.ok());
  CHECK(mentions(no_wait.error(), "max_backoff must be positive"));

  auto fixed = c;
  fixed.properties = {{"enable.auto.offset.store", "true"}};
  auto r3 = Consumer::create(fixed, handler, nullptr);
  REQUIRE_FALSE(r3.ok());
  CHECK(mentions(r3.error(), "enable.auto.offset.store"));

  auto attempts = c;
  attempts.max_attempts = 0;
  auto r4 = Consumer::create(attempts, handler, nullptr);
  REQUIRE_FALSE(r4.ok());
  CHECK(mentions(r4.error(), "max_attempts"));

  // A valid config creates a consumer that can be closed without ever starting.
  auto ok = Consumer::create(c, handler, nullptr);
  REQUIRE(ok.ok());
  ok.value()->close();
  ok.value()->close();
  CHECK_FALSE(ok.value()->assigned());
}

TEST_CASE("dead-letter record carries the origin and the error and the original headers") {
  DeadLetter dlq(nullptr);
  Message m;
  m.topic = "whatsapp.inbound.v1";
  m.partition = 3;
  m.offset = 42;
  m.key = "k";
  m.value = "v";
  m.headers = {{"trace", "t1"}, {"lia.dlq.error", "old"}};
  const auto r = dlq.record_for(m, core::Error(core::Errc::unavailable, "db down"), 5);
  CHECK(r.topic == "whatsapp.inbound.v1.dlq");
  CHECK(r.key == "k");
  CHECK(r.value == "v");
  Message as_msg;
  as_msg.headers = r.headers;
  REQUIRE(as_msg.header("lia.dlq.error") != nullptr);
  CHECK(*as_msg.header("lia.dlq.error") == "unavailable: db down");
  CHECK(*as_msg.header("lia.dlq.retryable") == "true");
  CHECK(*as_msg.header("lia.dlq.origin.topic") == "whatsapp.inbound.v1");
  CHECK(*as_msg.header("lia.dlq.origin.partition") == "3");
  CHECK(*as_msg.header("lia.dlq.origin.offset") == "42");
  CHECK(*as_msg.header("lia.dlq.attempts") == "5");
  CHECK(test::looks_like_rfc3339_ms(*as_msg.header("lia.dlq.at")));
  REQUIRE(as_msg.header("trace") != nullptr);
  CHECK(*as_msg.header("trace") == "t1");
  // The older dead-letter error is dropped, not duplicated.
  int errors = 0;
  for (const auto& h : r.headers) errors += h.key == "lia.dlq.error" ? 1 : 0;
  CHECK(errors == 1);

  CHECK(DeadLetter(nullptr, "all.dlq").topic_for("x") == "all.dlq");
  auto no_producer = dlq.send(m, core::Error(core::Errc::internal, "x"), 1);
  CHECK_FALSE(no_producer.ok());
}

TEST_CASE("a slim dead letter keeps the key, the origin and the event's name, not the value") {
  DeadLetter dlq(nullptr);
  Message m;
  m.topic = "conversation.commands.v1";
  m.partition = 1;
  m.offset = 7;
  m.key = "k";
  m.value = std::string(5000, 'v');
  m.headers = {{"lia.event_id", "ev-1"}, {"lia.event_type", "lia.x"}, {"trace", "t1"}};
  const auto r = dlq.slim_record_for(m, core::Error(core::Errc::invalid_argument, "bad"), 1);
  CHECK(r.topic == "conversation.commands.v1.dlq");
  CHECK(r.key == "k");
  CHECK(r.value.empty());
  Message as_msg;
  as_msg.headers = r.headers;
  REQUIRE(as_msg.header(DeadLetter::kValueAtOrigin) != nullptr);
  CHECK(*as_msg.header(DeadLetter::kValueAtOrigin) == "5000");
  CHECK(*as_msg.header("lia.dlq.origin.offset") == "7");
  CHECK(*as_msg.header("lia.dlq.error") == "invalid_argument: bad");
  CHECK(*as_msg.header("lia.event_id") == "ev-1");
  CHECK(*as_msg.header("lia.event_type") == "lia.x");
  CHECK(as_msg.header("trace") == nullptr);
}

TEST_CASE("a dead letter whose ack does not come stops waiting once told to stop") {
  // A producer that never acknowledges (Kafka unreachable at shutdown, say).
  class Silent final : public Producer {
   public:
    using Producer::produce;
    void produce(Record, DeliveryCallback done) override { held = std::move(done); }
    core::Status flush(std::chrono::milliseconds) override { return core::ok(); }
    std::size_t in_flight() const override { return held ? 1 : 0; }
    std::optional<core::Error> fatal_error() const override { return std::nullopt; }
    DeliveryCallback held;
  };
  auto producer = std::make_shared<Silent>();
  DeadLetter dlq(producer);
  Message m;
  m.topic = "orders.v1";
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    stop = true;
  });
  auto sent = dlq.send(m, core::Error(core::Errc::invalid_argument, "bad record"), 1, &stop);
  stopper.join();
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code() == core::Errc::cancelled);
  CHECK(sent.error().retryable());  // not dead-lettered: the record comes again
  producer->held(core::Error(core::Errc::unavailable, "closed"));  // the ack, late
}

TEST_CASE("a dead letter acknowledged just after the stop counts as sent") {
  // A producer whose ack comes a moment after the consumer began to stop.
  class Late final : public Producer {
   public:
    using Producer::produce;
    void produce(Record, DeliveryCallback done) override {
      acker = std::thread([this, done = std::move(done)] {
        while (!stop->load()) std::this_thread::sleep_for(std::chrono::milliseconds{10});
        std::this_thread::sleep_for(std::chrono::milliseconds{300});
        done(Delivery{});
      });
    }
    core::Status flush(std::chrono::milliseconds) override { return core::ok(); }
    std::size_t in_flight() const override { return 0; }
    std::optional<core::Error> fatal_error() const override { return std::nullopt; }
    const std::atomic<bool>* stop = nullptr;
    std::thread acker;
  };
  auto producer = std::make_shared<Late>();
  std::atomic<bool> stop{false};
  producer->stop = &stop;
  DeadLetter dlq(producer);
  Message m;
  m.topic = "orders.v1";
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    stop = true;
  });
  auto sent = dlq.send(m, core::Error(core::Errc::invalid_argument, "bad record"), 1, &stop);
  stopper.join();
  producer->acker.join();
  // Sent: its offset is stored, and the record is not dead-lettered again after a restart.
  CHECK(sent.ok());
}

TEST_CASE("records given up on fail at once as retryable, and the producer closes at once") {
  ProducerConfig c;
  c.bootstrap = "127.0.0.1:1";  // nothing listens: no ack comes
  c.delivery_timeout = std::chrono::milliseconds{30'000};
  auto p = Producer::create(c);
  REQUIRE(p.ok());
  Record r;
  r.topic = "orders.v1";
  r.value = "x";
  auto f = p.value()->produce(r);
  CHECK_FALSE(p.value()->flush(std::chrono::milliseconds{200}).ok());
  REQUIRE(p.value()->in_flight() == 1);
  p.value()->abandon();
  REQUIRE(f.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto result = f.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == core::Errc::unavailable);
  CHECK(result.error().retryable());
  CHECK(p.value()->flush(std::chrono::seconds{5}).ok());
  CHECK(p.value()->in_flight() == 0);
}

TEST_CASE("a record over message.max.bytes fails at once and is not retryable") {
  ProducerConfig c;
  c.bootstrap = "127.0.0.1:1";
  c.delivery_timeout = std::chrono::milliseconds{2000};
  auto p = Producer::create(c);
  REQUIRE(p.ok());
  Record r;
  r.topic = "big";
  r.value.assign(2'000'000, 'x');
  auto f = p.value()->produce(r);
  REQUIRE(f.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto result = f.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code() == core::Errc::too_large);
  CHECK_FALSE(result.error().retryable());

  Record no_topic;
  auto f2 = p.value()->produce(no_topic);
  REQUIRE(f2.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  auto r2 = f2.get();
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code() == core::Errc::invalid_argument);
  // A future is ready a moment before its record leaves in_flight (the count drops once the
  // callback has returned): flush() waits for that.
  REQUIRE(p.value()->flush(std::chrono::seconds{5}).ok());
  CHECK(p.value()->in_flight() == 0);
}

TEST_CASE("an unreachable broker gives a retryable delivery error and no hang") {
  ProducerConfig c;
  c.bootstrap = "127.0.0.1:1";
  c.delivery_timeout = std::chrono::milliseconds{1500};
  auto p = Producer::create(c);
  REQUIRE(p.ok());
  std::promise<std::pair<DeliveryResult, std::thread::id>> got;
  auto fut = got.get_future();
  Record r{"orders", "key", "value", {{"h", "v"}}};
  p.value()->produce(r, [&](DeliveryResult res) {
    got.set_value({std::move(res), std::this_thread::get_id()});
  });
  REQUIRE(fut.wait_for(std::chrono::seconds{15}) == std::future_status::ready);
  auto [result, thread] = fut.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().retryable());
  CHECK((result.error().code() == core::Errc::timeout ||
         result.error().code() == core::Errc::unavailable));
  const bool on_delivery_thread = thread != std::this_thread::get_id();
  CHECK(on_delivery_thread);
  CHECK(p.value()->flush(std::chrono::seconds{1}).ok());
  CHECK_FALSE(p.value()->fatal_error().has_value());
}

TEST_CASE("a full local queue makes produce wait for room up to queue_full_wait") {
  ProducerConfig c;
  c.bootstrap = "127.0.0.1:1";
  c.properties = {{"queue.buffering.max.messages", "1"}};

  SECTION("no room in time: a retryable unavailable error") {
    c.delivery_timeout = std::chrono::milliseconds{10000};
    c.queue_full_wait = std::chrono::milliseconds{200};
    c.close_timeout = std::chrono::milliseconds{300};
    auto p = Producer::create(c);
    REQUIRE(p.ok());
    auto first = p.value()->produce(Record{"q", "k", "1"});
    auto second = p.value()->produce(Record{"q", "k", "2"});
    REQUIRE(second.wait_for(std::chrono::seconds{5}) == std::future_status::ready);
    auto r = second.get();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == core::Errc::unavailable);
    CHECK(r.error().retryable());
    CHECK(r.error().message().find("stayed full") != std::string::npos);
    CHECK(first.wait_for(std::chrono::milliseconds{0}) == std::future_status::timeout);
    // Closing with the first record still queued: it is purged and its callback still runs.
    p.value().reset();
    REQUIRE(first.wait_for(std::chrono::seconds{0}) == std::future_status::ready);
    auto r1 = first.get();
    REQUIRE_FALSE(r1.ok());
    CHECK(r1.error().code() == core::Errc::unavailable);
    CHECK(r1.error().retryable());
  }
  SECTION("room frees up while waiting: the record is queued after all") {
    c.delivery_timeout = std::chrono::milliseconds{300};  // frees the queue by timing out
    c.queue_full_wait = std::chrono::milliseconds{5000};
    auto p = Producer::create(c);
    REQUIRE(p.ok());
    auto first = p.value()->produce(Record{"q", "k", "1"});
    auto second = p.value()->produce(Record{"q", "k", "2"});
    REQUIRE(second.wait_for(std::chrono::seconds{15}) == std::future_status::ready);
    auto r1 = first.get();
    auto r2 = second.get();
    REQUIRE_FALSE(r1.ok());
    REQUIRE_FALSE(r2.ok());
    CHECK(r1.error().code() == core::Errc::timeout);
    // It got into the queue and then timed out like the first, rather than being refused.
    CHECK(r2.error().code() == core::Errc::timeout);
  }
}

TEST_CASE("extra client properties parse from name=value items split by semicolons or new lines") {
  auto p = parse_properties(
      " security.protocol = SASL_SSL;sasl.mechanism=SCRAM-SHA-512\n\n"
      "debug=cgrp,fetch ;");
  REQUIRE(p.ok());
  CHECK(*p == std::map<std::string, std::string>{{"security.protocol", "SASL_SSL"},
                                                 {"sasl.mechanism", "SCRAM-SHA-512"},
                                                 {"debug", "cgrp,fetch"}});
  CHECK(parse_properties("").value().empty());
  CHECK(parse_properties("a=b=c").value().at("a") == "b=c");

  auto no_eq = parse_properties("linger.ms=5;oops");
  REQUIRE_FALSE(no_eq.ok());
  CHECK(no_eq.error().message() == "item 2 ('oops') is not name=value");
  auto empty_name = parse_properties("=5");
  REQUIRE_FALSE(empty_name.ok());
  auto twice = parse_properties("linger.ms=5; linger.ms=6");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message() == "property 'linger.ms' is given twice");
  // A secret setting's errors never quote what it holds.
  auto secret = parse_properties("sasl.password=hunter2;hunter3", true);
  REQUIRE_FALSE(secret.ok());
  CHECK(secret.error().message() == "item 2 is not name=value");
}

TEST_CASE("extra client properties are checked against librdkafka and lia's own settings") {
  CHECK(check_properties({{"security.protocol", "SASL_SSL"}, {"debug", "cgrp"}}).ok());
  auto unknown = check_properties({{"no.such.property", "1"}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(mentions(unknown.error(), "property 'no.such.property'"));
  auto bad = check_properties({{"socket.timeout.ms", "soon"}});
  REQUIRE_FALSE(bad.ok());
  CHECK(mentions(bad.error(), "socket.timeout.ms"));
  auto owned = check_properties({{"acks", "1"}});
  REQUIRE_FALSE(owned.ok());
  CHECK(mentions(owned.error(), "property 'acks' can't be set here"));
  // Static membership: each consumer of a process would get the same id and fence the others.
  auto static_member = check_properties({{"group.instance.id", "pod-1"}});
  REQUIRE_FALSE(static_member.ok());
  CHECK(mentions(static_member.error(), "property 'group.instance.id' can't be set here"));
  auto bootstrap = check_properties({{"bootstrap.servers", "elsewhere:9092"}});
  REQUIRE_FALSE(bootstrap.ok());
  CHECK(mentions(bootstrap.error(), "LIA_KAFKA_BOOTSTRAP"));
  // librdkafka's aliases of them as well.
  auto broker_list = check_properties({{"metadata.broker.list", "elsewhere:9092"}});
  REQUIRE_FALSE(broker_list.ok());
  CHECK(mentions(broker_list.error(), "LIA_KAFKA_BOOTSTRAP"));
  auto required_acks = check_properties({{"request.required.acks", "1"}});
  REQUIRE_FALSE(required_acks.ok());
  CHECK(mentions(required_acks.error(), "property 'request.required.acks' can't be set here"));
  // A delivery timeout past the outbox relay's 60 s wait for acks, or none at all.
  CHECK(check_properties({{"message.timeout.ms", "45000"}}).ok());
  for (const char* name : {"message.timeout.ms", "delivery.timeout.ms"}) {
    for (const char* value : {"300000", "0"}) {
      INFO(name << "=" << value);
      auto long_wait = check_properties({{name, value}});
      REQUIRE_FALSE(long_wait.ok());
      CHECK(mentions(long_wait.error(), "must be 1..55000 ms"));
    }
  }
  auto secret = check_properties({{"security.protocol", "hunter2"}}, true);
  REQUIRE_FALSE(secret.ok());
  CHECK(mentions(secret.error(), "security.protocol"));
  CHECK_FALSE(mentions(secret.error(), "hunter2"));

  CHECK(is_secret_property("sasl.password"));
  CHECK(is_secret_property("ssl.key.password"));
  CHECK(is_secret_property("sasl.oauthbearer.client.secret"));
  CHECK(is_secret_property("ssl.key.pem"));
  CHECK_FALSE(is_secret_property("sasl.username"));
  CHECK_FALSE(is_secret_property("ssl.ca.location"));
}
