#pragma once
// Transactions with retries. transact() BEGINs on a pooled connection, runs the function,
// COMMITs, and runs the whole function again (on a fresh connection if the old one broke)
// when a retry can help: any error that is Errc::unavailable with retryable() set. From the
// database: serialization failure (40001), deadlock (40P01), a lost connection, a server
// shutting down or out of resources (57P01-03, 53xxx), a read-only standby (25006), a stale
// prepared statement; from the pool: no connection in time. An error the function returns
// itself counts the same, so a function calling out elsewhere returns another code for what
// must not run twice. An error result or an exception rolls back; other errors are returned
// at once, never retried.
// A connection lost during COMMIT itself is not retried: the outcome is unknown, and the
// error says so.
//
//   auto r = lia::pg::transact(*pool, [&](lia::pg::Tx& tx) -> core::Result<std::int64_t> {
//     auto rows = tx.exec("update accounts set n = n + 1 where id = $1 returning n", id);
//     if (!rows) return rows.error();
//     return (*rows)[0].get<std::int64_t>(0);
//   }, {.isolation = lia::pg::Isolation::serializable});

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/connection.hpp>
#include <lia/pg/deferred.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

enum class Isolation { read_committed, repeatable_read, serializable };

struct TxOptions {
  Isolation isolation = Isolation::read_committed;
  int max_attempts = 5;
  std::chrono::milliseconds backoff{10};  // before the 2nd attempt; doubles, with jitter
  std::chrono::milliseconds max_backoff{1000};
  bool read_only = false;
};

class Tx {
 public:
  Tx(Connection& conn, int attempt, Deferred& deferred, Batch* batch = nullptr)
      : conn_(&conn), attempt_(attempt), deferred_(&deferred), batch_(batch) {}

  template <class... A>
  core::Result<Rows> exec(std::string_view sql, const A&... args) {
    return conn_->exec(sql, args...);
  }
  core::Result<Rows> exec_params(std::string_view sql, const Params& params) {
    return conn_->exec_params(sql, params);
  }
  core::Result<Rows> exec_script(std::string_view sql) { return conn_->exec_script(sql); }
  // Several statements, one round trip (Connection::exec_pipeline).
  core::Result<std::vector<Rows>> exec_pipeline(const std::vector<Connection::Statement>& stmts) {
    return conn_->exec_pipeline(stmts);
  }
  // A statement whose rows are not needed: sent with the transaction's next round trip (the
  // next exec, or the COMMIT), where its error, if any, shows. In a batch that may be the
  // next record's round trip: the batch fails either way, and the records run again one by
  // one, where the error meets its own record.
  template <class... A>
  // NOLINTNEXTLINE(performance-unnecessary-value-param): it is moved; clang-tidy 14 misses it
  void exec_later(std::string sql, const A&... args) {
    conn_->defer(std::move(sql), make_params(args...));
  }

  Connection& connection() { return *conn_; }
  // 1 on the first run of the function, 2 on its first retry, ...
  int attempt() const { return attempt_; }
  // Rows written just before COMMIT (lia/pg/deferred.hpp).
  Deferred& deferred() { return *deferred_; }
  // The batch this transaction joined, or null.
  Batch* batch() { return batch_; }

 private:
  Connection* conn_;
  int attempt_;
  Deferred* deferred_;
  Batch* batch_;
};

// The error of a connection lost while its COMMIT ran: Errc::unavailable, not retryable
// (transact() cannot know whether running the function again would do its work twice), and
// recognised by commit_outcome_unknown(). A caller whose work is idempotent (a consumer that
// claims its record in an inbox) may run it again.
core::Error commit_outcome_unknown_error(std::string_view detail);
bool commit_outcome_unknown(const core::Error& error);

