#include <atomic>
#include <latch>
#include <stdexcept>
#include <thread>

#include <lia/pg/tx.hpp>

#include "support.hpp"

using namespace lia;
using pg::Tx;
using pg::test::scalar;
using pg::test::TempSchema;

namespace {
void create_table(TempSchema& s, const std::string& ddl) {
  REQUIRE(s.pool->exec("CREATE SCHEMA " + s.q()).ok());
  auto r = s.pool->exec(ddl);
  if (!r) FAIL(r.error().message());
}
}  // namespace

TEST_CASE("transact commits on success, rolls back on error result and on exception", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)");
  const std::string ins = "INSERT INTO " + s.q() + ".t VALUES ($1)";

  auto ok = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<int> {
    if (auto r = tx.exec(ins, 1); !r) return r.error();
    return 1;
  });
  REQUIRE(ok.ok());
  CHECK(*ok == 1);

  auto err = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    if (auto r = tx.exec(ins, 2); !r) return r.error();
    return core::Error(core::Errc::invalid_argument, "changed my mind");
  });
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().message() == "changed my mind");

  CHECK_THROWS_AS(pg::transact(*s.pool,
                               [&](Tx& tx) -> core::Status {
                                 (void)tx.exec(ins, 3);
                                 throw std::runtime_error("boom");
                               }),
                  std::runtime_error);

  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".t") == 1);
  CHECK(s.pool->idle_connections() == s.pool->open_connections());
}

TEST_CASE("an SQL error the function ignores does not commit", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)");
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    (void)tx.exec("INSERT INTO " + s.q() + ".t VALUES (1)");
    (void)tx.exec("SELECT 1 / 0");  // aborts the transaction; the function ignores it
    return core::ok();
  });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::internal);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".t") == 0);
}

TEST_CASE("conflicting serializable transactions are retried until both commit", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".doctors (name text PRIMARY KEY, on_call bool)");
  REQUIRE(
      s.pool->exec("INSERT INTO " + s.q() + ".doctors VALUES ('alice', true), ('bob', true)").ok());
  auto pool = pg::test::make_pool(2);
  std::latch both_read(2);
  std::atomic<int> runs{0};
  std::atomic<int> max_attempt{0};
  // Write skew: each reads the whole table, then changes a row the other one read. At most
  // one of the first attempts can commit under SERIALIZABLE.
  auto worker = [&](const std::string& me) {
    return pg::transact(
        *pool,
        [&](Tx& tx) -> core::Result<std::int64_t> {
          ++runs;
          int seen = max_attempt.load();
          while (seen < tx.attempt() && !max_attempt.compare_exchange_weak(seen, tx.attempt())) {
          }
          auto n = tx.exec("SELECT count(*) FROM " + s.q() + ".doctors WHERE on_call");
          if (!n) return n.error();
          if (tx.attempt() == 1) both_read.arrive_and_wait();
          auto u =
              tx.exec("UPDATE " + s.q() + ".doctors SET on_call = NOT on_call WHERE name = $1", me);
          if (!u) return u.error();
          return (*n)[0].get<std::int64_t>(0);
        },
        {.isolation = pg::Isolation::serializable, .max_attempts = 10});
  };
  core::Result<std::int64_t> a = core::Error(core::Errc::internal, "not run");
  core::Result<std::int64_t> b = core::Error(core::Errc::internal, "not run");
  std::thread ta([&] { a = worker("alice"); });
  std::thread tb([&] { b = worker("bob"); });
  ta.join();
  tb.join();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(runs >= 3);  // at least one retry happened
  CHECK(max_attempt >= 2);
  // Serial outcome: the second saw the first's change.
  CHECK(((*a == 2 && *b == 1) || (*a == 1 && *b == 2)));
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".doctors WHERE on_call") == 0);
}

