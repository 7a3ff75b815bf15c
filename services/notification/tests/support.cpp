#include "support.hpp"

#include <catch2/catch.hpp>

#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/notification/app.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

namespace lia::notification::test {
namespace {

provider_sandbox::Config sandbox_config() {
  provider_sandbox::Config c;
  c.meta_token = kMetaToken;
  c.evolution_apikey = kEvolutionKey;
  return c;
}

}  // namespace

std::string new_id() {
  return core::Uuid::v7().str();
}

kafka::ConsumerConfig consumer_config(const std::string& topic) {
  kafka::ConsumerConfig c;
  c.bootstrap = testing::kafka_bootstrap();
  c.group_id = testing::unique_name("notification_test");
  c.topics = {topic};
  c.session_timeout = std::chrono::milliseconds{6000};
  c.heartbeat_interval = std::chrono::milliseconds{500};
  c.commit_interval = std::chrono::milliseconds{200};
  return c;
}

Fixture::Fixture(int rate_per_number, int max_attempts)
    : schema(testing::unique_name("notification_test")),
      commands_topic(testing::unique_name("notification_commands")),
      events_topic(testing::unique_name("notification_events")),
      sandbox(sandbox_config()) {
  pg::PoolConfig pc;
  pc.url = testing::pg_url();
  pc.size = 4;
  auto p = pg::Pool::create(pc);
  REQUIRE(p.ok());
  pool = std::move(p).value();
  auto migrated = pg::migrate_service(pool, schema, "notification", migrations());
  INFO((migrated.ok() ? "" : migrated.error().describe()));
  REQUIRE(migrated.ok());

  kafka::ProducerConfig kc;
  kc.bootstrap = testing::kafka_bootstrap();
  kc.delivery_timeout = std::chrono::milliseconds{15000};
  auto prod = kafka::Producer::create(kc);
  REQUIRE(prod.ok());
  producer = std::shared_ptr<kafka::Producer>(std::move(prod).value());

  http::Router router;
  sandbox.install(router);
  server = std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1"},
                                          std::move(router));
  REQUIRE(server->start().ok());

  store = std::make_shared<OutboundStore>(pool, schema);
  options.provider = {url() + "/v25.0", kMetaToken, url(), kEvolutionKey, std::chrono::seconds{5}};
  options.max_attempts = max_attempts;
  options.backoff = std::chrono::milliseconds{10};
  options.backoff_max = std::chrono::milliseconds{3000};
  options.events_topic = events_topic;
  handler = std::make_unique<CommandHandler>(
      store, std::make_shared<http::Client>(), std::make_shared<RateLimiter>(rate_per_number),
      std::make_shared<kafka::DeadLetter>(producer), options);
  statuses = std::make_unique<StatusHandler>(store, options);
}

Fixture::~Fixture() {
  server->stop(std::chrono::seconds{1});
  sandbox.stop();
  testing::drop_schema(*pool, schema);
}

std::string Fixture::url() const {
  return "http://127.0.0.1:" + std::to_string(server->port());
}

kafka::Message Fixture::command(std::string_view type, const std::string& data,
                                std::int64_t offset) const {
  auto ev = events::make_event(type, 1, "/lia/conversation", "", data);
  auto valid = events::SchemaRegistry::instance().validate(ev);
  INFO((valid.ok() ? "" : valid.error().message()));
  REQUIRE(valid.ok());
  kafka::Message m;
  m.topic = commands_topic;
  m.partition = 0;
  m.offset = offset;
  m.key = "chat-key";
  m.value = events::encode(ev);
  m.headers = {{"lia.event_id", ev.id}, {"lia.event_type", std::string(type)}};
  return m;
}

std::string Fixture::text_data(const std::string& command_id, const std::string& provider,
                               const std::string& to, const std::string& text,
                               const std::string& extra) {
  const std::string instance = provider == "meta" ? kMetaInstance : kEvolutionInstance;
  return R"({"command_id":")" + command_id + R"(","provider":")" + provider + R"(","instance":")" +
         instance + R"(","to":")" + to + R"(","text":")" + text +
         R"(","conversation_id":"0190e0a4-7b2c-7def-8123-0123456789ab")" + extra + "}";
}

kafka::Message Fixture::status_record(const std::string& status, const std::string& provider_id,
                                      const std::string& extra, const std::string& chat,
                                      std::optional<core::SysTime> at) {
  const std::string data = R"({"provider":"meta","instance":")" + std::string(kMetaInstance) +
                           R"(","chat_id":")" + chat + R"(","message_id":")" + provider_id +
                           R"(","status":")" + status +
                           R"(","timestamp":"2026-11-22T12:53:24.123Z")" + extra + "}";
  auto ev =
      events::make_event(events::types::whatsapp_message_status, 1, "/lia/ingestion", "", data);
  if (at) ev.time = core::format_rfc3339(*at);
  kafka::Message m;
  m.topic = "whatsapp.status.test";
  m.value = events::encode(ev);
  return m;
}

void Fixture::set_in_flight(const std::string& command_id, const std::string& to_chat) const {
  REQUIRE(pool->exec("UPDATE " + schema +
                         ".outbound_messages SET status = 'sending', in_flight = true, "
                         "provider_message_id = NULL, delivery_status = NULL, to_chat = $2 "
                         "WHERE command_id = $1",
                     command_id, to_chat)
              .ok());
}

void Fixture::set_sent(const std::string& command_id, const std::string& provider_id) const {
  REQUIRE(pool->exec("UPDATE " + schema +
                         ".outbound_messages SET status = 'sent', in_flight = false, "
                         "provider_message_id = $2, delivery_status = 'SERVER_ACK' "
                         "WHERE command_id = $1",
                     command_id, provider_id)
              .ok());
}

std::vector<OutboxRow> Fixture::outbox(const std::string& topic) const {
  auto rows = pool->exec("SELECT topic, key, payload, headers::text FROM " + schema +
                             ".outbox WHERE topic = $1 ORDER BY id",
                         topic);
  REQUIRE(rows.ok());
  std::vector<OutboxRow> out;
  for (const auto& r : *rows) {
    out.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
                   r.get<std::string>(3)});
  }
  return out;
}

std::vector<events::CloudEvent> Fixture::events() const {
  std::vector<events::CloudEvent> out;
  for (const auto& row : outbox(events_topic)) {
    auto ev = events::decode(row.payload);
    REQUIRE(ev.ok());
    auto valid = events::SchemaRegistry::instance().validate(*ev);
    INFO(row.payload);
    REQUIRE(valid.ok());
    CHECK(ev->source == "/lia/notification");
    out.push_back(*ev);
  }
  return out;
}

std::optional<OutboundRecord> Fixture::row(const std::string& command_id) const {
  auto r = store->find(command_id);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace lia::notification::test
