// The real binaries: lia-notification on its own schema and topics, lia-provider-sandbox as
// the provider, commands in through Kafka, events out through the outbox relay.
#include <map>
#include <mutex>
#include <regex>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>

#include <lia/auth/auth.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/http/client.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/pool.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia;
using lia::testing::Process;
using namespace std::chrono_literals;

namespace {

int ready_port(const Process& p) {
  static const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  std::smatch m;
  const std::string out = p.output();
  return std::regex_search(out, m, ready) ? std::stoi(m[1]) : 0;
}

int wait_ready(Process& p) {
  REQUIRE(testing::wait_until([&] { return ready_port(p) > 0 || !p.running(); }, 60s, 50ms));
  INFO(p.output());
  const int port = ready_port(p);
  REQUIRE(port > 0);
  return port;
}

kafka::Record command_record(const std::string& topic, std::string_view type,
                             const std::string& data) {
  auto ev = events::make_event(type, 1, "/lia/conversation", "", data);
  REQUIRE(events::SchemaRegistry::instance().validate(ev).ok());
  return {topic,
          "chat",
          events::encode(ev),
          {{"lia.event_id", ev.id}, {"lia.event_type", std::string(type)}}};
}

// lia-notification on its own schema and topics, sending to `provider` (the sandbox).
std::map<std::string, std::string> service_env(const std::string& schema,
                                               const std::string& commands,
                                               const std::string& provider) {
  return {{"LIA_HTTP_PORT", "0"},
          {"LIA_PG_URL", testing::pg_url()},
          {"LIA_KAFKA_BOOTSTRAP", testing::kafka_bootstrap()},
          {"LIA_NOTIFY_SCHEMA", schema},
          {"LIA_NOTIFY_COMMANDS_TOPIC", commands},
          {"LIA_NOTIFY_EVENTS_TOPIC", testing::unique_name("notification_events")},
          {"LIA_NOTIFY_STATUS_TOPIC", testing::unique_name("whatsapp_status")},
          {"LIA_NOTIFY_CONSUMERS", "2"},
          {"LIA_META_GRAPH_URL", provider + "/v25.0"},
          {"LIA_META_ACCESS_TOKEN", "meta-token"},
          {"LIA_JWT_SECRET", "jwt-secret-0123456789-0123456789ab"}};
}

void migrate(const std::map<std::string, std::string>& env) {
  Process m({testing::binary("lia-notification"), "--migrate"}, env);
  INFO(m.output());
  REQUIRE(m.wait(60s) == std::optional<int>(0));
}

}  // namespace

TEST_CASE("bad settings stop lia-notification with exit 2, naming each one") {
  Process p({testing::binary("lia-notification")}, {{"LIA_NOTIFY_MAX_ATTEMPTS", "0"},
                                                    {"LIA_NOTIFY_RATE_PER_NUMBER", "fast"},
                                                    {"LIA_META_GRAPH_URL", "graph.facebook.com"},
                                                    {"LIA_NOTIFY_SCHEMA", "Bad-Name"},
                                                    {"LIA_JWT_SECRET", ""}});
  REQUIRE(p.wait(20s) == std::optional<int>(2));
  const auto out = p.output();
  INFO(out);
  CHECK(out.find("LIA_NOTIFY_MAX_ATTEMPTS: must be between 1 and 20, got 0") != std::string::npos);
  CHECK(out.find("LIA_NOTIFY_RATE_PER_NUMBER: expected an integer, got 'fast'") !=
        std::string::npos);
  CHECK(out.find("LIA_META_GRAPH_URL") != std::string::npos);
  CHECK(out.find("LIA_JWT_SECRET: is required but not set") != std::string::npos);
  CHECK(out.find("LIA_NOTIFY_SCHEMA: expected a lower-case SQL name, got 'Bad-Name'") !=
        std::string::npos);
}

