// The audit log against the real database and broker: the writer of rejections, the batch
// insert's merge rules, and the consumer that records every produced event once.

#include "src/audit.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include <lia/core/clock.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/events.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "src/app.hpp"
#include "src/normalize.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lia::ingestion::AuditRow;

namespace {

struct Db {
  std::string schema = lia::testing::unique_name("ingestion_audit");
  std::shared_ptr<lia::pg::Pool> pool;

  Db() {
    lia::pg::PoolConfig pc;
    pc.url = lia::testing::pg_url();
    pc.size = 4;
    auto p = lia::pg::Pool::create(pc);
    REQUIRE(p.ok());
    pool = *p;
    auto applied =
        lia::pg::migrate_service(pool, schema, "ingestion", lia::ingestion::migrations());
    INFO((applied.ok() ? "" : applied.error().describe()));
    REQUIRE(applied.ok());
  }
  ~Db() { lia::testing::drop_schema(*pool, schema); }

  std::int64_t count(const std::string& where = "true") {
    auto rows = pool->exec("SELECT count(*) FROM " + schema + ".webhook_events WHERE " + where);
    REQUIRE(rows.ok());
    return (*rows)[0].get<std::int64_t>(0);
  }
  std::string status_of(const std::string& id) {
    auto rows = pool->exec("SELECT status FROM " + schema + ".webhook_events WHERE id = $1", id);
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    return (*rows)[0].get<std::string>(0);
  }
};

AuditRow row(const std::string& id, const std::string& status) {
  AuditRow r;
  r.id = id;
  r.provider = "meta";
  r.event_kind = "lia.whatsapp.message.received";
  r.provider_event = "messages";
  r.instance = "106540352242922";
  r.provider_message_id = "wamid." + id.substr(0, 8);
  r.detail = "text";
  r.status = status;
  r.reason = status == "processed" ? "" : "because";
  r.http_status = status == "failed" ? 503 : 0;
  r.received_at = "2026-11-22T12:53:24.123Z";
  return r;
}

}  // namespace

TEST_CASE("audit rows: one per id, and processed wins over failed in either order") {
  Db db;
  const auto a = lia::core::Uuid::v7().str();
  const auto b = lia::core::Uuid::v7().str();
  const auto c = lia::core::Uuid::v7().str();
  // In one batch: a twice (failed then processed), b once.
  REQUIRE(lia::ingestion::insert_audit_rows(
              *db.pool, db.schema, {row(a, "failed"), row(a, "processed"), row(b, "failed")})
              .ok());
  CHECK(db.count() == 2);
  CHECK(db.status_of(a) == "processed");
  CHECK(db.status_of(b) == "failed");
  // Later: b delivered after all (processed replaces failed); a late failure doesn't undo a.
  REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema,
                                            {row(b, "processed"), row(a, "failed")})
              .ok());
  CHECK(db.status_of(a) == "processed");
  CHECK(db.status_of(b) == "processed");
  // A whole-request rejection keeps the body's hash and size, nothing else of it.
  AuditRow r = row(c, "rejected");
  r.event_kind = "webhook";
  r.http_status = 401;
  r.body_sha256 = std::string(64, 'a');
  r.body_bytes = 1234;
  r.instance.clear();
  r.provider_message_id.clear();
  REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema, {r}).ok());
  CHECK(db.count("id = '" + c +
                 "' AND body_bytes = 1234 AND http_status = 401 AND instance IS NULL") == 1);
  // A NUL byte in a provider id (jsonb refuses \u0000) doesn't sink the batch.
  AuditRow nul = row(lia::core::Uuid::v7().str(), "rejected");
  nul.provider_message_id = std::string("wamid.\0evil", 11);
  REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema, {nul}).ok());
  CHECK(db.count("provider_message_id = 'wamid.evil'") == 1);
}

