#pragma once
// The integration tests' world: a throwaway schema with the platform and conversation
// migrations, the handlers and the API on it, and helpers to craft events and read the
// outbox back (each outbox payload validated against its schema).

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/conversation/api.hpp>
#include <lia/conversation/api_bodies.hpp>
#include <lia/conversation/app.hpp>
#include <lia/conversation/handlers.hpp>
#include <lia/conversation/users.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

namespace lia::conversation::test {

namespace topics = events::topics;
namespace types = events::types;

inline std::string secret() {
  return "integration-test-secret-0123456789";
}

// The tests hash passwords with the fewest rounds a stored hash may have: the rounds are a
// parameter (libs/auth tests the hashes, and one test here the rehash at login).
inline constexpr int kTestPasswordIterations = auth::kMinPasswordIterations;

inline ApiConfig test_api_config() {
  ApiConfig c{secret(), std::chrono::hours{1}};
  c.password_iterations = kTestPasswordIterations;
  return c;
}

// One outbox row, decoded.
struct Sent {
  std::string topic;
  std::string key;
  events::CloudEvent event;
  json::Document data;
};

class World {
 public:
  World() : schema_(testing::unique_name("conv")) {
    pg::PoolConfig cfg;
    cfg.url = testing::pg_url();
    cfg.size = 8;
    cfg.application_name = "conversation-tests";
    auto pool = pg::Pool::create(cfg);
    REQUIRE(pool.ok());
    pool_ = *pool;
    auto n = pg::migrate_service(pool_, schema_, "conversation", migrations());
    if (!n) FAIL(n.error().message());
    handlers_ = std::make_unique<Handlers>(pool_, schema_);
    api_ = std::make_unique<Api>(pool_, schema_, test_api_config());
  }
  ~World() { testing::drop_schema(*pool_, schema_); }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const std::string& schema() const { return schema_; }
  pg::Pool& pool() { return *pool_; }
  std::shared_ptr<pg::Pool> pool_ptr() { return pool_; }
  Handlers& handlers() { return *handlers_; }
  Api& api() { return *api_; }
  std::string t(const std::string& table) const { return "\"" + schema_ + "\"." + table; }

  // Applies an event; it must succeed.
  void apply(std::string_view topic, const events::CloudEvent& ev) {
    auto st = handlers_->apply(topic, ev);
    if (!st) FAIL(ev.type << ": " << st.error().describe());
  }

  std::int64_t count(const std::string& sql) {
    auto r = pool_->exec(sql);
    if (!r) FAIL(r.error().message());
    return (*r)[0].get<std::int64_t>(0);
  }
  std::optional<std::string> text(const std::string& sql) {
    auto r = pool_->exec(sql);
    if (!r) FAIL(r.error().message());
    if (r->empty()) return std::nullopt;
    return (*r)[0].get<std::optional<std::string>>(0);
  }

  // Every outbox row in order, each validated against its schema.
  std::vector<Sent> outbox() {
    auto r = pool_->exec("SELECT topic, key, payload FROM " + t("outbox") + " ORDER BY id");
    if (!r) FAIL(r.error().message());
    std::vector<Sent> out;
    for (const auto& row : *r) {
      auto ev = events::decode(row.get<std::string>(2));
      REQUIRE(ev.ok());
      auto st = events::SchemaRegistry::instance().validate(*ev);
      if (!st) FAIL(ev->type << " in the outbox breaks its schema: " << st.error().message());
      CHECK(ev->source == "/lia/conversation");
      auto d = json::parse(ev->data);
      REQUIRE(d.ok());
      out.push_back({row.get<std::string>(0), row.get<std::string>(1), *ev, std::move(*d)});
    }
    return out;
  }
  // The outbox rows of one type.
  std::vector<Sent> sent(std::string_view type) {
    std::vector<Sent> out;
    for (auto& s : outbox()) {
      if (s.event.type == type) out.push_back(std::move(s));
    }
    return out;
  }

  // A user made through create_user (publishes user.upserted too). Returns the id.
  std::string user(const std::string& username, auth::Role role,
                   std::vector<std::string> departments = {"general"},
                   const std::string& password = "password123") {
    NewUser u;
    u.username = username;
    u.password = password;
    u.full_name = username;
    u.role = role;
    u.departments = std::move(departments);
    auto r = pg::transact(
        *pool_, [&](pg::Tx& tx) { return create_user(tx, schema_, u, kTestPasswordIterations); });
    if (!r) FAIL(r.error().message());
    return r->id;
  }

