#include <algorithm>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <libpq-fe.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/pg/tx.hpp>

#include "local_relays.hpp"

namespace lia::pg {
namespace {
constexpr std::string_view kCommitOutcomeUnknown =
    "connection lost during COMMIT: the outcome is unknown";
}  // namespace

core::Error commit_outcome_unknown_error(std::string_view detail) {
  return core::Error(core::Errc::unavailable, fmt::format("{} ({})", kCommitOutcomeUnknown, detail),
                     false);
}

bool commit_outcome_unknown(const core::Error& error) {
  return error.code() == core::Errc::unavailable && !error.retryable() &&
         error.message().starts_with(kCommitOutcomeUnknown);
}

}  // namespace lia::pg

namespace lia::pg::detail {

core::Status begin(Connection& conn, const TxOptions& options) {
  const char* level = "READ COMMITTED";
  if (options.isolation == Isolation::repeatable_read) level = "REPEATABLE READ";
  if (options.isolation == Isolation::serializable) level = "SERIALIZABLE";
  // Sent with the transaction's first statement, in the same round trip.
  conn.defer_begin(
      fmt::format("BEGIN ISOLATION LEVEL {}{}", level, options.read_only ? " READ ONLY" : ""));
  return core::ok();
}

core::Status commit(Connection& conn, Deferred* deferred,
                    const std::vector<Connection::Statement>& last) {
  const bool nothing_deferred = deferred == nullptr || deferred->empty();
  if (conn.only_begin_deferred() && nothing_deferred && last.empty()) {
    conn.drop_deferred();  // no statement ran: the BEGIN was never sent, nothing to commit
    return core::ok();
  }
  if (conn.in_failed_transaction()) {
    rollback(conn);
    return core::Error(core::Errc::internal,
                       "transaction aborted by an earlier SQL error that the function ignored; "
                       "rolled back",
                       false);
  }
  // What waits on the connection (its BEGIN, writes whose answer was not needed), the last
  // statements, the deferred writes and the COMMIT: one round trip.
  DeferredStatements writes;
  if (!nothing_deferred) writes = deferred_statements(*deferred);
  const Params none;
  std::vector<Connection::Statement> statements = last;
  for (const auto& w : writes) statements.push_back({w.sql, &w.params});
  statements.push_back({"COMMIT", &none});
  std::size_t failed_at = 0;
  auto r = conn.exec_pipeline(statements, &failed_at);
  if (!r) {
    // A server's error means the transaction did not commit (a retry may help); a connection
    // lost once the COMMIT was on its way leaves the outcome open.
    if (commit_outcome_open(r.error(), failed_at, statements.size() - 1, conn.healthy(),
                            conn.sent_last_pipeline())) {
      return commit_outcome_unknown_error(r.error().message());
    }
    rollback(conn);
    return r.error();  // e.g. a claim made meanwhile (23505), or 40001 at commit: retryable
  }
  if (r->back().command() != "COMMIT") {
    if (deferred != nullptr) deferred->clear();
    return core::Error(core::Errc::internal,
                       "COMMIT answered " + std::string(r->back().command()) + ": rolled back",
                       false);
  }
  if (deferred != nullptr) {
    wake_local_relays(*deferred);
    deferred->clear();
  }
  return core::ok();
}

bool commit_outcome_open(const core::Error& error, std::size_t failed_at, std::size_t commit_index,
                         bool connection_healthy, bool pipeline_sent) {
  if (connection_healthy) return false;  // the server answered: it told what happened
  if (failed_at == commit_index) return true;
  const auto state = sqlstate(error);
  return pipeline_sent && (!state || state->starts_with("08"));
}

void rollback(Connection& conn) noexcept {
  try {
    conn.drop_deferred();
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
