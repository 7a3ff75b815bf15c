#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <lia/pg/migrate.hpp>

#include "support.hpp"

using namespace lia;
using pg::test::scalar;
using pg::test::TempSchema;
namespace fs = std::filesystem;

namespace {

struct MigrationDir {
  fs::path path = fs::temp_directory_path() / testing::unique_name("lia_pg_migrations");
  MigrationDir() {
    fs::create_directories(path);
    write("0001_create_items.up.sql",
          "CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL);\n"
          "CREATE TABLE runs (migration int NOT NULL);\n");
    write("0001_create_items.down.sql", "DROP TABLE runs;\nDROP TABLE items;\n");
    // The sleep widens the window in which a second runner could wrongly start too.
    write("0002_seed.up.sql",
          "INSERT INTO items (note) VALUES ('seed');\nINSERT INTO runs VALUES (2);\n"
          "SELECT pg_sleep(0.3);\n");
    write("0002_seed.down.sql",
          "DELETE FROM items WHERE note = 'seed';\nDELETE FROM runs WHERE migration = 2;\n");
    write("0003_add_extra.up.sql",
          "ALTER TABLE items ADD COLUMN extra int NOT NULL DEFAULT 0;\n"
          "INSERT INTO runs VALUES (3);\n");
    write("0003_add_extra.down.sql",
          "ALTER TABLE items DROP COLUMN extra;\nDELETE FROM runs WHERE migration = 3;\n");
  }
  ~MigrationDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  std::vector<pg::Migration> load() const {
    auto ms = pg::load_migrations(path);
    REQUIRE(ms.ok());
    return *ms;
  }
};

std::int64_t applied_count(TempSchema& s, const std::string& component) {
  auto r = s.pool->exec("SELECT count(*) FROM " + s.q() + ".schema_migrations WHERE component = $1",
                        component);
  REQUIRE(r.ok());
  return (*r)[0].get<std::int64_t>(0);
}

bool has_table(TempSchema& s, const std::string& table) {
  auto r = s.pool->exec("SELECT to_regclass($1) IS NOT NULL", s.q() + "." + table);
  REQUIRE(r.ok());
  return (*r)[0].get<bool>(0);
}

bool has_column(TempSchema& s, const std::string& table, const std::string& column) {
  auto r = s.pool->exec(
      "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND "
      "table_name = $2 AND column_name = $3",
      s.name, table, column);
  REQUIRE(r.ok());
  return (*r)[0].get<int>(0) == 1;
}

void check_fully_applied(TempSchema& s) {
  CHECK(applied_count(s, "svc") == 3);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".items") == 1);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".runs") == 2);
  CHECK(scalar(*s.pool, "SELECT count(DISTINCT migration) FROM " + s.q() + ".runs") == 2);
  CHECK(has_column(s, "items", "extra"));
}

int applied_from_output(const std::string& out) {
  std::smatch m;
  static const std::regex re("applied=([0-9]+)");
  REQUIRE(std::regex_search(out, m, re));
  return std::stoi(m[1].str());
}

}  // namespace

TEST_CASE(
    "two migration processes started at once apply each migration exactly once and "
    "down then up again works",
    "[migrate]") {
  TempSchema s("pgmig");
  MigrationDir dir;
  std::vector<std::string> argv{LIA_PG_TEST_HELPER, "migrate", s.name, dir.path.string()};
  testing::Process p1(argv);
  testing::Process p2(argv);
  const auto rc1 = p1.wait(std::chrono::seconds{60});
  const auto rc2 = p2.wait(std::chrono::seconds{60});
  INFO("runner 1:\n" << p1.output() << "\nrunner 2:\n" << p2.output());
  REQUIRE(rc1 == 0);
  REQUIRE(rc2 == 0);
  // Between them, the two runners applied the three migrations once.
  CHECK(applied_from_output(p1.output()) + applied_from_output(p2.output()) == 3);
  check_fully_applied(s);

  auto pool = pg::test::make_pool(1);
  pg::Migrator m(pool, s.name, "svc", dir.load());
  auto down = m.down(1);
  REQUIRE(down.ok());
  CHECK(*down == 2);
  CHECK(applied_count(s, "svc") == 1);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".items") == 0);
  CHECK(scalar(*s.pool, "SELECT count(*) FROM " + s.q() + ".runs") == 0);
  CHECK_FALSE(has_column(s, "items", "extra"));

  auto all_down = m.down(0);
  REQUIRE(all_down.ok());
  CHECK(*all_down == 1);
  CHECK(applied_count(s, "svc") == 0);
  CHECK_FALSE(has_table(s, "items"));
  CHECK_FALSE(has_table(s, "runs"));

  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(*up == 3);
  check_fully_applied(s);
  auto again = m.up();
  REQUIRE(again.ok());
  CHECK(*again == 0);
}