TEST_CASE("the audit writer stores queued rows in the background and drops past its capacity") {
  Db db;
  {
    lia::ingestion::AuditWriter writer(db.pool, db.schema,
                                       {.capacity = 1000, .batch = 7, .interval = 20ms});
    for (int i = 0; i < 25; ++i) writer.record(row(lia::core::Uuid::v7().str(), "rejected"));
    REQUIRE(lia::testing::wait_until([&] { return writer.written() == 25; }, 20s));
    CHECK(db.count("status = 'rejected'") == 25);
    CHECK(writer.dropped() == 0);
  }
  {
    lia::ingestion::AuditWriter full(db.pool, db.schema, {.capacity = 0});
    full.record(row(lia::core::Uuid::v7().str(), "rejected"));
    CHECK(full.dropped() == 1);
  }
  {
    // stop() writes what is still queued.
    lia::ingestion::AuditWriter writer(db.pool, db.schema,
                                       {.capacity = 1000, .batch = 500, .interval = 60s});
    for (int i = 0; i < 3; ++i) writer.record(row(lia::core::Uuid::v7().str(), "failed"));
    writer.stop();
    CHECK(writer.written() == 3);
    writer.record(row(lia::core::Uuid::v7().str(), "failed"));
    CHECK(writer.dropped() == 1);
  }
  CHECK(db.count() == 28);
}

TEST_CASE("the audit writer deletes rows past their retention, in slices, and keeps the rest") {
  Db db;
  const auto days_ago = [](int days) {
    return lia::core::format_rfc3339(lia::core::SystemClock::instance().now() -
                                     std::chrono::hours{24 * days});
  };
  // 6,000 rows of 100 days ago (more than one slice of 5,000), 10 of 89 days ago.
  for (int b = 0; b < 6; ++b) {
    std::vector<AuditRow> rows;
    for (int i = 0; i < 1000; ++i) {
      rows.push_back(row(lia::core::Uuid::v7().str(), "processed"));
      rows.back().received_at = days_ago(100);
    }
    REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema, rows).ok());
  }
  std::vector<AuditRow> recent;
  for (int i = 0; i < 10; ++i) {
    recent.push_back(row(lia::core::Uuid::v7().str(), "processed"));
    recent.back().received_at = days_ago(89);
  }
  REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema, recent).ok());
  REQUIRE(db.count() == 6010);
  {
    // Zero retention keeps everything.
    lia::ingestion::AuditWriter keep(db.pool, db.schema, {.interval = 10ms, .purge_every = 10ms});
    std::this_thread::sleep_for(100ms);
    CHECK(keep.purged() == 0);
  }
  CHECK(db.count() == 6010);
  lia::ingestion::AuditWriter writer(
      db.pool, db.schema,
      {.interval = 10ms, .retention = std::chrono::hours{24 * 90}, .purge_every = 10ms});
  REQUIRE(lia::testing::wait_until([&] { return writer.purged() == 6000; }, 20s));
  CHECK(db.count() == 10);
  CHECK(db.count("received_at > now() - interval '90 days'") == 10);
}

TEST_CASE("the audit purge goes on slice after slice until the backlog past retention is gone") {
  Db db;
  // A day's backlog larger than any fixed number of slices per run: 30 slices of 100 here. A
  // purge that stopped after some slices would leave the rest for an hour (purge_every).
  std::vector<AuditRow> rows;
  for (int i = 0; i < 3000; ++i) {
    rows.push_back(row(lia::core::Uuid::v7().str(), "processed"));
    rows.back().received_at = lia::core::format_rfc3339(lia::core::SystemClock::instance().now() -
                                                        std::chrono::hours{24 * 100});
  }
  REQUIRE(lia::ingestion::insert_audit_rows(*db.pool, db.schema, rows).ok());
  REQUIRE(db.count() == 3000);
  lia::ingestion::AuditWriter writer(db.pool, db.schema,
                                     {.interval = 10ms,
                                      .retention = std::chrono::hours{24 * 90},
                                      .purge_every = std::chrono::hours{1},
                                      .purge_slice = 100});
  CHECK(lia::testing::wait_until([&] { return writer.purged() == 3000; }, 20s));
  CHECK(db.count() == 0);
}

