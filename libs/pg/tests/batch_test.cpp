// pg::Batch: transact() calls on the batch's thread join its one transaction; a failure
// anywhere fails the whole batch; after it closes, transact() commits on its own again.

#include <thread>

#include <lia/pg/batch.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/tx.hpp>

#include "support.hpp"

using namespace lia;
using pg::Tx;
using pg::test::scalar;
using pg::test::TempSchema;

namespace {

std::string table(TempSchema& s) {
  REQUIRE(s.pool->exec("CREATE SCHEMA " + s.q()).ok());
  REQUIRE(s.pool->exec("CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)").ok());
  return s.q() + ".t";
}

core::Status insert(pg::Pool& pool, const std::string& t, int id) {
  return pg::transact(pool, [&](Tx& tx) -> core::Status {
    if (auto r = tx.exec("INSERT INTO " + t + " VALUES ($1)", id); !r) return r.error();
    return core::ok();
  });
}

// Counts rows from another thread, hence on another connection.
std::int64_t count_elsewhere(pg::Pool& pool, const std::string& t) {
  std::int64_t n = -1;
  std::thread([&] { n = scalar(pool, "SELECT count(*) FROM " + t); }).join();
  return n;
}

}  // namespace

TEST_CASE("transactions on the batch's thread share it and become visible at commit", "[batch]") {
  TempSchema s("pgbatch");
  const auto t = table(s);
  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  REQUIRE(insert(*s.pool, t, 1).ok());
  REQUIRE(insert(*s.pool, t, 2).ok());
  CHECK((*batch)->joined() == 2);
  // Reads on this thread use the batch's connection and see its rows ...
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + t) == 2);
  {
    auto lease = s.pool->acquire();
    REQUIRE(lease.ok());
    CHECK((*lease)->backend_pid() == (*batch)->connection().backend_pid());
  }
  // ... other connections don't, until the commit.
  CHECK(count_elsewhere(*s.pool, t) == 0);
  REQUIRE((*batch)->commit().ok());
  CHECK(count_elsewhere(*s.pool, t) == 2);
  // Closed: the next transaction commits on its own.
  CHECK(pg::Batch::current(s.pool.get()) == nullptr);
  REQUIRE(insert(*s.pool, t, 3).ok());
  CHECK(count_elsewhere(*s.pool, t) == 3);
}

TEST_CASE("one failing transaction fails the whole batch and nothing of it commits", "[batch]") {
  TempSchema s("pgbatch");
  const auto t = table(s);
  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  REQUIRE(insert(*s.pool, t, 1).ok());
  CHECK_FALSE((*batch)->failed());
  auto dup = insert(*s.pool, t, 1);  // unique violation: the batch's transaction is aborted
  CHECK_FALSE(dup.ok());
  CHECK((*batch)->failed());
  auto after = insert(*s.pool, t, 2);  // refused at once, retryable
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().retryable());
  auto committed = (*batch)->commit();
  CHECK_FALSE(committed.ok());
  CHECK(count_elsewhere(*s.pool, t) == 0);
  CHECK(s.pool->idle_connections() == s.pool->open_connections());
}

TEST_CASE("an SQL error swallowed by the function still fails the batch", "[batch]") {
  TempSchema s("pgbatch");
  const auto t = table(s);
  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    (void)tx.exec("INSERT INTO " + t + " VALUES (1)");
    (void)tx.exec("SELECT 1 / 0");
    return core::ok();
  });
  CHECK(r.ok());              // the function said so ...
  CHECK((*batch)->failed());  // ... but the batch knows better
  CHECK_FALSE((*batch)->commit().ok());
  CHECK(count_elsewhere(*s.pool, t) == 0);
}

