#pragma once
// PostgreSQL helpers for tests, header-only: lia_testing itself does not link libpq (the
// local-suite tools use it too); the tests that include this link lia::pg.

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <lia/pg/connection.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>
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

// How many backends of `application_name` (a pool's) wait for a lock now; -1 when it cannot
// be read.
inline std::int64_t lock_waiters(pg::Pool& pool, const std::string& application_name) {
  auto r = pool.exec(
      "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
      "AND a.application_name = $1",
      application_name);
  return r.ok() ? (*r)[0].get<std::int64_t>(0) : -1;
}

// Another transaction (another pod's, say) that has done `work` and holds its locks, on a
// thread of its own, until release(): for tests of what waits for it. The constructor returns
// once `work` is done.
class HeldTransaction {
 public:
  HeldTransaction(pg::Pool& pool, std::function<core::Status(pg::Tx&)> work)
      : thread_([this, &pool, work = std::move(work)] {
          status_ = pg::transact(pool, [&](pg::Tx& tx) -> core::Status {
            auto st = work(tx);
            if (!signalled_) {
              signalled_ = true;
              held_.set_value();
            }
            if (!st) return st;
            released_.wait();
            return {};
          });
        }) {
    held_.get_future().wait();
  }
  HeldTransaction(const HeldTransaction&) = delete;
  HeldTransaction& operator=(const HeldTransaction&) = delete;
  ~HeldTransaction() { (void)release(); }

  // Commits it; its outcome.
  core::Status release() {
    if (thread_.joinable()) {
      release_.set_value();
      thread_.join();
    }
    return status_;
  }

 private:
  std::promise<void> held_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  bool signalled_ = false;
  core::Status status_;
  std::thread thread_;  // last: started once the rest is ready
};

// The same through a connection of its own, for a test whose pool is gone or never was.
inline void drop_schema(const std::string& schema) {
  if (auto pool =
          pg::Pool::create({.url = pg_url(), .size = 1, .application_name = "lia-tests-cleanup"})) {
    drop_schema(**pool, schema);
  }
}

}  // namespace lia::testing
