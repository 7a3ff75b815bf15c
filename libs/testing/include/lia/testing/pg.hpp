#pragma once
// PostgreSQL helpers for tests, header-only: lia_testing itself does not link libpq (the
// local-suite tools use it too); the tests that include this link lia::pg.

#include <memory>
#include <stdexcept>

#include <lia/pg/pool.hpp>

namespace lia::testing {

// A pool whose database cannot be reached (nothing listens on port 1): every statement fails
// as it does while PostgreSQL is down.
inline std::shared_ptr<pg::Pool> unreachable_pool() {
  auto p = pg::Pool::create(
      {.url = "postgresql://lia@127.0.0.1:1/lia", .size = 2, .application_name = "lia-tests-down"});
  if (!p) throw std::runtime_error("unreachable_pool: " + p.error().describe());
  return std::move(p).value();
}

}  // namespace lia::testing