TEST_CASE("a statement made stale by a migration runs its transaction again", "[tx]") {
  TempSchema s("pgstale");
  // One connection: the statement prepared before the change is the one the read meets.
  s.pool = lia::pg::test::make_pool(1);
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY, status text)");
  REQUIRE(s.pool->exec("INSERT INTO " + s.q() + ".t VALUES (1, 'active')").ok());
  const std::string read = "SELECT id, status FROM " + s.q() + ".t WHERE id = $1 FOR UPDATE";
  const auto read_in_tx = [&] {
    int runs = 0;
    auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<std::string> {
      ++runs;
      auto rows = tx.exec(read, 1);
      if (!rows) return rows.error();
      return (*rows)[0].get<std::string>(1);
    });
    return std::pair{std::move(r), runs};
  };
  // Prepared on the pool's connections, then the column's type changes under them (as a
  // migration Job does while the previous version serves).
  for (int i = 0; i < 4; ++i) REQUIRE(read_in_tx().first.ok());
  REQUIRE(s.pool->exec("CREATE DOMAIN " + s.q() + ".status AS text").ok());
  REQUIRE(s.pool->exec("ALTER TABLE " + s.q() + ".t ALTER COLUMN status TYPE " + s.q() + ".status")
              .ok());
  auto [after, runs] = read_in_tx();
  REQUIRE(after.ok());  // not an internal error (a consumer would dead-letter its record)
  CHECK(*after == "active");
  CHECK(runs == 2);  // the stale statement failed the first run, the second prepared it anew
  // Outside a transaction too.
  auto lone = s.pool->exec(read, 1);
  REQUIRE(lone.ok());
}

TEST_CASE("a non-retryable error is returned at once, never retried", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)");
  REQUIRE(s.pool->exec("INSERT INTO " + s.q() + ".t VALUES (1)").ok());
  int runs = 0;
  auto r = pg::transact(*s.pool,
                        [&](Tx& tx) -> core::Status {
                          ++runs;
                          auto x = tx.exec("INSERT INTO " + s.q() + ".t VALUES (1)");
                          if (!x) return x.error();
                          return core::ok();
                        },
                        {.isolation = pg::Isolation::serializable});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::conflict);
  CHECK(runs == 1);
}

TEST_CASE("retries stop after max_attempts", "[tx]") {
  auto pool = pg::test::make_pool(1);
  int runs = 0;
  auto r = pg::transact(*pool,
                        [&](Tx&) -> core::Status {
                          ++runs;
                          return pg::error_from_sqlstate("40001", "could not serialize access");
                        },
                        {.max_attempts = 3, .backoff = std::chrono::milliseconds{1}});
  REQUIRE_FALSE(r.ok());
  CHECK(pg::sqlstate(r.error()) == "40001");
  CHECK(runs == 3);
}

TEST_CASE("a retry's backoff waits without holding the connection", "[tx]") {
  auto pool = pg::test::make_pool(1);
  std::latch failed(1);
  std::atomic<bool> borrowed{false};
  // While the transaction backs off (1..2 s), its only connection serves other work, long
  // before the backoff is over.
  std::thread other([&] {
    failed.wait();
    auto lease = pool->acquire(std::chrono::milliseconds{800});
    borrowed = lease.ok();
  });
  int runs = 0;
  auto r = pg::transact(*pool,
                        [&](Tx& tx) -> core::Status {
                          if (++runs == 1) {
                            failed.count_down();
                            return pg::error_from_sqlstate("40P01", "deadlock detected");
                          }
                          auto one = tx.exec("SELECT 1");
                          if (!one) return one.error();
                          return {};
                        },
                        {.backoff = std::chrono::seconds{2}});
  other.join();
  CHECK(r.ok());
  CHECK(runs == 2);
  CHECK(borrowed);
}

TEST_CASE("a connection lost mid-transaction is retried on a new connection", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY, pid int)");
  std::vector<int> pids;
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    pids.push_back(tx.connection().backend_pid());
    if (auto x = tx.exec("INSERT INTO " + s.q() + ".t VALUES (1, pg_backend_pid())"); !x) {
      return x.error();
    }
    if (tx.attempt() == 1) {
      auto kill = tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
      if (!kill) return kill.error();
    }
    return core::ok();
  });
  REQUIRE(r.ok());
  REQUIRE(pids.size() == 2);
  CHECK(pids[0] != pids[1]);
  auto rows = s.pool->exec("SELECT pid FROM " + s.q() + ".t");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].get<int>(0) == pids[1]);
}

