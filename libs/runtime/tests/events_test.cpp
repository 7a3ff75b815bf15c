#include <catch2/catch.hpp>

#include <lia/pg/tx.hpp>
#include <lia/runtime/events.hpp>
#include <lia/runtime/runtime.hpp>

using lia::runtime::Outgoing;

namespace {
const char* kConnection =
    R"({"provider":"evolution","instance":"lia-vendas","state":"CONNECTED","timestamp":"2026-11-22T12:50:00Z"})";

lia::kafka::Message as_message(const lia::kafka::Record& r) {
  lia::kafka::Message m;
  m.topic = r.topic;
  m.key = r.key;
  m.value = r.value;
  m.headers = r.headers;
  return m;
}
}  // namespace

TEST_CASE("make_record builds a validated CloudEvent that decode_event reads back") {
  lia::core::ManualClock clock;
  auto rec = lia::runtime::make_record("ingestion",
                                       Outgoing{"whatsapp.status.v1", "lia-vendas:x",
                                                "lia.whatsapp.connection.updated", "", kConnection},
                                       clock);
  REQUIRE(rec.ok());
  CHECK(rec->topic == "whatsapp.status.v1");
  CHECK(rec->key == "lia-vendas:x");
  REQUIRE(rec->headers.size() == 2);
  CHECK(rec->headers[1].value == "lia.whatsapp.connection.updated");
  auto ev = lia::runtime::decode_event(as_message(*rec));
  REQUIRE(ev.ok());
  CHECK(ev->source == "/lia/ingestion");
  CHECK(ev->id == rec->headers[0].value);
  CHECK(ev->dataschema == "lia://schemas/lia.whatsapp.connection.updated/v1");
}

TEST_CASE("decode_event reads a newer producer's optional property, which make_record refuses") {
  const std::string newer =
      R"({"provider":"evolution","instance":"lia-vendas","state":"CONNECTED",)"
      R"("timestamp":"2026-11-22T12:50:00Z","battery":87})";
  auto rec = lia::runtime::make_record(
      "ingestion",
      Outgoing{"whatsapp.status.v1", "k", "lia.whatsapp.connection.updated", "", newer});
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.error().message().find("'/battery' is not allowed") != std::string::npos);

  auto ok = lia::runtime::make_record(
      "ingestion",
      Outgoing{"whatsapp.status.v1", "k", "lia.whatsapp.connection.updated", "", kConnection});
  REQUIRE(ok.ok());
  auto m = as_message(*ok);
  const auto pos = m.value.find(R"("state":"CONNECTED")");
  REQUIRE(pos != std::string::npos);
  m.value.insert(pos, R"("battery":87,)");
  auto ev = lia::runtime::decode_event(m);
  REQUIRE(ev.ok());
  CHECK(ev->data.find("\"battery\":87") != std::string::npos);
}

TEST_CASE("a producer's schema mistake is an internal error, not a record") {
  auto rec = lia::runtime::make_record(
      "ingestion", Outgoing{"whatsapp.status.v1", "k", "lia.whatsapp.connection.updated", "",
                            R"({"provider":"evolution"})"});
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.error().code() == lia::core::Errc::internal);
  CHECK_FALSE(rec.error().retryable());
  CHECK(rec.error().message().find("does not match its schema") != std::string::npos);
}

TEST_CASE("decode_event refuses garbage and invalid data without retry") {
  lia::kafka::Message garbage;
  garbage.value = "not json";
  auto a = lia::runtime::decode_event(garbage);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code() == lia::core::Errc::invalid_argument);
  CHECK_FALSE(a.error().retryable());

  auto rec = lia::runtime::make_record(
      "ingestion",
      Outgoing{"whatsapp.status.v1", "k", "lia.whatsapp.connection.updated", "", kConnection});
  REQUIRE(rec.ok());
  auto m = as_message(*rec);
  const auto pos = m.value.find("CONNECTED");
  REQUIRE(pos != std::string::npos);
  m.value.replace(pos, 9, "SLEEPING!");
  auto b = lia::runtime::decode_event(m);
  REQUIRE_FALSE(b.ok());
  CHECK_FALSE(b.error().retryable());
  CHECK(b.error().message().find("state") != std::string::npos);
}