TEST_CASE("a batch dropped without commit rolls back, other isolation levels cannot join",
          "[batch]") {
  TempSchema s("pgbatch");
  const auto t = table(s);
  {
    auto batch = pg::Batch::open(*s.pool);
    REQUIRE(batch.ok());
    REQUIRE(insert(*s.pool, t, 1).ok());
  }
  CHECK(count_elsewhere(*s.pool, t) == 0);
  CHECK(pg::Batch::current(s.pool.get()) == nullptr);

  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  auto r = pg::transact(*s.pool, [&](Tx&) -> core::Status { return core::ok(); },
                        {.isolation = pg::Isolation::serializable});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().retryable());
  CHECK((*batch)->failed());
}

TEST_CASE("a batch belongs to its thread and its pool", "[batch]") {
  TempSchema s("pgbatch");
  const auto t = table(s);
  auto other_pool = pg::test::make_pool(1);
  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  // Another pool on the same thread commits on its own.
  REQUIRE(insert(*other_pool, t, 1).ok());
  CHECK(count_elsewhere(*s.pool, t) == 1);
  // One batch per thread, whatever its pool.
  auto second = pg::Batch::open(*other_pool);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message().find("already open") != std::string::npos);
  // Another thread on the same pool commits on its own too.
  std::thread([&] { REQUIRE(insert(*s.pool, t, 2).ok()); }).join();
  CHECK(count_elsewhere(*s.pool, t) == 2);
  CHECK((*batch)->joined() == 0);
  REQUIRE((*batch)->commit().ok());
}

TEST_CASE("a batch claims its expected event ids with one look-up and writes them at commit",
          "[batch]") {
  TempSchema s("pgbatch");
  REQUIRE(pg::migrate_service(s.pool, s.name, "svc", {}).ok());
  const std::string inbox = "SELECT count(*) FROM " + s.q() + ".inbox";
  // e-old was handled before the batch.
  REQUIRE(pg::transact(*s.pool, [&](Tx& tx) -> core::Result<bool> {
            return pg::inbox_claim(tx, s.name, "c", "e-old");
          }).ok());

  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  (*batch)->expect({"e1", "e2", "e-old"});
  auto claim = [&](const std::string& id) {
    return pg::transact(*s.pool, [&](Tx& tx) { return pg::inbox_claim(tx, s.name, "c", id); });
  };
  auto a = claim("e1");
  REQUIRE(a.ok());
  CHECK(*a);
  auto again = claim("e1");  // the same record twice in one batch: the second is a duplicate
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  auto old = claim("e-old");
  REQUIRE(old.ok());
  CHECK_FALSE(*old);
  auto unexpected = claim("e9");  // not announced: claimed on its own, at once
  REQUIRE(unexpected.ok());
  CHECK(*unexpected);
  CHECK(scalar(*s.pool, inbox) == 2);  // this thread sees e-old and e9 so far (e1 waits)
  CHECK(count_elsewhere(*s.pool, s.q() + ".inbox") == 1);
  REQUIRE((*batch)->commit().ok());
  CHECK(count_elsewhere(*s.pool, s.q() + ".inbox") == 3);  // e-old, e9, e1
}

TEST_CASE("a claim another transaction made meanwhile fails the batch's commit", "[batch]") {
  TempSchema s("pgbatch");
  REQUIRE(pg::migrate_service(s.pool, s.name, "svc", {}).ok());
  auto batch = pg::Batch::open(*s.pool);
  REQUIRE(batch.ok());
  (*batch)->expect({"e1"});
  auto mine = pg::transact(*s.pool, [&](Tx& tx) { return pg::inbox_claim(tx, s.name, "c", "e1"); });
  REQUIRE(mine.ok());
  CHECK(*mine);
  // Another consumer (a rebalance) handles the same event and commits first.
  std::thread([&] {
    auto theirs =
        pg::transact(*s.pool, [&](Tx& tx) { return pg::inbox_claim(tx, s.name, "c", "e1"); });
    REQUIRE(theirs.ok());
    CHECK(*theirs);
  }).join();
  auto committed = (*batch)->commit();
  REQUIRE_FALSE(committed.ok());
  CHECK(committed.error().code() == core::Errc::conflict);
  CHECK(count_elsewhere(*s.pool, s.q() + ".inbox") == 1);
}