namespace detail {
core::Status begin(Connection& conn, const TxOptions& options);
// Runs `last`, writes `deferred` (if any), then COMMITs, in one round trip; a failure rolls
// back.
core::Status commit(Connection& conn, Deferred* deferred = nullptr,
                    const std::vector<Connection::Statement>& last = {});
// The statements that write `deferred`: one INSERT per schema for the outbox rows (with
// one NOTIFY), one per schema for a batch's inbox claims.
struct DeferredStatement {
  std::string sql;
  Params params;
};
using DeferredStatements = std::vector<DeferredStatement>;
DeferredStatements deferred_statements(const Deferred& deferred);
void rollback(Connection& conn) noexcept;
// Whether a commit pipeline that failed with `error` may still have committed: the COMMIT
// was sent (the whole pipeline, or the failure came at the COMMIT itself) and the connection
// was lost (SQLSTATE class 08) rather than the server answering an error, which aborts the
// pipeline before its COMMIT runs. The server sends a pipeline's results together at its
// Sync, so a connection lost after the COMMIT ran shows as lost on the first statement.
bool commit_outcome_open(const core::Error& error, std::size_t failed_at, std::size_t commit_index,
                         bool connection_healthy, bool pipeline_sent);
// True if `error` is worth another attempt and attempts remain; then sleeps the backoff.
bool retry_after(const core::Error& error, int attempt, const TxOptions& options);

// Runs fn inside the open batch (lia/pg/batch.hpp): no BEGIN/COMMIT of its own, no retry.
// Any failure fails the whole batch, whose caller rolls it back and runs each record alone.
template <class F>
auto join(Batch& batch, F& fn, const TxOptions& options) -> std::invoke_result_t<F&, Tx&> {
  using R = std::invoke_result_t<F&, Tx&>;
  if (batch.failed()) {
    return R(core::Error(core::Errc::unavailable, "the batch transaction already failed", true));
  }
  if (options.isolation != Isolation::read_committed || options.read_only) {
    batch.fail();  // a batch is READ COMMITTED read-write: run this one on its own
    return R(core::Error(core::Errc::unavailable,
                         "transaction options need a transaction "
                         "of their own, outside the batch",
                         true));
  }
  batch.note_join();
  Tx tx(batch.connection(), 1, batch.deferred(), &batch);
  try {
    R result = fn(tx);
    if (!result.ok() || batch.connection().in_failed_transaction()) batch.fail();
    return result;
  } catch (...) {
    batch.fail();
    throw;
  }
}
}  // namespace detail

template <class F>
auto transact(Pool& pool, F&& fn, const TxOptions& options = {}) -> std::invoke_result_t<F&, Tx&> {
  using R = std::invoke_result_t<F&, Tx&>;
  if (Batch* batch = Batch::current(&pool); batch != nullptr)
    return detail::join(*batch, fn, options);
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.acquire();
    if (!lease) {
      if (detail::retry_after(lease.error(), attempt, options)) continue;
      return R(lease.error());
    }
    Connection& conn = **lease;
    // A retry's backoff waits without the connection: other work may use it meanwhile (a
    // burst of deadlocks would otherwise hold a pool's connections idle).
    if (auto s = detail::begin(conn, options); !s.ok()) {
      lease->release();
      if (detail::retry_after(s.error(), attempt, options)) continue;
      return R(s.error());
    }
    Deferred deferred;
    Tx tx(conn, attempt, deferred);
    std::optional<R> result;
    try {
      result.emplace(fn(tx));
    } catch (...) {
      detail::rollback(conn);
      throw;
    }
    if (!result->ok()) {
      detail::rollback(conn);
      lease->release();
      if (detail::retry_after(result->error(), attempt, options)) continue;
      return std::move(*result);
    }
    auto committed = detail::commit(conn, &deferred);
    if (committed.ok()) return std::move(*result);
    lease->release();
    if (detail::retry_after(committed.error(), attempt, options)) continue;
    return R(committed.error());
  }
}

template <class F>
auto transact(const std::shared_ptr<Pool>& pool, F&& fn, const TxOptions& options = {})
    -> std::invoke_result_t<F&, Tx&> {
  return transact(*pool, std::forward<F>(fn), options);
}

}  // namespace lia::pg