TEST_CASE(
    "a COMMIT whose outcome is unknown is retried by a consumer, other errors stay as they are") {
  auto unknown =
      lia::runtime::retry_unknown_commits([](const lia::kafka::Message&) -> lia::core::Status {
        return lia::pg::commit_outcome_unknown_error("server closed the connection");
      });
  const lia::kafka::Message m;
  auto st = unknown(m);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code() == lia::core::Errc::unavailable);
  CHECK(st.error().retryable());  // the consumer waits and retries; no dead letter
  CHECK(st.error().message().find("connection lost during COMMIT") == 0);

  // transact() itself does not retry it: the raw error is not retryable.
  CHECK_FALSE(lia::pg::commit_outcome_unknown_error("x").retryable());
  CHECK(lia::pg::commit_outcome_unknown(lia::pg::commit_outcome_unknown_error("x")));

  auto bad =
      lia::runtime::retry_unknown_commits([](const lia::kafka::Message&) -> lia::core::Status {
        return lia::core::Error(lia::core::Errc::unavailable, "connection lost during COMMIT",
                                false);
      });
  CHECK_FALSE(bad(m).error().retryable());  // the same words from elsewhere: not ours
  auto poison =
      lia::runtime::retry_unknown_commits([](const lia::kafka::Message&) -> lia::core::Status {
        return lia::core::Error(lia::core::Errc::invalid_argument, "bad payload", false);
      });
  CHECK_FALSE(poison(m).error().retryable());
  auto fine = lia::runtime::retry_unknown_commits(
      [](const lia::kafka::Message&) -> lia::core::Status { return lia::core::ok(); });
  CHECK(fine(m).ok());
}

namespace {
class StubProducer : public lia::kafka::Producer {
 public:
  using lia::kafka::Producer::produce;
  void produce(lia::kafka::Record record, lia::kafka::DeliveryCallback done) override {
    done(lia::kafka::Delivery{record.topic, 0, 0});
  }
  lia::core::Status flush(std::chrono::milliseconds) override { return lia::core::ok(); }
  std::size_t in_flight() const override { return 0; }
  std::optional<lia::core::Error> fatal_error() const override { return fatal; }
  std::optional<lia::core::Error> fatal;
};
}  // namespace

TEST_CASE("liveness fails once a Kafka producer hit a fatal error, naming it") {
  auto runtime_producer = std::make_shared<StubProducer>();
  auto own_producer = std::make_shared<StubProducer>();
  const std::vector<lia::runtime::LivenessCheck> checks{
      lia::runtime::producer_liveness("kafka_producer", runtime_producer),
      lia::runtime::producer_liveness("kafka_gateway_producer", own_producer)};
  CHECK(lia::runtime::liveness(checks).status == 200);
  // A service's own producer counts too (ingestion's gateway producer).
  own_producer->fatal = lia::core::Error(lia::core::Errc::internal, "producer fenced", false);
  const auto failing = lia::runtime::liveness(checks);
  CHECK(failing.status == 503);
  CHECK(failing.body.find("kafka_producer_failed") != std::string::npos);
  CHECK(failing.body.find("kafka_gateway_producer") != std::string::npos);
  CHECK(failing.body.find("producer fenced") != std::string::npos);
}

namespace {
class StubConsumer : public lia::kafka::Consumer {
 public:
  void start() override {}
  void close() override {}
  void pause() override {}
  void resume() override {}
  bool assigned() const override { return true; }
  bool joined() const override { return true; }
  std::vector<lia::kafka::TopicPartition> assignment() const override { return {}; }
  std::uint64_t handled() const override { return 0; }
  std::uint64_t dead_lettered() const override { return 0; }
  std::optional<lia::core::Error> fatal_error() const override { return fatal; }
  std::optional<lia::core::Error> stalled() const override { return stuck; }
  std::optional<lia::core::Error> fatal;
  std::optional<lia::core::Error> stuck;
};
}  // namespace

TEST_CASE("a consumer's fatal error fails its liveness, naming its group") {
  StubConsumer consumer;
  CHECK(lia::runtime::consumer_alive(consumer, "lia-notification").ok());
  consumer.fatal = lia::core::Error(lia::core::Errc::internal, "instance fenced", false);
  const auto st = lia::runtime::consumer_alive(consumer, "lia-notification");
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
  CHECK(st.error().message() ==
        "the Kafka consumer of group lia-notification hit a fatal error: instance fenced");
}

TEST_CASE("a consumer whose poll thread is stuck fails its liveness, naming its group") {
  StubConsumer consumer;
  consumer.stuck =
      lia::core::Error(lia::core::Errc::unavailable, "has not polled for 700 s", false);
  const auto st = lia::runtime::consumer_alive(consumer, "lia-ai-orchestration");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message() ==
        "the Kafka consumer of group lia-ai-orchestration: has not polled for 700 s");
}

TEST_CASE("command_of tells an outcome of this service's command by its header") {
  lia::kafka::Message m;
  CHECK_FALSE(lia::runtime::command_of(m, "collections").has_value());  // an older producer's
  m.headers.push_back({"lia.command_source", "/lia/collections"});
  CHECK(lia::runtime::command_of(m, "collections") == true);
  CHECK(lia::runtime::command_of(m, "nps_gamification") == false);
}
