#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include <lia/pg/migrate.hpp>
#include <lia/testing/testing.hpp>

using namespace lia;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / testing::unique_name("lia_pg_mig");
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
};
}  // namespace

TEST_CASE("migration files load sorted by version, each up with its down") {
  TempDir d;
  d.write("0002_add_note.up.sql", "ALTER TABLE t ADD note text;");
  d.write("0002_add_note.down.sql", "ALTER TABLE t DROP note;");
  d.write("0001_create_t.up.sql", "CREATE TABLE t (id int);");
  d.write("0001_create_t.down.sql", "DROP TABLE t;");
  d.write("README.md", "not a migration");
  auto ms = pg::load_migrations(d.path);
  REQUIRE(ms.ok());
  REQUIRE(ms->size() == 2);
  CHECK((*ms)[0].version == 1);
  CHECK((*ms)[0].name == "create_t");
  CHECK((*ms)[0].up == "CREATE TABLE t (id int);");
  CHECK((*ms)[0].down == "DROP TABLE t;");
  CHECK((*ms)[1].version == 2);
  CHECK((*ms)[1].name == "add_note");
}

TEST_CASE("an up without its down is an error naming the file") {
  TempDir d;
  d.write("0001_create_t.up.sql", "CREATE TABLE t (id int);");
  d.write("0001_create_t.down.sql", "DROP TABLE t;");
  d.write("0002_lonely.up.sql", "SELECT 1;");
  auto ms = pg::load_migrations(d.path);
  REQUIRE_FALSE(ms.ok());
  CHECK(ms.error().code() == core::Errc::invalid_argument);
  CHECK_THAT(ms.error().message(), Catch::Contains("0002_lonely.up.sql"));
}

TEST_CASE("a down without its up, a badly named file and a reused version are errors") {
  {
    TempDir d;
    d.write("0003_orphan.down.sql", "SELECT 1;");
    auto ms = pg::load_migrations(d.path);
    REQUIRE_FALSE(ms.ok());
    CHECK_THAT(ms.error().message(), Catch::Contains("0003_orphan.down.sql"));
  }
  {
    TempDir d;
    d.write("create_t.sql", "SELECT 1;");
    auto ms = pg::load_migrations(d.path);
    REQUIRE_FALSE(ms.ok());
    CHECK_THAT(ms.error().message(), Catch::Contains("create_t.sql"));
  }
  {
    TempDir d;
    d.write("0001_a.up.sql", "SELECT 1;");
    d.write("0001_a.down.sql", "SELECT 1;");
    d.write("0001_b.up.sql", "SELECT 1;");
    d.write("0001_b.down.sql", "SELECT 1;");
    auto ms = pg::load_migrations(d.path);
    REQUIRE_FALSE(ms.ok());
    CHECK_THAT(ms.error().message(), Catch::Contains("version 1"));
  }
  auto missing = pg::load_migrations("/nonexistent/lia/migrations");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message(), Catch::Contains("/nonexistent/lia/migrations"));
}

TEST_CASE("the checksum follows the up text only") {
  pg::Migration a{1, "x", "CREATE TABLE t (id int);", "DROP TABLE t;"};
  pg::Migration b = a;
  b.down = "DROP TABLE IF EXISTS t;";
  pg::Migration c = a;
  c.up += " ";
  CHECK(pg::migration_checksum(a).size() == 64);
  CHECK(pg::migration_checksum(a) == pg::migration_checksum(b));
  CHECK(pg::migration_checksum(a) != pg::migration_checksum(c));
}

TEST_CASE("platform migrations create the outbox and the inbox, with reversals") {
  const auto& ms = pg::platform_migrations();
  REQUIRE(ms.size() == 4);
  CHECK_THAT(ms[3].up, Catch::Contains("CREATE TABLE outbox_relay"));
  CHECK_THAT(ms[3].down, Catch::Contains("DROP TABLE outbox_relay"));
  CHECK_THAT(ms[2].up, Catch::Contains("ADD COLUMN failed_at"));
  CHECK_THAT(ms[2].down, Catch::Contains("DROP COLUMN failed_at"));
  CHECK_THAT(ms[0].up, Catch::Contains("CREATE TABLE outbox"));
  CHECK_THAT(ms[0].down, Catch::Contains("DROP TABLE outbox"));
  CHECK_THAT(ms[1].up, Catch::Contains("CREATE TABLE inbox"));
  CHECK_THAT(ms[1].down, Catch::Contains("DROP TABLE inbox"));
}