TEST_CASE("four migration threads at once apply each migration exactly once", "[migrate]") {
  TempSchema s("pgmig");
  MigrationDir dir;
  const auto migrations = dir.load();
  std::atomic<int> applied{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      pg::Migrator m(testing::pg_url(), s.name, "svc", migrations);
      auto r = m.up();
      if (r.ok()) {
        applied += *r;
      } else {
        ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(applied == 3);
  check_fully_applied(s);
}

TEST_CASE("status lists applied and pending migrations", "[migrate]") {
  TempSchema s("pgmig");
  MigrationDir dir;
  auto all = dir.load();
  auto pool = pg::test::make_pool(1);
  pg::Migrator fresh(pool, s.name, "svc", all);
  auto before = fresh.status();  // the schema doesn't exist yet
  REQUIRE(before.ok());
  REQUIRE(before->size() == 3);
  for (const auto& st : *before) CHECK_FALSE(st.applied);

  std::vector<pg::Migration> first_two(all.begin(), all.begin() + 2);
  auto up = pg::Migrator(pool, s.name, "svc", first_two).up();
  REQUIRE(up.ok());
  CHECK(*up == 2);
  auto st = fresh.status();
  REQUIRE(st.ok());
  REQUIRE(st->size() == 3);
  CHECK((*st)[0].applied);
  CHECK((*st)[0].applied_at.has_value());
  CHECK((*st)[1].applied);
  CHECK_FALSE((*st)[2].applied);
  CHECK((*st)[2].name == "add_extra");
}

TEST_CASE("an applied migration whose file changed stops the run with a clear error", "[migrate]") {
  TempSchema s("pgmig");
  MigrationDir dir;
  auto pool = pg::test::make_pool(1);
  REQUIRE(pg::Migrator(pool, s.name, "svc", dir.load()).up().ok());
  dir.write("0002_seed.up.sql", "INSERT INTO items (note) VALUES ('edited');\n");
  dir.write("0004_more.up.sql", "CREATE TABLE more (id int);\n");
  dir.write("0004_more.down.sql", "DROP TABLE more;\n");
  pg::Migrator changed(pool, s.name, "svc", dir.load());
  auto r = changed.up();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == core::Errc::conflict);
  CHECK_THAT(r.error().message(), Catch::Contains("0002_seed") && Catch::Contains("changed"));
  CHECK_FALSE(has_table(s, "more"));  // nothing else ran
  auto st = changed.status();
  REQUIRE(st.ok());
  CHECK((*st)[1].changed);
  CHECK_FALSE((*st)[0].changed);
}

TEST_CASE("a failing migration is rolled back and not recorded while the ones before stay",
          "[migrate]") {
  TempSchema s("pgmig");
  std::vector<pg::Migration> ms{
      {1, "ok", "CREATE TABLE a (id int);", "DROP TABLE a;"},
      {2, "broken", "CREATE TABLE b (id int);\nINSERT INTO nowhere VALUES (1);", "DROP TABLE b;"},
      {3, "never", "CREATE TABLE c (id int);", "DROP TABLE c;"},
  };
  auto pool = pg::test::make_pool(1);
  auto r = pg::Migrator(pool, s.name, "svc", ms).up();
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("0002_broken") && Catch::Contains("42P01"));
  CHECK(applied_count(s, "svc") == 1);
  CHECK(has_table(s, "a"));
  CHECK_FALSE(has_table(s, "b"));
  CHECK_FALSE(has_table(s, "c"));
}

