#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <lia/core/metrics.hpp>
#include <lia/pg/pool.hpp>

#include "support.hpp"

using namespace lia;
using pg::test::make_pool;

TEST_CASE("exec sends typed parameters and reads typed columns", "[pool]") {
  auto pool = make_pool(1);
  auto r = pool->exec(
      "SELECT $1::int8 AS big, $2::text AS txt, $3::float8 AS dbl, $4::bool AS flag, "
      "$5::text AS nothing, $6::int4 AS maybe, $7::uuid AS id, $8::text AS sv, $9::int AS opt",
      std::int64_t{-9'000'000'000}, std::string("olá"), 2.5, true, std::nullopt,
      std::optional<int>{}, core::Uuid::parse("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b").value(),
      std::string_view("view"), std::optional<int>{7});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  const auto row = (*r)[0];
  CHECK(row.get<std::int64_t>("big") == -9'000'000'000);
  CHECK(row.get<std::string>(1) == "olá");
  CHECK(row.get<double>("dbl") == 2.5);
  CHECK(row.get<bool>("flag"));
  CHECK(row.is_null("nothing"));
  CHECK(row.is_null(5));
  CHECK_FALSE(row.get<std::optional<int>>("maybe").has_value());
  CHECK(row.get<core::Uuid>("id").str() == "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b");
  CHECK(row.get<std::string>("sv") == "view");
  CHECK(row.get<std::optional<int>>("opt") == 7);
  CHECK_THROWS_AS(row.get<std::string>("nothing"), pg::DataError);
  CHECK_THROWS_AS(row.get<int>("no_such_column"), pg::DataError);
  CHECK_THROWS_AS(row.get<int>("txt"), pg::DataError);
}

TEST_CASE("affected() counts rows of INSERT, UPDATE and DELETE", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  REQUIRE(c.exec_script("CREATE TEMP TABLE t (id int PRIMARY KEY, v text)").ok());
  auto ins = c.exec("INSERT INTO t SELECT g, 'x' FROM generate_series(1, $1::int) g", 3);
  REQUIRE(ins.ok());
  CHECK(ins->affected() == 3);
  auto upd = c.exec("UPDATE t SET v = $1 WHERE id >= $2", "y", 2);
  REQUIRE(upd.ok());
  CHECK(upd->affected() == 2);
  auto sel = c.exec("SELECT id FROM t ORDER BY id");
  REQUIRE(sel.ok());
  std::vector<int> ids;
  for (const auto& row : *sel) ids.push_back(row.get<int>(0));
  CHECK(ids == std::vector<int>{1, 2, 3});
  auto del = c.exec("DELETE FROM t WHERE id = $1", 99);
  REQUIRE(del.ok());
  CHECK(del->affected() == 0);
  REQUIRE(c.exec_script("DROP TABLE t").ok());
}

TEST_CASE("statements are prepared once per connection and reused", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  const auto before = c.prepared_count();
  for (int i = 0; i < 5; ++i) {
    auto r = c.exec("SELECT $1::int + 1", i);
    REQUIRE(r.ok());
    CHECK((*r)[0].get<int>(0) == i + 1);
  }
  CHECK(c.prepared_count() == before + 1);
  REQUIRE(c.exec("SELECT $1::int * 2", 1).ok());
  CHECK(c.prepared_count() == before + 2);
  auto server = c.exec("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                       "SELECT $1::int + 1");
  REQUIRE(server.ok());
  CHECK((*server)[0].get<int>(0) == 1);
  // A DEALLOCATE behind the cache's back is survived: the statement is prepared again.
  REQUIRE(c.exec_script("DEALLOCATE ALL").ok());
  auto again = c.exec("SELECT $1::int + 1", 41);
  REQUIRE(again.ok());
  CHECK((*again)[0].get<int>(0) == 42);
}

TEST_CASE("SQL errors carry the SQLSTATE and map to error codes", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  REQUIRE(c.exec_script("CREATE TEMP TABLE u (id int PRIMARY KEY)").ok());
  REQUIRE(c.exec("INSERT INTO u VALUES ($1)", 1).ok());
  auto dup = c.exec("INSERT INTO u VALUES ($1)", 1);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code() == core::Errc::conflict);
  CHECK(pg::sqlstate(dup.error()) == "23505");
  CHECK_THAT(dup.error().message(), Catch::Contains("u_pkey"));
  CHECK_FALSE(dup.error().retryable());

  auto syntax = c.exec("SELEC 1");
  REQUIRE_FALSE(syntax.ok());
  CHECK(pg::sqlstate(syntax.error()) == "42601");
  CHECK(syntax.error().code() == core::Errc::internal);

  auto div = c.exec("SELECT 1 / $1::int", 0);
  REQUIRE_FALSE(div.ok());
  CHECK(pg::sqlstate(div.error()) == "22012");
  CHECK(div.error().code() == core::Errc::invalid_argument);

  auto bad_uuid = c.exec("SELECT $1::uuid", "not-a-uuid");
  REQUIRE_FALSE(bad_uuid.ok());
  CHECK(bad_uuid.error().code() == core::Errc::invalid_argument);

  // The connection is still usable after errors.
  CHECK(c.exec("SELECT 1").ok());
}

TEST_CASE("a refused login is unauthorized and retryable: the deployment's to fix", "[pool]") {
  std::string url = testing::pg_url();
  const auto at = url.find("://");
  REQUIRE(at != std::string::npos);
  const auto user_end = url.find_first_of(":@", at + 3);
  REQUIRE(user_end != std::string::npos);
  url.replace(at + 3, user_end - (at + 3), "lia_no_such_role");
  auto pool = pg::Pool::create({.url = url, .size = 1});
  REQUIRE(pool.ok());
  auto r = (*pool)->exec("SELECT 1");
  REQUIRE_FALSE(r.ok());
  INFO(r.error().describe());
  CHECK(r.error().code() == core::Errc::unauthorized);
  // A consumer parks its partition on it instead of dead-lettering every record.
  CHECK(r.error().retryable());
}

TEST_CASE("a write that meets a read-only server is retryable and its connection replaced",
          "[pool]") {
  // As after a failover, when the server this connection knew is a standby now.
  auto pool = make_pool(1);
  int first_backend = 0;
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    first_backend = (*lease)->backend_pid();
    REQUIRE((*lease)->exec("SET default_transaction_read_only = on").ok());
  }
  auto refused = pool->exec("CREATE TEMP TABLE w (id int)");
  REQUIRE_FALSE(refused.ok());
  CHECK(pg::sqlstate(refused.error()) == "25006");
  CHECK(refused.error().retryable());
  // The next statement gets a new session, which takes writes.
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  CHECK((*lease)->backend_pid() != first_backend);
  CHECK((*lease)->exec("CREATE TEMP TABLE w (id int)").ok());
}

TEST_CASE("acquire times out with unavailable when every connection is taken", "[pool]") {
  auto pool = make_pool(2);
  auto a = pool->acquire();
  auto b = pool->acquire();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(pool->open_connections() == 2);
  auto c = pool->acquire(std::chrono::milliseconds{100});
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == core::Errc::unavailable);
  CHECK(c.error().retryable());
  a->release();
  auto d = pool->acquire(std::chrono::milliseconds{100});
  CHECK(d.ok());
  CHECK(pool->open_connections() == 2);
}

