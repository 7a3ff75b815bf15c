#include <lia/pg/migrate.hpp>
#include <lia/pg/roles.hpp>

#include "support.hpp"

using namespace lia;
using pg::test::scalar;

namespace {

std::shared_ptr<pg::Pool> pool_as(const std::string& role) {
  pg::PoolConfig cfg;
  cfg.url = testing::pg_url();
  cfg.size = 1;
  cfg.role = role;
  auto p = pg::Pool::create(cfg);
  REQUIRE(p.ok());
  return *p;
}

// Two services, each with its schema and role; everything dropped at the end.
struct TwoServices {
  std::shared_ptr<pg::Pool> admin = pg::test::make_pool(2);
  std::string a = testing::unique_name("pgrole_a");
  std::string b = testing::unique_name("pgrole_b");
  std::string ra = a + "_svc";
  std::string rb = b + "_svc";
  ~TwoServices() {
    for (const auto& s : {a, b}) (void)admin->exec("DROP SCHEMA IF EXISTS \"" + s + "\" CASCADE");
    for (const auto& r : {ra, rb}) {
      auto exists = admin->exec("SELECT 1 FROM pg_roles WHERE rolname = $1", r);
      if (exists && !exists->empty()) {
        (void)admin->exec("DROP OWNED BY \"" + r + "\"");
        (void)admin->exec("DROP ROLE \"" + r + "\"");
      }
    }
  }
};

}  // namespace

TEST_CASE("a service role can use its own schema only", "[roles]") {
  TwoServices t;
  // A table that exists before the role is set up, and ones created after it.
  REQUIRE(t.admin->exec("CREATE SCHEMA \"" + t.a + "\"").ok());
  REQUIRE(t.admin->exec("CREATE TABLE \"" + t.a + "\".early (id int)").ok());
  REQUIRE(pg::ensure_service_role(*t.admin, t.a, t.ra, "s3cret'pw").ok());
  REQUIRE(pg::ensure_service_role(*t.admin, t.b, t.rb, "").ok());
  REQUIRE(pg::ensure_service_role(*t.admin, t.a, t.ra, "s3cret'pw").ok());  // idempotent
  REQUIRE(t.admin->exec("CREATE TABLE \"" + t.a + "\".late (id serial PRIMARY KEY, v text)").ok());
  REQUIRE(t.admin->exec("CREATE TABLE \"" + t.b + "\".secret (v text)").ok());
  REQUIRE(t.admin->exec("INSERT INTO \"" + t.b + "\".secret VALUES ('nope')").ok());

  auto login = t.admin->exec("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1", t.ra);
  REQUIRE(login.ok());
  REQUIRE(login->size() == 1);
  CHECK((*login)[0].get<bool>(0));
  CHECK_FALSE((*login)[0].get<bool>(1));

  auto as_a = pool_as(t.ra);
  auto who = as_a->exec("SELECT current_user");
  REQUIRE(who.ok());
  CHECK((*who)[0].get<std::string>(0) == t.ra);

  // Its own schema: read and write, on tables from before and after the setup.
  CHECK(as_a->exec("INSERT INTO \"" + t.a + "\".early VALUES (1)").ok());
  CHECK(as_a->exec("INSERT INTO \"" + t.a + "\".late (v) VALUES ('x')").ok());  // uses the sequence
  CHECK(scalar(*as_a, "SELECT count(*) FROM \"" + t.a + "\".late") == 1);
  CHECK(scalar(*as_a, "SELECT count(*) FROM \"" + t.a + "\".early") == 1);

  // Another service's schema: permission denied.
  auto other = as_a->exec("SELECT * FROM \"" + t.b + "\".secret");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code() == core::Errc::unauthorized);
  CHECK(pg::sqlstate(other.error()) == "42501");
  auto create_there = as_a->exec("CREATE TABLE \"" + t.b + "\".intruder (id int)");
  REQUIRE_FALSE(create_there.ok());
  CHECK(pg::sqlstate(create_there.error()) == "42501");

  // The service role runs its own migrations (platform tables included) in its schema.
  std::vector<pg::Migration> own{
      {1, "things", "CREATE TABLE things (id int);", "DROP TABLE things;"}};
  auto migrated = pg::migrate_service(as_a, t.a, "svc_a", own);
  if (!migrated) FAIL(migrated.error().message());
  CHECK(*migrated == 5);
  CHECK(as_a->exec("INSERT INTO \"" + t.a + "\".things VALUES (1)").ok());
  // And the other service can't touch them.
  auto as_b = pool_as(t.rb);
  auto cross = as_b->exec("SELECT count(*) FROM \"" + t.a + "\".outbox");
  REQUIRE_FALSE(cross.ok());
  CHECK(cross.error().code() == core::Errc::unauthorized);
}