TEST_CASE("the audit row of a produced record names the event, never its content") {
  lia::runtime::Outgoing out;
  out.topic = "whatsapp.inbound.v1";
  out.key = "106540352242922:5511987654321";
  out.type = std::string(lia::events::types::whatsapp_message_received);
  out.data =
      R"({"provider":"meta","instance":"106540352242922","chat_id":"5511987654321","message_id":"wamid.A","from":"5511987654321","kind":"text","text":"segredo","timestamp":"2026-11-22T12:53:20Z","from_me":false})";
  out.id = lia::ingestion::message_event_id(lia::ingestion::Provider::meta, "106540352242922",
                                            "wamid.A");
  auto rec = lia::runtime::make_record("ingestion", out);
  REQUIRE(rec.ok());
  auto r = lia::ingestion::audit_row_of_record(rec->value, "whatsapp.inbound.v1", 3, 42);
  REQUIRE(r);
  CHECK(r->id == out.id);
  CHECK(r->provider == "meta");
  CHECK(r->event_kind == "lia.whatsapp.message.received");
  CHECK(r->provider_message_id == "wamid.A");
  CHECK(r->detail == "text");
  CHECK(r->status == "processed");
  CHECK(r->partition == 3);
  CHECK(r->offset == 42);
  // Neither the text nor the customer's number, in any field.
  CHECK(r->reason.empty());
  for (const std::string* field : {&r->id, &r->provider, &r->event_kind, &r->provider_event,
                                   &r->instance, &r->provider_message_id, &r->detail, &r->status,
                                   &r->reason, &r->body_sha256, &r->topic, &r->received_at}) {
    INFO(*field);
    CHECK(field->find("segredo") == std::string::npos);
    CHECK(field->find("5511987654321") == std::string::npos);
  }
  CHECK(!lia::ingestion::audit_row_of_record("not json", "t", 0, 0));
  CHECK(!lia::ingestion::audit_row_of_record(R"({"id":"x","type":"y","data":{"provider":"other"}})",
                                             "t", 0, 0));
}

TEST_CASE("the audit consumer writes one processed row per event and commits only after writing") {
  Db db;
  const auto topic = lia::testing::unique_name("it.audit");
  const auto group = lia::testing::unique_name("it.audit.group");
  auto producer = lia::kafka::Producer::create({lia::testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  auto produce = [&](const std::string& message_id) {
    lia::runtime::Outgoing out;
    out.topic = topic;
    out.key = "lia-vendas:5511987654321@s.whatsapp.net";
    out.type = std::string(lia::events::types::whatsapp_message_status);
    out.data =
        R"({"provider":"evolution","instance":"lia-vendas","chat_id":"5511987654321@s.whatsapp.net","message_id":")" +
        message_id + R"(","status":"READ","timestamp":"2026-11-22T12:53:24.123Z"})";
    out.id = lia::ingestion::status_event_id(lia::ingestion::Provider::evolution, "lia-vendas",
                                             message_id, "READ");
    auto rec = lia::runtime::make_record("ingestion", out);
    REQUIRE(rec.ok());
    REQUIRE((*producer)->produce(*rec).get().ok());
  };
  for (int i = 0; i < 12; ++i) produce("BAE5" + std::to_string(i));
  produce("BAE50");  // a redelivery: same event id

  lia::ingestion::AuditConsumerOptions opts;
  opts.bootstrap = lia::testing::kafka_bootstrap();
  opts.group = group;
  opts.topics = {topic};
  opts.batch = 5;
  opts.max_wait = 50ms;
  opts.session_timeout = 6000ms;
  {
    auto consumer = lia::ingestion::AuditConsumer::create(db.pool, db.schema, opts);
    REQUIRE(consumer.ok());
    (*consumer)->start();
    REQUIRE(lia::testing::wait_until([&] { return (*consumer)->written() == 13; }, 30s, 20ms));
    (*consumer)->stop();
  }
  CHECK(db.count("status = 'processed' AND detail = 'READ'") == 12);
  CHECK(db.count("topic = '" + topic + "' AND kafka_offset IS NOT NULL") == 12);

  // The offsets were committed: a new member of the group only sees what comes next.
  produce("BAE5-late");
  auto again = lia::ingestion::AuditConsumer::create(db.pool, db.schema, opts);
  REQUIRE(again.ok());
  (*again)->start();
  REQUIRE(lia::testing::wait_until([&] { return (*again)->written() >= 1; }, 30s, 20ms));
  (*again)->stop();
  CHECK((*again)->written() == 1);
  CHECK(db.count() == 13);
}

TEST_CASE("the audit consumer takes the service's Kafka properties: a bad one is refused by name") {
  lia::ingestion::AuditConsumerOptions opts;
  opts.bootstrap = "127.0.0.1:1";
  opts.topics = {"whatsapp.inbound.v1"};
  opts.properties = {{"no.such.property", "1"}};
  auto consumer = lia::ingestion::AuditConsumer::create(nullptr, "ingestion", opts);
  REQUIRE_FALSE(consumer.ok());
  CHECK(consumer.error().message().find("'no.such.property'") != std::string::npos);
}