TEST_CASE("a connection killed by the server is detected and replaced", "[pool]") {
  auto pool = make_pool(1);
  auto admin = make_pool(1);
  int first_pid = 0;
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    first_pid = (*lease)->backend_pid();
  }
  // Waits until the backend is gone (PostgreSQL 14+).
  auto killed = admin->exec("SELECT pg_terminate_backend($1, 5000)", first_pid);
  REQUIRE(killed.ok());
  REQUIRE((*killed)[0].get<bool>(0));
  auto r = pool->exec("SELECT pg_backend_pid()");
  if (!r) FAIL(r.error().message());
  CHECK((*r)[0].get<int>(0) != first_pid);
  CHECK(pool->open_connections() == 1);

  // Killed while leased: the query fails retryably, and the pool drops the connection.
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    auto self = (*lease)->exec("SELECT pg_terminate_backend(pg_backend_pid())");
    REQUIRE_FALSE(self.ok());
    CHECK(self.error().code() == core::Errc::unavailable);
    CHECK(self.error().retryable());
    CHECK_FALSE((*lease)->healthy());
  }
  CHECK(pool->open_connections() == 0);
  CHECK(pool->ping().ok());
}

TEST_CASE("a session the server ended for idling fails retryably and is replaced", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  // idle_session_timeout (57P05) or, inside a transaction, idle_in_transaction_session_timeout
  // (25P03): a server setting, not anything the statement did.
  const bool in_tx = GENERATE(false, true);
  INFO((in_tx ? "in a transaction" : "idle"));
  if (in_tx) {
    REQUIRE((*lease)->exec("SET idle_in_transaction_session_timeout = '100ms'").ok());
    REQUIRE((*lease)->exec("BEGIN").ok());
  } else {
    REQUIRE((*lease)->exec("SET idle_session_timeout = '100ms'").ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{600});
  auto r = (*lease)->exec("SELECT 1");
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message());
  CHECK(r.error().retryable());
  CHECK(r.error().code() == core::Errc::unavailable);
  CHECK_FALSE((*lease)->healthy());
  lease->release();
  CHECK(pool->exec("SELECT 1").ok());
}