TEST_CASE("platform migrations run before the service's own, per component", "[migrate]") {
  TempSchema s("pgmig");
  auto pool = pg::test::make_pool(1);
  std::vector<pg::Migration> own{
      {1, "orders", "CREATE TABLE orders (id int);", "DROP TABLE orders;"}};
  auto r = pg::migrate_service(pool, s.name, "shop", own);
  REQUIRE(r.ok());
  CHECK(*r == 5);
  CHECK(has_table(s, "outbox"));
  CHECK(has_table(s, "inbox"));
  CHECK(has_table(s, "outbox_relay"));
  CHECK(has_table(s, "orders"));
  CHECK(applied_count(s, pg::kPlatformComponent) == 4);
  CHECK(applied_count(s, "shop") == 1);
  auto again = pg::migrate_service(pool, s.name, "shop", own);
  REQUIRE(again.ok());
  CHECK(*again == 0);
  auto reserved = pg::migrate_service(pool, s.name, pg::kPlatformComponent, own);
  CHECK_FALSE(reserved.ok());

  // The outbox's failed_at (platform migration 3) and the relay's table (4) go down and come
  // back.
  CHECK(has_column(s, "outbox", "failed_at"));
  pg::Migrator platform(pool, s.name, pg::kPlatformComponent, pg::platform_migrations());
  auto down = platform.down(2);
  REQUIRE(down.ok());
  CHECK(*down == 2);
  CHECK_FALSE(has_column(s, "outbox", "failed_at"));
  CHECK_FALSE(has_column(s, "outbox", "last_error"));
  CHECK_FALSE(has_table(s, "outbox_relay"));
  auto up = platform.up();
  REQUIRE(up.ok());
  CHECK(*up == 2);
  CHECK(has_column(s, "outbox", "failed_at"));
  CHECK(has_table(s, "outbox_relay"));
}

TEST_CASE("a migration behind a long transaction waits its turn without holding the table's users",
          "[migrate]") {
  TempSchema s("pgmigwait");
  MigrationDir dir;
  pg::Migrator first(s.pool, s.name, "svc", dir.load());
  REQUIRE(first.up().ok());
  dir.write("0004_rename.up.sql", "ALTER TABLE items RENAME COLUMN extra TO extra2;\n");
  dir.write("0004_rename.down.sql", "ALTER TABLE items RENAME COLUMN extra2 TO extra;\n");

  // A long transaction has read the table (ACCESS SHARE, held until it ends).
  auto holder_pool = pg::test::make_pool(1);
  auto holder = holder_pool->acquire();
  REQUIRE(holder.ok());
  REQUIRE((*holder)->exec_script("BEGIN; SELECT count(*) FROM " + s.q() + ".items;").ok());

  pg::Migrator m(pg::test::make_pool(1), s.name, "svc", dir.load());
  m.set_lock_patience(
      {.per_try = std::chrono::milliseconds{300}, .give_up_after = std::chrono::seconds{30}});
  std::optional<core::Result<int>> applied;
  std::thread runner([&] { applied = m.up(); });
  // The ALTER queued behind the long transaction (a lock not granted), before the reads.
  REQUIRE(testing::wait_until([&] {
    auto r = s.pool->exec(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN "
        "pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted AND c.relname = 'items' "
        "AND n.nspname = $1",
        s.name);
    return r.ok() && (*r)[0].get<std::int64_t>(0) > 0;
  }));

  // Meanwhile the table's other users are held at most a try's wait, not until the long
  // transaction ends: the queued ALTER gives up its place between tries. (A reader of its
  // own with a lock timeout: behind an ALTER that waited for ever, it would fail.)
  auto reader = pg::Pool::create({.url = testing::pg_url(),
                                  .size = 1,
                                  .application_name = "lia-pg-tests",
                                  .lock_timeout = std::chrono::seconds{5}});
  REQUIRE(reader.ok());
  for (int i = 0; i < 3; ++i) {
    auto r = (*reader)->exec("SELECT count(*) FROM " + s.q() + ".items");
    INFO(i);
    REQUIRE(r.ok());
  }
  REQUIRE((*holder)->exec_script("COMMIT").ok());
  runner.join();
  REQUIRE(applied.has_value());
  REQUIRE(applied->ok());
  CHECK(**applied == 1);
  CHECK(has_column(s, "items", "extra2"));

  // A lock that is never let go: the step gives up after its patience, naming the migration.
  REQUIRE((*holder)->exec_script("BEGIN; SELECT count(*) FROM " + s.q() + ".items;").ok());
  pg::Migrator back(pg::test::make_pool(1), s.name, "svc", dir.load());
  back.set_lock_patience(
      {.per_try = std::chrono::milliseconds{200}, .give_up_after = std::chrono::seconds{1}});
  auto down = back.down(3);
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().message().find("0004_rename") != std::string::npos);
  CHECK(down.error().retryable());
  REQUIRE((*holder)->exec_script("ROLLBACK").ok());
}