 private:
  std::string schema_;
  std::shared_ptr<pg::Pool> pool_;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<Api> api_;
};

// A CloudEvent as another service would make it; its data must follow the schema.
inline events::CloudEvent event(std::string_view type, const std::string& data,
                                const std::string& source = "test",
                                std::optional<std::string> id = std::nullopt) {
  auto ev = events::make_event(type, 1, events::source_for(source), "", data);
  if (id) ev.id = *id;
  auto st = events::SchemaRegistry::instance().validate(ev);
  if (!st) FAIL("test event " << type << " is invalid: " << st.error().message());
  return ev;
}

inline std::string instance() {
  return "lia-vendas";
}

inline std::string jid(const std::string& phone) {
  return phone + "@s.whatsapp.net";
}

// message.received data (Evolution, text).
inline std::string received(
    const std::string& phone, const std::string& provider_id, const std::string& text,
    const std::string& timestamp = core::format_rfc3339(core::SystemClock::instance().now()),
    const std::string& push_name = "Maria") {
  json::Writer w;
  w.begin_object()
      .field("provider", "evolution")
      .field("instance", instance())
      .field("chat_id", jid(phone))
      .field("message_id", provider_id)
      .field("from", phone)
      .field("push_name", push_name)
      .field("kind", "text")
      .field("text", text)
      .field("timestamp", timestamp)
      .field("from_me", false)
      .end_object();
  return w.take();
}

inline std::string chat_fields(const std::string& conversation_id, const std::string& phone) {
  return "\"conversation_id\":\"" + conversation_id +
         "\",\"provider\":\"evolution\",\"instance\":\"" + instance() + "\",\"chat_id\":\"" +
         jid(phone) + "\"";
}

inline std::string reply(const std::string& conversation_id, const std::string& phone,
                         const std::string& reply_id, const std::string& in_reply_to,
                         const std::string& text, const std::string& delivery = "send") {
  return "{" + chat_fields(conversation_id, phone) + ",\"reply_id\":\"" + reply_id +
         "\",\"in_reply_to\":\"" + in_reply_to +
         "\",\"assistant\":\"suporte\",\"text\":" + json::quote(text) + ",\"delivery\":\"" +
         delivery + "\",\"model\":\"local\"}";
}

inline std::string handoff(const std::string& conversation_id, const std::string& phone,
                           const std::optional<std::string>& department = std::string("suporte"),
                           const std::optional<std::string>& in_reply_to = std::nullopt) {
  std::string d =
      "{" + chat_fields(conversation_id, phone) +
      ",\"assistant\":\"suporte\",\"reason\":\"cliente pediu atendente\",\"urgency\":\"high\"";
  if (department) d += ",\"department\":\"" + *department + "\"";
  if (in_reply_to) d += ",\"in_reply_to\":\"" + *in_reply_to + "\"";
  return d + "}";
}

inline std::string status(const std::string& phone, const std::string& provider_id,
                          const std::string& st,
                          const std::optional<std::string>& reason = std::nullopt) {
  std::string d = "{\"provider\":\"evolution\",\"instance\":\"" + instance() + "\",\"chat_id\":\"" +
                  jid(phone) + "\",\"message_id\":\"" + provider_id + "\",\"status\":\"" + st +
                  "\",\"timestamp\":\"2026-11-22T12:53:24.123Z\"";
  if (reason) d += ",\"error\":{\"reason\":\"" + *reason + "\"}";
  return d + "}";
}

// `conversation_id`: the conversation the command was for (a survey's), if any.
inline std::string sent_event(const std::string& command_id, const std::string& phone,
                              const std::string& provider_id,
                              const std::optional<std::string>& conversation_id = std::nullopt) {
  return "{\"command_id\":\"" + command_id + "\",\"provider\":\"evolution\",\"instance\":\"" +
         instance() + "\",\"to\":\"" + jid(phone) + "\",\"attempts\":1,\"provider_message_id\":\"" +
         provider_id + "\"" +
         (conversation_id ? ",\"conversation_id\":\"" + *conversation_id + "\"" : std::string()) +
         "}";
}

inline std::string failed_event(const std::string& command_id, const std::string& phone,
                                const std::string& reason) {
  return "{\"command_id\":\"" + command_id + "\",\"provider\":\"evolution\",\"instance\":\"" +
         instance() + "\",\"to\":\"" + jid(phone) + "\",\"attempts\":1,\"reason\":\"" + reason +
         "\"}";
}

// A unique E.164 Brazilian mobile number ("5511987" + 6 digits).
inline std::string phone() {
  static std::atomic<int> n{0};
  return "5511987" + std::to_string(100000 + n++);
}

}  // namespace lia::conversation::test