TEST_CASE("a connection returned inside a transaction is rolled back", "[pool]") {
  auto pool = make_pool(1);
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    REQUIRE((*lease)->exec_script("BEGIN; CREATE TEMP TABLE leftover (id int)").ok());
  }
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  CHECK((*lease)->idle_in_no_transaction());
  auto r = (*lease)->exec("SELECT to_regclass('pg_temp.leftover') IS NULL");
  REQUIRE(r.ok());
  CHECK((*r)[0].get<bool>(0));
}

TEST_CASE("the pool is safe to share between threads", "[pool]") {
  auto pool = make_pool(3);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto r = pool->exec("SELECT $1::int * 1000 + $2::int", t, i);
        if (r.ok() && (*r)[0].get<int>(0) == t * 1000 + i) {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 8 * 40);
  CHECK(failed == 0);
  CHECK(pool->open_connections() <= 3);
}

TEST_CASE("statement_timeout, application_name and SET ROLE come from the config", "[pool]") {
  pg::PoolConfig cfg;
  cfg.url = testing::pg_url();
  cfg.size = 1;
  cfg.application_name = "lia-pg-config-test";
  cfg.statement_timeout = std::chrono::milliseconds{200};
  cfg.role = "pg_monitor";  // a built-in role the superuser can SET ROLE to
  auto pool = pg::Pool::create(cfg);
  REQUIRE(pool.ok());
  auto r = (*pool)->exec(
      "SELECT current_setting('application_name'), current_setting('statement_timeout'), "
      "current_user");
  REQUIRE(r.ok());
  CHECK((*r)[0].get<std::string>(0) == "lia-pg-config-test");
  CHECK((*r)[0].get<std::string>(1) == "200ms");
  CHECK((*r)[0].get<std::string>(2) == "pg_monitor");
  auto slow = (*pool)->exec("SELECT pg_sleep(2)");
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().code() == core::Errc::timeout);
  CHECK(pg::sqlstate(slow.error()) == "57014");
}

TEST_CASE("a lock held past lock_timeout fails the waiting statement, retryable", "[pool]") {
  pg::PoolConfig cfg;
  cfg.url = testing::pg_url();
  cfg.size = 1;
  cfg.lock_timeout = std::chrono::milliseconds{300};
  auto pool = pg::Pool::create(cfg);
  REQUIRE(pool.ok());
  auto shown = (*pool)->exec("SELECT current_setting('lock_timeout')");
  REQUIRE(shown.ok());
  CHECK((*shown)[0].get<std::string>(0) == "300ms");
  // Another session holds the advisory lock in an open transaction.
  auto holder = make_pool(1);
  auto lease = holder->acquire();
  REQUIRE(lease.ok());
  REQUIRE((*lease)->exec_script("BEGIN; SELECT pg_advisory_xact_lock(424242);").ok());
  auto waited = (*pool)->exec("SELECT pg_advisory_xact_lock(424242)");  // without it: for ever
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().code() == core::Errc::timeout);
  CHECK(waited.error().retryable());
  CHECK(pg::sqlstate(waited.error()) == "55P03");
  REQUIRE((*lease)->exec_script("ROLLBACK").ok());
  CHECK((*pool)->exec("SELECT pg_advisory_xact_lock(424242)").ok());
}

