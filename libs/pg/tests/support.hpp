#pragma once
// Shared bits of the pg integration tests: a pool on the test database and a throwaway schema.

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include <lia/pg/pool.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

namespace lia::pg::test {

inline std::shared_ptr<Pool> make_pool(std::size_t size = 4) {
  PoolConfig cfg;
  cfg.url = testing::pg_url();
  cfg.size = size;
  cfg.application_name = "lia-pg-tests";
  auto pool = Pool::create(cfg);
  REQUIRE(pool.ok());
  return *pool;
}

// One query whose first column of the first row is a number.
inline std::int64_t scalar(Pool& pool, const std::string& sql) {
  auto r = pool.exec(sql);
  if (!r) FAIL(r.error().message());
  REQUIRE(r->size() == 1);
  return (*r)[0].get<std::int64_t>(0);
}

// A unique schema name, dropped (with everything in it) when the test ends.
struct TempSchema {
  std::shared_ptr<Pool> pool = make_pool(2);
  std::string name;
  explicit TempSchema(const std::string& prefix = "pgt") : name(testing::unique_name(prefix)) {}
  ~TempSchema() { testing::drop_schema(*pool, name); }
  std::string q() const { return "\"" + name + "\""; }
};

}  // namespace lia::pg::test
