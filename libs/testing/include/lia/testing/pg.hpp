#pragma once
// PostgreSQL helpers for tests, header-only: lia_testing itself does not link libpq (the
// local-suite tools use it too); the tests that include this link lia::pg.

#include <memory>
#include <stdexcept>
#include <string>

#include <lia/pg/connection.hpp>
#include <lia/pg/pool.hpp>
#include <lia/testing/testing.hpp>

namespace lia::testing {

// A pool whose database cannot be reached (nothing listens on port 1): every statement fails
// as it does while PostgreSQL is down.
inline std::shared_ptr<pg::Pool> unreachable_pool() {
  auto p = pg::Pool::create(
      {.url = "postgresql://lia@127.0.0.1:1/lia", .size = 2, .application_name = "lia-tests-down"});
  if (!p) throw std::runtime_error("unreachable_pool: " + p.error().describe());
  return std::move(p).value();
}

// Removes a test's schema and everything in it; a failure is ignored (the schema may never
// have been made).
inline void drop_schema(pg::Pool& pool, const std::string& schema) {
  (void)pool.exec("DROP SCHEMA IF EXISTS " + pg::quote_ident(schema) + " CASCADE");
}

// The same through a connection of its own, for a test whose pool is gone or never was.
inline void drop_schema(const std::string& schema) {
  if (auto pool =
          pg::Pool::create({.url = pg_url(), .size = 1, .application_name = "lia-tests-cleanup"})) {
    drop_schema(**pool, schema);
  }
}

}  // namespace lia::testing