TEST_CASE("bad URLs and unreachable servers give clear errors", "[pool]") {
  auto bad = pg::Pool::create({.url = "postgresql://host:notaport/db?bogus=1"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code() == core::Errc::invalid_argument);

  auto unreachable = pg::Pool::create({.url = "postgresql://lia@127.0.0.1:1/lia",
                                       .size = 1,
                                       .connect_timeout = std::chrono::milliseconds{2000}});
  REQUIRE(unreachable.ok());  // connections open lazily
  auto r = (*unreachable)->exec("SELECT 1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::unavailable);
  CHECK(r.error().retryable());
  CHECK((*unreachable)->open_connections() == 0);
}

TEST_CASE("grow_to raises the size and wakes a waiter, and never shrinks it", "[pool]") {
  auto pool = make_pool(1);
  auto first = pool->acquire();
  REQUIRE(first.ok());
  std::optional<core::Result<pg::Lease>> second;
  auto& waiting = core::metrics().gauge("lia_pg_pool_waiting", "");
  const double before = waiting.value();
  std::thread waiter([&] { second.emplace(pool->acquire(std::chrono::seconds{10})); });
  CHECK(
      testing::wait_until([&] { return waiting.value() == before + 1; }, std::chrono::seconds{10}));
  pool->grow_to(2);
  waiter.join();
  REQUIRE(second.has_value());
  CHECK(second->ok());  // a second connection opened for the waiter, long before its deadline
  CHECK(pool->size() == 2);
  CHECK(pool->open_connections() == 2);
  pool->grow_to(1);
  CHECK(pool->size() == 2);
}

TEST_CASE("a pool's metrics are exported from its start, before any wait", "[pool]") {
  // (ctest runs each case in a process of its own, so no earlier case registered them; run
  // with the others in one process, earlier waits may have moved their values.)
  auto pool = make_pool(1);
  const auto text = core::metrics().render();
  CHECK(text.find("\nlia_pg_pool_waiting ") != std::string::npos);
  CHECK(text.find("\nlia_pg_pool_acquire_timeouts_total ") != std::string::npos);
}

TEST_CASE("a wait for a connection shows on lia_pg_pool_waiting, and a timeout is counted",
          "[pool]") {
  auto pool = make_pool(1);
  auto held = pool->acquire();
  REQUIRE(held.ok());
  auto& waiting = core::metrics().gauge("lia_pg_pool_waiting", "");
  auto& timeouts = core::metrics().counter("lia_pg_pool_acquire_timeouts_total", "");
  const double waiting_before = waiting.value();
  const double timeouts_before = timeouts.value();
  std::optional<core::Result<pg::Lease>> late;
  std::thread waiter([&] { late.emplace(pool->acquire(std::chrono::milliseconds{300})); });
  CHECK(testing::wait_until([&] { return waiting.value() == waiting_before + 1; },
                            std::chrono::seconds{10}));
  waiter.join();
  REQUIRE(late.has_value());
  CHECK_FALSE(late->ok());
  CHECK(waiting.value() == waiting_before);
  CHECK(timeouts.value() == timeouts_before + 1);
  // A wait that a returned connection ends is no timeout.
  std::optional<core::Result<pg::Lease>> served;
  std::thread second([&] { served.emplace(pool->acquire(std::chrono::seconds{10})); });
  CHECK(testing::wait_until([&] { return waiting.value() == waiting_before + 1; },
                            std::chrono::seconds{10}));
  held->release();
  second.join();
  REQUIRE(served.has_value());
  CHECK(served->ok());
  CHECK(waiting.value() == waiting_before);
  CHECK(timeouts.value() == timeouts_before + 1);
}

TEST_CASE("exec_pipeline answers several statements in order, preparing the new ones", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  REQUIRE(c.exec("SELECT $1::int + 1", 1).ok());  // already prepared
  const auto before = c.prepared_count();
  const pg::Params one = pg::make_params(1), two = pg::make_params("two"), none;
  auto r = c.exec_pipeline({{"SELECT $1::int + 1", &one},
                            {"SELECT upper($1::text)", &two},
                            {"SELECT 3 AS three", &none}});
  if (!r) FAIL(r.error().message());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0][0].get<int>(0) == 2);
  CHECK((*r)[1][0].get<std::string>(0) == "TWO");
  CHECK((*r)[2][0].get<int>(0) == 3);
  CHECK(c.prepared_count() == before + 2);
  // Prepared now: the same statements again run from the cache.
  auto again = c.exec("SELECT upper($1::text)", "x");
  REQUIRE(again.ok());
  CHECK((*again)[0].get<std::string>(0) == "X");
  CHECK(c.prepared_count() == before + 2);
  CHECK(c.idle_in_no_transaction());
}

