#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include <lia/core/config.hpp>
#include <lia/core/log.hpp>
#include <lia/pg/connection.hpp>

namespace lia::pg {
namespace {

constexpr std::size_t kMaxPrepared = 512;  // beyond this, statements run unprepared
constexpr std::string_view kPrefix = "SQLSTATE ";

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s);
}

// Server notices (NOTICE, WARNING, or the FATAL a dying session sends while idle) go to the
// debug log rather than to stderr.
void on_notice(void*, const PGresult* res) {
  if (!core::log().enabled(core::Level::debug)) return;
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  core::log().debug("postgres notice",
                    {core::f::id("sqlstate", state != nullptr ? state : ""),
                     core::f::str("message", primary != nullptr ? primary : "")});
}

// A prepared statement gone (DEALLOCATE, DISCARD) or made stale by a schema change (its result
// type changed: a migration applied while this version runs).
bool stale_statement_state(std::string_view state, std::string_view message) {
  return state == "26000" ||
         (state == "0A000" && message.find("cached plan") != std::string_view::npos);
}

}  // namespace

core::Error error_from_sqlstate(std::string_view state, std::string_view message) {
  using core::Errc;
  const std::string text = fmt::format("{}{}: {}", kPrefix, state, message);
  if (state == "23505") return {Errc::conflict, text, false};
  if (starts_with(state, "23") || starts_with(state, "22")) {
    return {Errc::invalid_argument, text, false};
  }
  // 25006: a write reached a read-only server (a failover demoted the one this connection
  // knew); the connection is dropped (see check) and a new one finds the new primary.
  // 25P03, 57P05: the server ended an idle session (idle in a transaction, or idle, past its
  // timeout): the connection is gone, the work is not refused.
  if (state == "40001" || state == "40P01" || starts_with(state, "08") || state == "57P01" ||
      state == "57P02" || state == "57P03" || starts_with(state, "53") || state == "25006" ||
      state == "25P03" || state == "57P05") {
    return {Errc::unavailable, text, true};
  }
  // A stale statement: the connection forgets it and prepares it anew, so running it again,
  // or its whole transaction, succeeds.
  if (stale_statement_state(state, message)) return {Errc::unavailable, text, true};
  if (state == "57014" || state == "55P03") return {Errc::timeout, text, true};
  // A refused login or a missing grant is the deployment's to fix (a rotated password, a
  // restore without its grants), never the record's: retryable, so a consumer parks its
  // partition until it is fixed instead of dead-lettering its whole backlog.
  if (starts_with(state, "28") || state == "42501") return {Errc::unauthorized, text, true};
  return {Errc::internal, text, false};
}

std::optional<std::string> sqlstate(const core::Error& error) {
  const std::string& m = error.message();
  if (!starts_with(m, kPrefix) || m.size() < kPrefix.size() + 6) return std::nullopt;
  if (m[kPrefix.size() + 5] != ':') return std::nullopt;
  return m.substr(kPrefix.size(), 5);
}

namespace {

bool stale_statement(const core::Error& error) {
  const auto state = sqlstate(error);
  return state && stale_statement_state(*state, error.message());
}

}  // namespace

core::Status check_url(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts != nullptr) {
    PQconninfoFree(opts);
    return core::ok();
  }
  std::string why = err != nullptr ? trim(err) : "libpq cannot read it";
  if (err != nullptr) PQfreemem(err);
  return core::Error(core::Errc::invalid_argument,
                     "libpq does not take it: " + core::hide_url_passwords(why, url));
}