TEST_CASE("lia-notification sends commands from Kafka through the sandbox and reports them") {
  const auto schema = testing::unique_name("notification_svc");
  const auto commands = testing::unique_name("notification_commands");
  const auto events_topic = testing::unique_name("notification_events");
  const auto statuses = testing::unique_name("whatsapp_status");

  Process sandbox({testing::binary("lia-provider-sandbox")},
                  {{"LIA_HTTP_PORT", "0"},
                   {"LIA_SANDBOX_META_TOKEN", "meta-token"},
                   {"LIA_SANDBOX_EVOLUTION_APIKEY", "evo-key"}});
  const std::string provider = "http://127.0.0.1:" + std::to_string(wait_ready(sandbox));

  auto env = service_env(schema, commands, provider);
  env["LIA_NOTIFY_EVENTS_TOPIC"] = events_topic;
  env["LIA_NOTIFY_STATUS_TOPIC"] = statuses;
  env["LIA_EVOLUTION_URL"] = provider;
  env["LIA_EVOLUTION_APIKEY"] = "evo-key";
  env["LIA_NOTIFY_BACKOFF_MS"] = "20";
  // A provider call that could outlast a stop's grace period is warned of at start.
  env["LIA_NOTIFY_HTTP_TIMEOUT_MS"] = "12000";
  env["LIA_SHUTDOWN_GRACE_MS"] = "15000";
  migrate(env);

  // Commands first (the topics exist before the service subscribes).
  auto producer = kafka::Producer::create({testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  const auto meta_id = core::Uuid::v7().str();
  const auto evo_id = core::Uuid::v7().str();
  for (const auto& rec : {command_record(commands, events::types::notification_send_text,
                                         notification::test::Fixture::text_data(
                                             meta_id, "meta", "5511987654321", "Olá!")),
                          command_record(commands, events::types::notification_send_text,
                                         notification::test::Fixture::text_data(
                                             evo_id, "evolution", "5511911112222", "Oi!"))}) {
    auto d = (*producer)->produce(rec).get();
    REQUIRE(d.ok());
  }

  Process svc({testing::binary("lia-notification")}, env);
  const int port = wait_ready(svc);
  CHECK(svc.output().find("meta-token") == std::string::npos);  // secrets never logged
  CHECK(svc.output().find("LIA_NOTIFY_HTTP_TIMEOUT_MS and 13 s pass LIA_SHUTDOWN_GRACE_MS") !=
        std::string::npos);

  // Both outcomes arrive on the events topic, each valid against its schema. The consumer's
  // thread only keeps the records; they are checked here, on the test's thread (Catch2's
  // assertions are not thread-safe, and the consumer would take a failure for its handler's).
  std::mutex mu;
  std::vector<std::string> records;
  auto consumer = kafka::Consumer::create(
      notification::test::consumer_config(events_topic),
      [&](const kafka::Message& m) {
        std::lock_guard lock(mu);
        records.push_back(m.value);
        return core::ok();
      },
      nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  const bool both = testing::wait_until(
      [&] {
        std::lock_guard lock(mu);
        return records.size() >= 2;
      },
      90s, 100ms);
  INFO(svc.output());
  REQUIRE(both);
  (*consumer)->close();
  std::map<std::string, events::CloudEvent> sent;
  {
    std::lock_guard lock(mu);
    for (const auto& value : records) {
      INFO(value);
      auto ev = events::decode(value);
      REQUIRE(ev.ok());
      REQUIRE(events::SchemaRegistry::instance().validate(*ev).ok());
      auto d = json::parse(ev->data);
      REQUIRE(d.ok());
      REQUIRE((d->HasMember("command_id") && (*d)["command_id"].IsString()));
      sent[std::string((*d)["command_id"].GetString())] = *ev;
    }
  }
  REQUIRE(sent.size() == 2);  // one outcome per command
  CHECK(sent[meta_id].type == std::string(events::types::notification_message_sent));
  CHECK(sent[evo_id].type == std::string(events::types::notification_message_sent));

  http::Client client;
  auto list = client.get(provider + "/sandbox/sends");
  REQUIRE(list.ok());
  auto sends = json::parse(list->body);
  REQUIRE(sends.ok());
  CHECK((*sends)["sends"].Size() == 2);
  std::string wamid;
  for (const auto& s : (*sends)["sends"].GetArray()) {
    if (std::string(s["provider"].GetString()) == "meta")
      wamid = s["provider_message_id"].GetString();
  }
  REQUIRE(!wamid.empty());

  // A READ tick for the Meta message moves its record.
  const std::string status =
      R"({"provider":"meta","instance":"106540352242922","chat_id":"5511987654321",)"
      R"("message_id":")" +
      wamid + R"(","status":"READ","timestamp":"2026-11-22T12:53:24.123Z"})";
  auto tick =
      events::make_event(events::types::whatsapp_message_status, 1, "/lia/ingestion", "", status);
  REQUIRE((*producer)
              ->produce({statuses, "106540352242922:5511987654321", events::encode(tick), {}})
              .get()
              .ok());

  auth::Claims claims{"0190e0a4-0000-7000-8000-000000000001", "sup", auth::Role::supervisor,
                      core::SystemClock::instance().now_ms() / 1000,
                      core::SystemClock::instance().now_ms() / 1000 + 600};
  http::ClientRequest get{
      .method = "GET",
      .url = "http://127.0.0.1:" + std::to_string(port) + "/api/outbound/" + meta_id,
      .headers = {{"Authorization",
                   "Bearer " + auth::sign_jwt(claims, "jwt-secret-0123456789-0123456789ab")}}};
  std::string body;
  const bool read = testing::wait_until(
      [&] {
        auto res = client.request(get);
        if (!res.ok() || res->status != 200) return false;
        body = res->body;
        return body.find("\"delivery_status\":\"READ\"") != std::string::npos;
      },
      60s, 200ms);
  INFO(body);
  CHECK(read);

  auto metrics = client.get("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("lia_notification_sends_total{provider=\"meta\",outcome=\"sent\"} 1") !=
        std::string::npos);
  // The outcome the alert LiaSendsWaitingForReplay watches exists at 0 before its first send,
  // so increase() sees that one.
  CHECK(metrics->body.find(
            "lia_notification_sends_total{provider=\"evolution\",outcome=\"unknown\"} 0") !=
        std::string::npos);

  svc.signal(SIGTERM);
  CHECK(svc.wait(40s) == std::optional<int>(0));
  sandbox.signal(SIGTERM);
  CHECK(sandbox.wait(10s) == std::optional<int>(0));

  testing::drop_schema(schema);
}

