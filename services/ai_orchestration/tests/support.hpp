#pragma once
// Helpers of the integration tests: a throwaway schema with the service's migrations, crafted
// conversation events as Kafka messages, and the outbox read back as decoded events.

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/events.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "app.hpp"

namespace lia::ai_orchestration::test {

// A schema of its own with the platform (outbox, inbox) and the service's migrations;
// dropped at the end.
struct Db {
  std::string schema = lia::testing::unique_name("ai_test");
  std::shared_ptr<pg::Pool> pool;

  Db() {
    auto p = pg::Pool::create({.url = lia::testing::pg_url(), .size = 4});
    REQUIRE(p.ok());
    pool = *p;
    auto applied = pg::migrate_service(pool, schema, "ai_orchestration", migrations());
    if (!applied) FAIL(applied.error().describe());
  }
  ~Db() { testing::drop_schema(*pool, schema); }

  std::int64_t count(const std::string& table_and_where) {
    auto r = pool->exec("SELECT count(*) FROM " + schema + "." + table_and_where);
    REQUIRE(r.ok());
    return (*r)[0].get<std::int64_t>(0);
  }
};

// One event of the outbox, decoded.
struct Published {
  std::string topic;
  std::string key;
  events::CloudEvent event;

  std::string str(const char* field) const {
    auto doc = json::parse(event.data);
    REQUIRE(doc.ok());
    if (!doc->HasMember(field)) return {};
    const auto& v = (*doc)[field];
    if (v.IsString()) return std::string(json::view(v));
    return json::to_string(v);
  }
};

inline std::vector<Published> outbox(Db& db) {
  auto rows = db.pool->exec("SELECT topic, key, payload FROM " + db.schema + ".outbox ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<Published> out;
  for (const auto& r : *rows) {
    auto ev = events::decode(r.get<std::string>(2));
    REQUIRE(ev.ok());
    // Every event published must match its schema.
    auto valid = events::SchemaRegistry::instance().validate(*ev);
    if (!valid) FAIL(ev->type + ": " + valid.error().message());
    out.push_back({r.get<std::string>(0), r.get<std::string>(1), *ev});
  }
  return out;
}

inline std::vector<Published> of_type(const std::vector<Published>& all, std::string_view type) {
  std::vector<Published> out;
  for (const auto& p : all) {
    if (p.event.type == type) out.push_back(p);
  }
  return out;
}

// A conversation and the events conversation would publish about it.
struct Chat {
  std::string conversation_id = core::Uuid::v7().str();
  std::string contact_id = core::Uuid::v7().str();
  std::string instance = "106540352242922";
  std::string chat_id = lia::testing::unique_name("5511").substr(0, 20);
  std::int64_t offset = 0;

  std::string key() const { return events::chat_key(instance, chat_id); }

  json::Writer base() const {
    json::Writer w;
    w.begin_object()
        .field("conversation_id", conversation_id)
        .field("contact_id", contact_id)
        .field("provider", "meta")
        .field("instance", instance)
        .field("chat_id", chat_id);
    return w;
  }

  kafka::Message message(std::string_view type, std::string data,
                         std::string_view topic = events::topics::conversation_events) {
    auto rec = runtime::make_record("conversation", {.topic = std::string(topic),
                                                     .key = key(),
                                                     .type = std::string(type),
                                                     .subject = conversation_id,
                                                     .data = std::move(data)});
    if (!rec) FAIL(rec.error().describe());
    kafka::Message m;
    m.topic = rec->topic;
    m.partition = 0;
    m.offset = offset++;
    m.key = rec->key;
    m.value = rec->value;
    m.headers = rec->headers;
    return m;
  }

  kafka::Message created(std::string_view assistant = "apresentacao") {
    auto w = base();
    w.field("mode", "ai").field("assistant", assistant).end_object();
    return message(events::types::conversation_created, w.take());
  }
  // A customer's text message routed as `route`.
  kafka::Message inbound(const std::string& text, std::string_view route = "ai",
                         const std::string& message_id = core::Uuid::v7().str(),
                         std::string_view timestamp = "2026-11-22T12:53:20Z") {
    auto w = base();
    w.field("message_id", message_id)
        .field("provider_message_id", "wamid." + message_id)
        .field("direction", "inbound")
        .field("author", "customer")
        .field("kind", "text")
        .field("text", text)
        .field("route", route)
        .field("timestamp", timestamp)
        .end_object();
    return message(events::types::conversation_message_stored, w.take());
  }
  // An outbound message (the AI's reply stored, under its reply_id, or an agent's).
  kafka::Message outbound(const std::string& text, std::string_view author = "ai",
                          const std::string& message_id = core::Uuid::v7().str()) {
    auto w = base();
    w.field("message_id", message_id)
        .field("direction", "outbound")
        .field("author", author)
        .field("kind", "text")
        .field("text", text)
        .field("route", "none")
        .field("status", "PENDING")
        .field("timestamp", "2026-11-22T12:53:21Z")
        .end_object();
    return message(events::types::conversation_message_stored, w.take());
  }
  kafka::Message transferred(std::string_view mode = "human") {
    auto w = base();
    w.field("previous_mode", "ai")
        .field("mode", mode)
        .field("requested_by", "ai")
        .field("reason", "cliente pediu atendente")
        .field("department", "support")
        .end_object();
    return message(events::types::conversation_transferred, w.take());
  }
  kafka::Message resolved() {
    auto w = base();
    w.field("resolved_by", "agent").end_object();
    return message(events::types::conversation_resolved, w.take());
  }
  kafka::Message reopened() {
    auto w = base();
    w.field("mode", "ai").field("reason", "customer_message").end_object();
    return message(events::types::conversation_reopened, w.take());
  }
  // contacts.v1: the customer's contact with this name (keyed by the contact id).
  kafka::Message contact(const std::string& name) {
    json::Writer w;
    w.begin_object()
        .field("contact_id", contact_id)
        .field("phone", "5511987654321")
        .field("name", name)
        .field("created_at", "2026-11-20T10:00:00Z")
        .field("updated_at", "2026-11-22T12:53:21Z")
        .end_object();
    auto m = message(events::types::contact_upserted, w.take(), events::topics::contacts);
    m.key = contact_id;
    return m;
  }
  // contacts.v1: the contact erased (a tombstone: null value).
  kafka::Message contact_tombstone() const {
    kafka::Message m;
    m.topic = std::string(events::topics::contacts);
    m.key = contact_id;
    return m;
  }
  kafka::Message assigned() {
    auto w = base();
    w.field("agent_user_id", core::Uuid::v7().str()).end_object();
    return message(events::types::conversation_assigned, w.take());
  }
  kafka::Message unassigned() {
    auto w = base();
    w.field("previous_agent_user_id", core::Uuid::v7().str())
        .field("department", "suporte")
        .field("reason", "agent_deactivated")
        .end_object();
    return message(events::types::conversation_unassigned, w.take());
  }
};

}  // namespace lia::ai_orchestration::test
