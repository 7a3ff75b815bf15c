#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox.hpp>

#include "support.hpp"

using namespace lia;
using pg::Tx;
using pg::test::scalar;
using pg::test::TempSchema;

namespace {
void migrate(TempSchema& s) {
  auto r = pg::migrate_service(s.pool, s.name, "svc", {});
  if (!r) FAIL(r.error().message());
}
}  // namespace

TEST_CASE("enqueue writes the outbox row and notifies, in the caller's transaction", "[outbox]") {
  TempSchema s("pgob");
  migrate(s);
  auto listener = pg::Connection::open({.url = testing::pg_url()});
  REQUIRE(listener.ok());
  auto& l = **listener;
  REQUIRE(l.exec_script("LISTEN " + pg::quote_ident(pg::outbox_channel(s.name))).ok());

  const std::string id = core::Uuid::v7().str();
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<std::int64_t> {
    return pg::enqueue(tx, s.name,
                       {.event_id = id,
                        .topic = "t.v1",
                        .key = "chat-1",
                        .payload = R"({"hello":"world"})",
                        .headers = {{"ce_type", "x.created"}, {"quoted", "a\"b\\c"}}});
  });
  REQUIRE(r.ok());
  CHECK(*r > 0);

  std::vector<pg::Notification> got;
  REQUIRE(testing::wait_until([&] {
    if (!l.consume_input().ok()) return false;
    for (auto& n : l.take_notifications()) got.push_back(n);
    return !got.empty();
  }));
  CHECK(got[0].channel == pg::outbox_channel(s.name));

  auto row = s.pool->exec(
      "SELECT event_id::text, topic, key, payload, headers->>'ce_type', "
      "headers->>'quoted', published_at FROM " +
          s.q() + ".outbox WHERE id = $1",
      *r);
  REQUIRE(row.ok());
  REQUIRE(row->size() == 1);
  CHECK((*row)[0].get<std::string>(0) == id);
  CHECK((*row)[0].get<std::string>(1) == "t.v1");
  CHECK((*row)[0].get<std::string>(2) == "chat-1");
  CHECK((*row)[0].get<std::string>(3) == R"({"hello":"world"})");
  CHECK((*row)[0].get<std::string>(4) == "x.created");
  CHECK((*row)[0].get<std::string>(5) == "a\"b\\c");
  CHECK((*row)[0].is_null(6));

  // Rolled back with the caller's transaction.
  auto rolled = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    auto e = pg::enqueue(
        tx, s.name,
        {.event_id = core::Uuid::v7().str(), .topic = "t", .key = "k", .payload = "{}"});
    if (!e) return e.error();
    return core::Error(core::Errc::invalid_argument, "business rule failed");
  });
  CHECK_FALSE(rolled.ok());
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox") == 1);

  // The same event twice is a conflict.
  auto dup = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<std::int64_t> {
    return pg::enqueue(tx, s.name, {.event_id = id, .topic = "t", .key = "k", .payload = "{}"});
  });
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code() == core::Errc::conflict);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".outbox") == 1);
}

TEST_CASE("inbox_claim is true the first time only, and commits with the effect", "[inbox]") {
  TempSchema s("pgib");
  migrate(s);
  REQUIRE(s.pool->exec("CREATE TABLE " + s.q() + ".effects (event_id text)").ok());
  auto handle = [&](const std::string& event, bool fail_after) {
    return pg::transact(*s.pool, [&](Tx& tx) -> core::Result<bool> {
      auto claimed = pg::inbox_claim(tx, s.name, "billing", event);
      if (!claimed) return claimed.error();
      if (*claimed) {
        auto e = tx.exec("INSERT INTO " + s.q() + ".effects VALUES ($1)", event);
        if (!e) return e.error();
      }
      if (fail_after) return core::Error(core::Errc::unavailable, "crash", false);
      return *claimed;
    });
  };
  auto first = handle("ev-1", false);
  REQUIRE(first.ok());
  CHECK(*first);
  auto again = handle("ev-1", false);
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  // A failed attempt leaves neither the claim nor the effect.
  CHECK_FALSE(handle("ev-2", true).ok());
  auto retry = handle("ev-2", false);
  REQUIRE(retry.ok());
  CHECK(*retry);
  // Claims are per consumer.
  auto other =
      pg::transact(*s.pool, [&](Tx& tx) { return pg::inbox_claim(tx, s.name, "crm", "ev-1"); });
  REQUIRE(other.ok());
  CHECK(*other);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".effects") == 2);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".inbox") == 3);
}

TEST_CASE("rows queued for commit are written together, in order, and only on commit", "[outbox]") {
  TempSchema s("pgob");
  migrate(s);
  auto listener = pg::Connection::open({.url = testing::pg_url()});
  REQUIRE(listener.ok());
  auto& l = **listener;
  REQUIRE(l.exec_script("LISTEN " + pg::quote_ident(pg::outbox_channel(s.name))).ok());
  const std::string count = "SELECT count(*) FROM " + s.q() + ".outbox";

  // Quotes, backslashes, braces, commas and non-ASCII survive the array encoding.
  const std::vector<std::string> payloads = {R"({"text":"olá, \"mundo\" {a,b} \\ fim"})", "{}",
                                             R"({"n":"NULL"})"};
  std::vector<std::string> ids;
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    ids.clear();
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      ids.push_back(core::Uuid::v7().str());
      pg::enqueue_at_commit(tx, s.name,
                            {.event_id = ids.back(),
                             .topic = "t.v1",
                             .key = "chat,\"" + std::to_string(i),
                             .payload = payloads[i],
                             .headers = {{"lia.event_type", "x.y"}, {"q", "a\"b\\c"}}});
    }
    // Nothing written yet: the rows go in with the commit.
    CHECK(scalar(*s.pool, count) == 0);
    return core::ok();
  });
  REQUIRE(r.ok());
  auto rows = s.pool->exec("SELECT event_id::text, key, payload, headers->>'q' FROM " + s.q() +
                           ".outbox ORDER BY id");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == payloads.size());
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    CHECK((*rows)[i].get<std::string>(0) == ids[i]);
    CHECK((*rows)[i].get<std::string>(1) == "chat,\"" + std::to_string(i));
    CHECK((*rows)[i].get<std::string>(2) == payloads[i]);
    CHECK((*rows)[i].get<std::string>(3) == "a\"b\\c");
  }
  std::vector<pg::Notification> got;
  REQUIRE(testing::wait_until([&] {
    if (!l.consume_input().ok()) return false;
    for (auto& n : l.take_notifications()) got.push_back(n);
    return !got.empty();
  }));
  CHECK(got.size() == 1);  // one NOTIFY for the whole transaction

  // A transaction that fails writes none of what it queued.
  auto failed = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    pg::enqueue_at_commit(
        tx, s.name,
        {.event_id = core::Uuid::v7().str(), .topic = "t", .key = "k", .payload = "{}"});
    return core::Error(core::Errc::invalid_argument, "no");
  });
  CHECK_FALSE(failed.ok());
  // A duplicate event id fails the commit, and the transaction with it.
  auto dup = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    pg::enqueue_at_commit(tx, s.name,
                          {.event_id = ids[0], .topic = "t", .key = "k", .payload = "{}"});
    return core::ok();
  });
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code() == core::Errc::conflict);
  CHECK(scalar(*s.pool, count) == static_cast<std::int64_t>(payloads.size()));
}