TEST_CASE("exec_pipeline reports the first error and runs nothing after it", "[pool]") {
  pg::test::TempSchema s;
  REQUIRE(s.pool->exec("CREATE SCHEMA " + s.q()).ok());
  REQUIRE(s.pool->exec("CREATE TABLE " + s.q() + ".t (id int PRIMARY KEY)").ok());
  auto lease = s.pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  const pg::Params none;
  const std::string ins1 = "INSERT INTO " + s.q() + ".t VALUES (1)";
  const std::string ins2 = "INSERT INTO " + s.q() + ".t VALUES (2)";
  auto r = c.exec_pipeline({{"BEGIN", &none}, {ins1, &none}, {ins1, &none}, {ins2, &none}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::conflict);  // the duplicate key, not the skipped ones
  CHECK(c.in_failed_transaction());
  REQUIRE(c.exec_script("ROLLBACK").ok());
  CHECK(c.idle_in_no_transaction());
  auto count = c.exec("SELECT count(*) FROM " + s.q() + ".t");
  REQUIRE(count.ok());
  CHECK((*count)[0].get<int>(0) == 0);
}

TEST_CASE("a deferred BEGIN goes with the next statement, and is dropped if none follows",
          "[pool]") {
  auto pool = make_pool(1);
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    auto& c = **lease;
    c.defer_begin("BEGIN");
    CHECK_FALSE(c.idle_in_no_transaction());  // a transaction is open, as far as callers know
    auto r = c.exec("SELECT txid_current()::text");  // only valid in a transaction it opened
    REQUIRE(r.ok());
    CHECK_FALSE(c.has_deferred());
    auto same = c.exec("SELECT txid_current()::text");
    REQUIRE(same.ok());
    CHECK((*same)[0].get<std::string>(0) == (*r)[0].get<std::string>(0));  // one transaction
    REQUIRE(c.exec_script("ROLLBACK").ok());
    c.defer_begin("BEGIN");  // returned to the pool unsent: dropped, the connection kept
  }
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  CHECK((*lease)->idle_in_no_transaction());
  CHECK_FALSE((*lease)->has_deferred());
  auto r = (*lease)->exec("SELECT 1");
  REQUIRE(r.ok());
  CHECK((*lease)->idle_in_no_transaction());
}

TEST_CASE("exec_pipeline prepares a statement repeated in it once", "[pool]") {
  auto pool = make_pool(1);
  auto lease = pool->acquire();
  REQUIRE(lease.ok());
  auto& c = **lease;
  const auto before = c.prepared_count();
  const std::string text = "SELECT $1::int * 3";
  const pg::Params one = pg::make_params(1), two = pg::make_params(2);
  auto r = c.exec_pipeline({{text, &one}, {text, &two}});
  if (!r) FAIL(r.error().message());
  CHECK((*r)[0][0].get<int>(0) == 3);
  CHECK((*r)[1][0].get<int>(0) == 6);
  CHECK(c.prepared_count() == before + 1);
  auto server = c.exec("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", text);
  REQUIRE(server.ok());
  CHECK((*server)[0].get<int>(0) == 1);
}

TEST_CASE("a pipeline that fails half-way gives its connection up", "[pool]") {
  auto pool = make_pool(1);
  {
    auto lease = pool->acquire();
    REQUIRE(lease.ok());
    auto& c = **lease;
    c.defer_begin("BEGIN");
    const pg::Params none;
    const pg::Params too_many(70000, std::string("1"));  // more than the protocol carries
    auto r = c.exec_pipeline({{"SELECT 1", &none}, {"SELECT $1", &too_many}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().retryable());
    CHECK_FALSE(c.healthy());  // not reused half-way through a pipeline
  }
  auto lease = pool->acquire();  // a new session
  REQUIRE(lease.ok());
  auto r = (*lease)->exec("SELECT 1");
  REQUIRE(r.ok());
  CHECK((*lease)->idle_in_no_transaction());
}

TEST_CASE("a TCP session has keepalives on the server's end and the URL may change them",
          "[pool]") {
  // The dev stack's URL names a Unix socket (?host=...): drop it to connect over TCP.
  std::string tcp = testing::pg_url();
  tcp = tcp.substr(0, tcp.find('?'));
  auto pool = pg::Pool::create({.url = tcp, .size = 1});
  REQUIRE(pool.ok());
  auto r = (*pool)->exec(
      "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_count'), "
      "inet_server_addr() IS NOT NULL, current_setting('tcp_user_timeout')");
  REQUIRE(r.ok());
  REQUIRE((*r)[0].get<bool>(2));  // really TCP
  CHECK((*r)[0].get<std::string>(0) == "10");
  CHECK((*r)[0].get<std::string>(1) == "3");
  // Unacknowledged data (a query sent as the server vanished) gives up after 30 s too.
  CHECK((*r)[0].get<std::string>(3) == "30000");

  auto own = pg::Pool::create(
      {.url = tcp + "?options=-c%20tcp_keepalives_idle%3D42&keepalives_idle=30", .size = 1});
  REQUIRE(own.ok());
  auto o = (*own)->exec("SELECT current_setting('tcp_keepalives_idle')");
  REQUIRE(o.ok());
  CHECK((*o)[0].get<std::string>(0) == "42");
}
