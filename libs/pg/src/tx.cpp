#include <algorithm>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <libpq-fe.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/pg/tx.hpp>

namespace lia::pg::detail {

core::Status begin(Connection& conn, const TxOptions& options) {
  const char* level = "READ COMMITTED";
  if (options.isolation == Isolation::repeatable_read) level = "REPEATABLE READ";
  if (options.isolation == Isolation::serializable) level = "SERIALIZABLE";
  auto r = conn.exec_script(
      fmt::format("BEGIN ISOLATION LEVEL {}{}", level, options.read_only ? " READ ONLY" : ""));
  if (!r) return r.error();
  return core::ok();
}

core::Status commit(Connection& conn, Deferred* deferred) {
  if (deferred != nullptr && !deferred->empty() &&
      PQtransactionStatus(conn.native()) != PQTRANS_INERROR) {
    if (auto s = write_deferred(conn, *deferred); !s.ok()) {
      rollback(conn);
      return s.error();
    }
  }
  if (PQtransactionStatus(conn.native()) == PQTRANS_INERROR) {
    rollback(conn);
    return core::Error(core::Errc::internal,
                       "transaction aborted by an earlier SQL error that the function ignored; "
                       "rolled back",
                       false);
  }
  auto r = conn.exec_script("COMMIT");
  if (!r) {
    if (!conn.healthy()) {
      return core::Error(
          core::Errc::unavailable,
          "connection lost during COMMIT: the outcome is unknown (" + r.error().message() + ")",
          false);
    }
    rollback(conn);
    return r.error();  // e.g. 40001 at commit: retryable
  }
  if (r->command() != "COMMIT") {
    return core::Error(core::Errc::internal,
                       "COMMIT answered " + std::string(r->command()) + ": rolled back", false);
  }
  return core::ok();
}

void rollback(Connection& conn) noexcept {
  try {
    if (PQtransactionStatus(conn.native()) != PQTRANS_IDLE) (void)conn.exec_script("ROLLBACK");
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing more to do; the pool checks it
  }
}

bool retry_after(const core::Error& error, int attempt, const TxOptions& options) {
  if (!error.retryable() || error.code() != core::Errc::unavailable) return false;
  if (attempt >= options.max_attempts) return false;
  static auto& retries = core::metrics().counter("lia_pg_tx_retries_total",
                                                 "Transactions run again after a "
                                                 "serialization failure, deadlock or "
                                                 "lost connection");
  retries.inc();
  thread_local std::mt19937 gen{std::random_device{}()};
  const int shift = std::min(attempt - 1, 20);
  const long long base = std::min<long long>(
      static_cast<long long>(options.backoff.count()) << shift, options.max_backoff.count());
  std::uniform_int_distribution<long long> jitter(base / 2, std::max(1LL, base));
  const auto wait = std::chrono::milliseconds{jitter(gen)};
  core::log().debug("transaction retry",
                    {core::f::num("attempt", attempt), core::f::str("error", error.message()),
                     core::f::num("backoff_ms", wait.count())});
  std::this_thread::sleep_for(wait);
  return true;
}

}  // namespace lia::pg::detail