std::string quote_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('"');
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::optional<std::string> quote_literal(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::string out;
  const bool backslash = text.find('\\') != std::string_view::npos;
  if (backslash) out.push_back('E');
  out.push_back('\'');
  for (char c : text) {
    if (c == '\'' || (backslash && c == '\\')) out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

core::Result<std::unique_ptr<Connection>> Connection::open(const PoolConfig& config) {
  static constexpr const char* kServerKeepalives =
      "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
      "-c tcp_user_timeout=30000";
  const auto timeout_s = std::max<std::int64_t>(
      2, (config.connect_timeout.count() + 999) / 1000);  // libpq counts whole seconds, >= 2
  const std::string timeout = std::to_string(timeout_s);
  // Before the URL, so that its own values win: TCP keepalives on both ends (after 10 s of
  // silence, 3 probes 5 s apart). The server then ends the session of a client whose node
  // died without closing its socket (releasing its locks: the outbox relay's leadership is a
  // session lock) in about 25 s instead of the kernel's two hours; the client notices a dead
  // server as fast. Keepalives only probe an idle socket: data left unacknowledged (a query
  // sent as the server's node vanished) is retransmitted for about 15 minutes, during which
  // a consumer thread stays frozen, so TCP_USER_TIMEOUT gives up after 30 s on both ends.
  // Unix-socket connections ignore them.
  const char* keys[] = {
      "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "options",
      "dbname",          "connect_timeout",     "application_name", "client_encoding",  nullptr};
  const char* values[] = {"10",
                          "5",
                          "3",
                          "30000",
                          kServerKeepalives,
                          config.url.c_str(),
                          timeout.c_str(),
                          config.application_name.c_str(),
                          "UTF8",
                          nullptr};
  PGconn* raw = PQconnectdbParams(keys, values, 1);
  if (raw == nullptr) return core::Error(core::Errc::unavailable, "libpq: out of memory", true);
  std::unique_ptr<Connection> conn(new Connection(raw));
  PQsetNoticeReceiver(raw, &on_notice, nullptr);
  if (PQstatus(raw) != CONNECTION_OK) {
    const std::string msg = core::hide_url_passwords(trim(PQerrorMessage(raw)), config.url);
    if (msg.find("authentication failed") != std::string::npos ||
        msg.find("does not exist") != std::string::npos) {
      // Retryable, as a refused login after the connection is (see error_from_sqlstate).
      return core::Error(core::Errc::unauthorized, "cannot connect to PostgreSQL: " + msg, true);
    }
    return core::Error(core::Errc::unavailable, "cannot connect to PostgreSQL: " + msg, true);
  }
  if (config.statement_timeout.count() > 0) {
    auto r = conn->exec_script(
        fmt::format("SET statement_timeout = {}", config.statement_timeout.count()));
    if (!r) return r.error();
  }
  if (config.lock_timeout.count() > 0) {
    auto r = conn->exec_script(fmt::format("SET lock_timeout = {}", config.lock_timeout.count()));
    if (!r) return r.error();
  }
  if (config.role && !config.role->empty()) {
    auto r = conn->exec_script("SET ROLE " + quote_ident(*config.role));
    if (!r) return r.error();
  }
  return conn;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

core::Error Connection::connection_error(std::string_view what) const {
  std::string msg = trim(PQerrorMessage(conn_));
  if (msg.empty()) msg = "connection to the server was lost";
  return error_from_sqlstate("08006", fmt::format("{}: {}", what, msg));
}

core::Result<Rows> Connection::check(pg_result* res, std::string_view what) {
  if (res == nullptr) return connection_error(what);
  Rows rows(res);
  const auto st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return rows;
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  if (PQstatus(conn_) != CONNECTION_OK && (state == nullptr || *state == '\0')) {
    return connection_error(what);
  }
  if (state == nullptr || *state == '\0') {
    return core::Error(core::Errc::internal,
                       fmt::format("{}: unexpected result {}: {}", what, PQresStatus(st),
                                   trim(PQresultErrorMessage(res))),
                       false);
  }
  // Only the primary message and the constraint: DETAIL may quote row values (personal data).
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  std::string msg = primary != nullptr ? primary : "error";
  if (constraint != nullptr) msg += fmt::format(" (constraint {})", constraint);
  if (std::string_view(state) == "25006") read_only_ = true;
  return error_from_sqlstate(state, msg);
}

core::Result<Rows> Connection::exec_params(std::string_view sql, const Params& params) {
  // One path for every statement: the pipeline (which also carries what was deferred).
  for (int tries = 0;; ++tries) {
    drop_stale_statements();
    const bool in_transaction = has_deferred() || PQtransactionStatus(conn_) != PQTRANS_IDLE;
    auto r = exec_pipeline({{sql, &params}});
    if (r) return std::move(r->back());
    // A statement dropped behind the cache's back, or made stale by a schema change, was
    // forgotten: run it again at once when no transaction was affected.
    if (tries > 0 || in_transaction || !stale_statement(r.error())) return r.error();
  }
}

core::Result<Rows> Connection::exec_script(std::string_view sql) {
  if (PQstatus(conn_) != CONNECTION_OK || broken_) return connection_error("query");
  if (has_deferred()) {
    auto r = exec_pipeline({});
    if (!r) return r.error();
  }
  return check(PQexec(conn_, std::string(sql).c_str()), "query");
}

core::Result<std::vector<Rows>> Connection::exec_pipeline(const std::vector<Statement>& callers,
                                                          std::size_t* failed_at) {
  if (failed_at != nullptr) *failed_at = kBeforeCallers;
  sent_pipeline_ = false;
  if (PQstatus(conn_) != CONNECTION_OK || broken_) return connection_error("query");
  if (PQenterPipelineMode(conn_) == 0) return connection_error("pipeline");
  // The deferred statements go first, their rows not returned.
  const std::string begin = std::exchange(begin_, std::string());
  const std::vector<Later> later = std::exchange(later_, {});
  const Params none;
  std::vector<Statement> statements;
  statements.reserve(callers.size() + later.size() + 1);
  if (!begin.empty()) statements.push_back({begin, &none});
  for (const auto& l : later) statements.push_back({l.sql, &l.params});
  const std::size_t skipped = statements.size();
  statements.insert(statements.end(), callers.begin(), callers.end());
  auto failed = [&](std::size_t statement) {
    if (failed_at != nullptr)
      *failed_at = statement >= skipped ? statement - skipped : kBeforeCallers;
  };
  // Past this point a failure leaves results unread in pipeline mode: the session is given
  // up (healthy() is false, the pool closes it) rather than reused half-way.
  auto give_up = [&](std::size_t statement, std::optional<core::Error> error) -> core::Error {
    failed(statement);
    broken_ = true;
    return error ? *error : connection_error("pipeline");
  };

  // What each result answers: a PREPARE (its statement's name to remember) or a statement.
  struct Step {
    std::size_t statement;
    std::string prepared_name;  // set for the result of a PREPARE
  };
  std::vector<Step> steps;
  std::vector<const char*> values;
  std::unordered_map<std::string, std::string> preparing;  // text -> name, new in this pipeline
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const auto& st = statements[i];
    values.clear();
    for (const auto& p : *st.params) values.push_back(p ? p->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    const std::string text(st.sql);
    const std::string* name = nullptr;
    if (auto it = prepared_.find(text); it != prepared_.end()) {
      name = &it->second;
    } else if (auto pit = preparing.find(text); pit != preparing.end()) {
      name = &pit->second;
    } else if (prepared_.size() + preparing.size() < kMaxPrepared) {
      auto [nit, ok] = preparing.emplace(text, fmt::format("lia_{}", next_statement_++));
      name = &nit->second;
      if (PQsendPrepare(conn_, name->c_str(), text.c_str(), n, nullptr) == 0) {
        return give_up(i, std::nullopt);
      }
      steps.push_back({i, *name});
    }
    const bool sent = name != nullptr ? PQsendQueryPrepared(conn_, name->c_str(), n, values.data(),
                                                            nullptr, nullptr, 0) == 1
                                      : PQsendQueryParams(conn_, text.c_str(), n, nullptr,
                                                          values.data(), nullptr, nullptr, 0) == 1;
    if (!sent) return give_up(i, std::nullopt);
    steps.push_back({i, {}});
  }
  // Once sent, the server may run any of them (a COMMIT included) whatever happens next.
  if (PQpipelineSync(conn_) == 0) return give_up(statements.size() - 1, std::nullopt);
  sent_pipeline_ = true;

  std::vector<Rows> out;
  out.reserve(callers.size());
  std::optional<core::Error> first_error;
  std::size_t first_failed = 0;
  for (const auto& step : steps) {
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr) return give_up(first_error ? first_failed : step.statement, first_error);
    if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
      PQclear(res);  // skipped after an earlier error, which is the one reported
    } else {
      auto r = check(res, step.prepared_name.empty() ? "query" : "prepare");
      if (!r) {
        if (!first_error) {
          first_error = r.error();
          first_failed = step.statement;
        }
      } else if (!step.prepared_name.empty()) {
        prepared_.emplace(std::string(statements[step.statement].sql), step.prepared_name);
      } else if (step.statement >= skipped) {  // not a deferred statement's
        out.push_back(std::move(*r));
      }
    }
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);  // the end of this command
    if (PQstatus(conn_) != CONNECTION_OK) {
      // The server's own error (e.g. 57P01 when it shut down) says more than "lost".
      return give_up(first_error ? first_failed : step.statement, first_error);
    }
  }
  PGresult* sync = PQgetResult(conn_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync != nullptr) PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) == 0) {
    return give_up(first_error ? first_failed : statements.size() - 1, first_error);
  }
  if (first_error) {
    failed(first_failed);
    // The failed statement was dropped (DEALLOCATE) or made stale by a schema change:
    // prepared again next time, the old name dropped once the session is idle.
    if (stale_statement(*first_error)) {
      if (auto it = prepared_.find(std::string(statements[first_failed].sql));
          it != prepared_.end()) {
        stale_names_.push_back(it->second);
        prepared_.erase(it);
      }
    }
    return *first_error;
  }
  return out;
}

