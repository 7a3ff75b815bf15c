#pragma once
// One libpq connection. Not thread-safe: one thread uses it at a time (the Pool hands it
// out). Statements with parameters are prepared once per connection, cached by their SQL
// text, and run with PQexecPrepared.
//
// Errors carry the SQLSTATE in their message ("SQLSTATE 23505: duplicate key ...") and map
// to core::Errc:
//   23505 unique violation                      -> conflict
//   other 23xxx, 22xxx (bad data)               -> invalid_argument
//   40001 serialization, 40P01 deadlock,
//   08xxx connection, 57P01-03 shutdown, 53xxx  -> unavailable, retryable
//   57014 statement timeout, 55P03 lock timeout -> timeout, retryable
//   28xxx, 42501 (permissions)                  -> unauthorized
//   anything else (syntax, missing table, ...)  -> internal

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/params.hpp>
#include <lia/pg/rows.hpp>

struct pg_conn;  // libpq's PGconn

namespace lia::pg {

struct PoolConfig {
  std::string url;  // postgresql://user[:password]@host:port/db[?...]
  std::size_t size = 4;
  std::chrono::milliseconds connect_timeout{5000};
  std::string application_name = "lia";
  std::chrono::milliseconds statement_timeout{0};  // 0: the server's default
  // The longest wait for a lock (a row, a table, an advisory lock); past it the statement
  // fails with 55P03, retryable (Errc::timeout). 0: the server's default (none).
  std::chrono::milliseconds lock_timeout{0};
  std::optional<std::string> role;                  // SET ROLE after connecting
  std::chrono::milliseconds acquire_timeout{5000};  // Pool::acquire() without an argument
};

// The SQLSTATE in an error made by this library, if there is one.
std::optional<std::string> sqlstate(const core::Error& error);
// Builds the error for a SQLSTATE and server message (exposed for tests).
core::Error error_from_sqlstate(std::string_view state, std::string_view message);

// "name" with embedded quotes doubled: safe to splice into SQL as an identifier.
std::string quote_ident(std::string_view name);

// Whether libpq takes this connection URI (its syntax and parameter names), without
// connecting: a start checks LIA_PG_URL with it. The error never repeats the URI.
core::Status check_url(const std::string& url);
// Appends `value` as one double-quoted element to a text[] literal being built ("{" first,
// "}" last): `"` and `\` escaped, so NULL, empty strings, commas and braces stay literal.
void append_array_element(std::string& literal, std::string_view value);
// 'text' with embedded quotes doubled, for the few statements that take no parameters
// (CREATE ROLE ... PASSWORD). Rejects NUL bytes by returning nullopt.
std::optional<std::string> quote_literal(std::string_view text);

struct Notification {
  std::string channel;
  std::string payload;
  int backend_pid = 0;
};

class Connection {
 public:
  static core::Result<std::unique_ptr<Connection>> open(const PoolConfig& config);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement; parameters as text ($1, $2, ...), prepared once per connection.
  template <class... A>
  core::Result<Rows> exec(std::string_view sql, const A&... args) {
    return exec_params(sql, make_params(args...));
  }
  core::Result<Rows> exec_params(std::string_view sql, const Params& params);
  // Runs SQL text that may hold several statements, without parameters (migrations, BEGIN);
  // returns the last statement's result.
  core::Result<Rows> exec_script(std::string_view sql);

  // Statements sent together and answered in one round trip (libpq pipeline mode), in order,
  // after the deferred ones; each one's rows, or the first error (the statements after a
  // failed one do not run).
  struct Statement {
    std::string_view sql;
    const Params* params;  // not null
  };
  // `failed_at`, on an error: the index of the statement that failed or was running when the
  // connection broke, or kBeforeCallers if a deferred statement failed first.
  static constexpr std::size_t kBeforeCallers = static_cast<std::size_t>(-1);
  core::Result<std::vector<Rows>> exec_pipeline(const std::vector<Statement>& statements,
                                                std::size_t* failed_at = nullptr);

  // Statements whose answer can wait: sent only with the next round trip, ahead of what it
  // carries, their rows dropped. A failed one fails that round trip. A transaction's BEGIN
  // is one (defer_begin): if nothing follows it is never sent (drop_deferred).
  void defer_begin(std::string sql) { begin_ = std::move(sql); }
  void defer(std::string sql, Params params) {
    later_.push_back({std::move(sql), std::move(params)});
  }
  bool has_deferred() const { return !begin_.empty() || !later_.empty(); }
  // Only a BEGIN waits: the transaction has done nothing yet.
  bool only_begin_deferred() const { return !begin_.empty() && later_.empty(); }
  void drop_deferred() {
    begin_.clear();
    later_.clear();
  }

  // CONNECTION_OK, the server has not closed the socket while idle, and no write met a
  // read-only server on it (after a failover it would keep failing: the pool replaces it).
  bool healthy();
  // Whether the last exec_pipeline sent all its statements and its Sync: from then on the
  // server may run every one of them, whatever the client hears back.
  bool sent_last_pipeline() const { return sent_pipeline_; }
  // PQTRANS_IDLE: no transaction open (nor one deferred) and no command in progress.
  bool idle_in_no_transaction() const;
  // Inside a transaction that an SQL error aborted (only ROLLBACK is accepted now).
  bool in_failed_transaction() const;
  int backend_pid() const;
  std::size_t prepared_count() const { return prepared_.size(); }

  // LISTEN support: the socket to poll, and notifications that arrived so far.
  int socket() const;
  // Reads what the server sent (call when socket() is readable); an error if the
  // connection broke.
  core::Status consume_input();
  std::vector<Notification> take_notifications();

  pg_conn* native() { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  core::Result<Rows> check(pg_result* res, std::string_view what);
  core::Error connection_error(std::string_view what) const;
  std::uint64_t next_statement_ = 0;
  bool read_only_ = false;  // a statement failed with 25006 (read-only server)
  pg_conn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  struct Later {
    std::string sql;
    Params params;
  };
  std::string begin_;
  std::vector<Later> later_;
  std::vector<std::string> stale_names_;  // prepared names to DEALLOCATE once idle
  bool broken_ = false;                   // a pipeline failed half-way: never reused
  bool sent_pipeline_ = false;
  void drop_stale_statements();
};

}  // namespace lia::pg
