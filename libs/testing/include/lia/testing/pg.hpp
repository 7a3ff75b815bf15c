#pragma once
// PostgreSQL helpers for tests, header-only: lia_testing itself does not link libpq (the
// local-suite tools use it too); the tests that include this link lia::pg.

#include <atomic>
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

// Another transaction (another pod's, say) that has done `work` and holds its locks, on a
// thread of its own, until release(): for tests of what waits for it. The constructor returns
// once `work` is done, or the transaction failed (release() then says why).
class HeldTransaction {
 public:
  HeldTransaction(pg::Pool& pool, std::function<core::Status(pg::Tx&)> work)
      : pool_(pool), thread_([this, work = std::move(work)] {
          status_ = pg::transact(pool_, [&](pg::Tx& tx) -> core::Status {
            auto pid = tx.exec("SELECT pg_backend_pid()");
            if (!pid) return pid.error();
            pid_ = (*pid)[0].get<std::int64_t>(0);
            core::Status st;
            try {
              st = work(tx);
            } catch (const std::exception& e) {
              st = core::Error(core::Errc::internal, e.what(), false);
            }
            signal();
            if (!st) return st;
            released_.wait();
            return {};
          });
          signal();  // (it failed before `work` ran)
        }) {
    held_.get_future().wait();
  }
  HeldTransaction(const HeldTransaction&) = delete;
  HeldTransaction& operator=(const HeldTransaction&) = delete;
  ~HeldTransaction() { (void)release(); }

  // How many backends wait for this transaction now (for a lock it holds, or one it is ahead
  // of them in the queue for); -1 when that cannot be read.
  std::int64_t waiters() const {
    auto r = pool_.exec(
        "SELECT count(*) FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))",
        pid_.load());
    return r.ok() ? (*r)[0].get<std::int64_t>(0) : -1;
  }

  // Commits it; its outcome.
  core::Status release() {
    if (thread_.joinable()) {
      release_.set_value();
      thread_.join();
    }
    return status_;
  }

 private:
  void signal() {
    if (!signalled_) {
      signalled_ = true;
      held_.set_value();
    }
  }

  pg::Pool& pool_;
  std::promise<void> held_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  bool signalled_ = false;  // (the thread's own)
  std::atomic<std::int64_t> pid_{0};
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