void Connection::drop_stale_statements() {
  if (stale_names_.empty() || has_deferred() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return;
  for (const auto& name : stale_names_) PQclear(PQexec(conn_, ("DEALLOCATE " + name).c_str()));
  stale_names_.clear();
}

bool Connection::healthy() {
  if (read_only_) return false;
  // Idle, yet the server sent something: a notification, or its goodbye (a FATAL error,
  // then the end of the stream, which the next read sees).
  for (int reads = 0; reads < 8 && PQstatus(conn_) == CONNECTION_OK; ++reads) {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (p.fd < 0) return false;
    if (::poll(&p, 1, 0) <= 0) break;
    if (PQconsumeInput(conn_) == 0) return false;
  }
  return PQstatus(conn_) == CONNECTION_OK && !broken_ && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF;
}

bool Connection::idle_in_no_transaction() const {
  return PQtransactionStatus(conn_) == PQTRANS_IDLE && !has_deferred();
}

void append_array_element(std::string& literal, std::string_view value) {
  literal += literal.size() > 1 ? ",\"" : "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

bool Connection::in_failed_transaction() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

int Connection::backend_pid() const {
  return PQbackendPID(conn_);
}

int Connection::socket() const {
  return PQsocket(conn_);
}

core::Status Connection::consume_input() {
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    return connection_error("listen");
  }
  return core::ok();
}

std::vector<Notification> Connection::take_notifications() {
  std::vector<Notification> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.push_back(
        {n->relname != nullptr ? n->relname : "", n->extra != nullptr ? n->extra : "", n->be_pid});
    PQfreemem(n);
  }
  return out;
}

}  // namespace lia::pg