TEST_CASE(
    "SIGTERM during a long Retry-After stops lia-notification at once, and the next sends once") {
  const auto schema = testing::unique_name("notification_stop");
  const auto commands = testing::unique_name("notification_commands");
  Process sandbox({testing::binary("lia-provider-sandbox")},
                  {{"LIA_HTTP_PORT", "0"}, {"LIA_SANDBOX_META_TOKEN", "meta-token"}});
  const std::string provider = "http://127.0.0.1:" + std::to_string(wait_ready(sandbox));
  http::Client client;
  const auto counts = [&] {
    auto res = client.get(provider + "/sandbox/sends");
    REQUIRE(res.ok());
    auto doc = json::parse(res->body);
    REQUIRE(doc.ok());
    return std::pair<int, int>{(*doc)["counts"]["requests"].GetInt(),
                               (*doc)["counts"]["accepted"].GetInt()};
  };
  // The first try is throttled for 120 s, which the settings let the service honour.
  auto fault = client.request({.method = "POST",
                               .url = provider + "/sandbox/faults",
                               .body = R"({"fail_next":1,"status":429,"retry_after":120})"});
  REQUIRE(fault.ok());
  REQUIRE(fault->status == 200);

  auto env = service_env(schema, commands, provider);
  env["LIA_NOTIFY_BACKOFF_MAX_MS"] = "120000";
  migrate(env);
  auto producer = kafka::Producer::create({testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  const auto id = core::Uuid::v7().str();
  REQUIRE((*producer)
              ->produce(command_record(
                  commands, events::types::notification_send_text,
                  notification::test::Fixture::text_data(id, "meta", "5511987654321", "Olá!")))
              .get()
              .ok());

  {
    Process svc({testing::binary("lia-notification")}, env);
    wait_ready(svc);
    // 6 tries of up to 11 s and 5 waits of up to 120 s, and a minute more: past librdkafka's
    // 300 s, so the command consumers' max.poll.interval.ms is raised.
    CHECK(svc.output().find(R"("from_ms":300000,"to_ms":726000)") != std::string::npos);
    REQUIRE(testing::wait_until([&] { return counts().first == 1; }, 60s, 100ms));
    const auto term_at = std::chrono::steady_clock::now();
    svc.signal(SIGTERM);
    const auto code = svc.wait(150s);
    INFO(svc.output());
    CHECK(code == std::optional<int>(0));
    // Far sooner than the 120 s the provider asked for (a bound no slow machine comes near):
    // the wait ended with SIGTERM.
    CHECK(std::chrono::steady_clock::now() - term_at < 60s);
    CHECK(svc.output().find("notification is stopping") != std::string::npos);
  }
  CHECK(counts() == std::pair<int, int>{1, 0});

  // The next process resumes the command with its second try: sent once. Its backoff cap (a
  // second) is what is left of the wait it honours.
  env["LIA_NOTIFY_BACKOFF_MAX_MS"] = "1000";
  Process next({testing::binary("lia-notification")}, env);
  wait_ready(next);
  CHECK(testing::wait_until([&] { return counts().second == 1; }, 60s, 100ms));
  CHECK(counts() == std::pair<int, int>{2, 1});
  next.signal(SIGTERM);
  const auto next_code = next.wait(40s);
  INFO(next.output());  // all of it, the stop included
  CHECK(next_code == std::optional<int>(0));
  sandbox.signal(SIGTERM);
  CHECK(sandbox.wait(10s) == std::optional<int>(0));

  testing::drop_schema(schema);
}