TEST_CASE("a transaction that runs no statement sends nothing and keeps its connection", "[tx]") {
  auto pool = pg::test::make_pool(1);
  auto pid = [&] {
    auto r = pool->exec("SELECT pg_backend_pid()");
    REQUIRE(r.ok());
    return (*r)[0].get<int>(0);
  };
  const int before = pid();
  auto empty = pg::transact(*pool, [&](Tx&) -> core::Status { return core::ok(); });
  REQUIRE(empty.ok());
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  CHECK((*lease)->idle_in_no_transaction());
  CHECK_FALSE((*lease)->has_deferred());
  lease->release();
  CHECK(pid() == before);  // the same session, not a replaced one
}

TEST_CASE("exec_later runs with the next round trip, and its error fails the transaction", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)");
  const std::string ins = "INSERT INTO " + s.q() + ".t VALUES ($1)";
  const std::string count = "SELECT count(*) FROM " + s.q() + ".t";

  auto seen = pg::transact(*s.pool, [&](Tx& tx) -> core::Result<std::int64_t> {
    tx.exec_later(ins, 1);
    tx.exec_later(ins, 2);
    CHECK(tx.connection().has_deferred());
    auto r = tx.exec(count);  // carries both inserts, ahead of it
    if (!r) return r.error();
    CHECK_FALSE(tx.connection().has_deferred());
    tx.exec_later(ins, 3);  // goes with the COMMIT
    return (*r)[0].get<std::int64_t>(0);
  });
  REQUIRE(seen.ok());
  CHECK(*seen == 2);
  CHECK(scalar(*s.pool, count) == 3);

  // A failing write shows at the next round trip; nothing of the transaction is kept.
  auto dup = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    tx.exec_later(ins, 4);
    tx.exec_later(ins, 1);
    auto r = tx.exec(count);
    if (!r) return r.error();
    return core::ok();
  });
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code() == core::Errc::conflict);
  auto at_commit = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    tx.exec_later(ins, 5);
    tx.exec_later(ins, 2);
    return core::ok();
  });
  REQUIRE_FALSE(at_commit.ok());
  CHECK(at_commit.error().code() == core::Errc::conflict);
  CHECK(scalar(*s.pool, count) == 3);
  CHECK(s.pool->idle_connections() == s.pool->open_connections());
}

TEST_CASE("a commit's outcome is open only when the connection was lost with the COMMIT sent",
          "[tx]") {
  using lia::pg::detail::commit_outcome_open;
  const auto lost = lia::pg::error_from_sqlstate("08006", "server closed the connection");
  const auto killed = lia::pg::error_from_sqlstate("57P01", "terminating connection");
  const auto duplicate = lia::pg::error_from_sqlstate("23505", "duplicate key");
  constexpr std::size_t kCommit = 3;
  // The server answered: its answer says what happened.
  CHECK_FALSE(commit_outcome_open(lost, 0, kCommit, /*connection_healthy=*/true,
                                  /*pipeline_sent=*/true));
  // Lost while the COMMIT itself ran.
  CHECK(commit_outcome_open(lost, kCommit, kCommit, false, true));
  // Lost after the whole pipeline went out: its results (the COMMIT's included) come
  // together at the Sync, so a COMMIT that ran shows as a loss on the first statement.
  CHECK(commit_outcome_open(lost, 0, kCommit, false, true));
  // Not sent whole: the COMMIT never left.
  CHECK_FALSE(commit_outcome_open(lost, 1, kCommit, false, false));
  // The server's own error before the COMMIT aborted the pipeline: it did not commit.
  CHECK_FALSE(commit_outcome_open(killed, 1, kCommit, false, true));
  CHECK_FALSE(commit_outcome_open(duplicate, 2, kCommit, false, true));
}

TEST_CASE("a connection lost before the COMMIT ran is retried, never reported as unknown", "[tx]") {
  TempSchema s("pgtx");
  create_table(s, "CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)");
  const std::string ins = "INSERT INTO " + s.q() + ".t VALUES ($1)";
  int attempts = 0;
  auto r = pg::transact(*s.pool, [&](Tx& tx) -> core::Status {
    attempts = tx.attempt();
    tx.exec_later(ins, 1);
    // The first attempt's session dies while its writes run, before its COMMIT.
    if (tx.attempt() == 1) tx.exec_later("SELECT pg_terminate_backend(pg_backend_pid())");
    return core::ok();
  });
  if (!r) FAIL(r.error().describe());
  CHECK(attempts == 2);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".t") == 1);
}
