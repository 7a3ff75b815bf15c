#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <libpq-fe.h>

#include <lia/core/metrics.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

struct Pool::Private {};

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
    borrowed_ = std::exchange(other.borrowed_, nullptr);
  }
  return *this;
}

void Lease::release() {
  borrowed_ = nullptr;
  if (conn_ && pool_) pool_->give_back(std::move(conn_), false);
  conn_.reset();
  pool_.reset();
}

void Lease::discard() {
  if (borrowed_ != nullptr) {  // the batch's: failing it rolls it back and closes nothing
    borrowed_ = nullptr;
    return;
  }
  if (conn_ && pool_) pool_->give_back(std::move(conn_), true);
  conn_.reset();
  pool_.reset();
}

core::Result<std::shared_ptr<Pool>> Pool::create(PoolConfig config) {
  if (config.url.empty()) {
    return core::Error(core::Errc::invalid_argument, "PostgreSQL URL is empty");
  }
  if (config.size == 0) {
    return core::Error(core::Errc::invalid_argument, "pool size must be at least 1");
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(config.url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? err : "cannot parse";
    if (err != nullptr) PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return core::Error(core::Errc::invalid_argument, "invalid PostgreSQL URL: " + msg);
  }
  PQconninfoFree(opts);
  return std::make_shared<Pool>(Private{}, std::move(config));
}

namespace {

// The process's pools together (a service has one): a wait that is seldom 0, or timeouts,
// mean the pool is too small for the work, or the database too slow for it.
core::Gauge& waiting_gauge() {
  static core::Gauge& g = core::metrics().gauge(
      "lia_pg_pool_waiting", "Threads waiting now for a free PostgreSQL connection");
  return g;
}
core::Counter& timeouts_counter() {
  static core::Counter& c =
      core::metrics().counter("lia_pg_pool_acquire_timeouts_total",
                              "Waits for a free PostgreSQL connection that ran out of time");
  return c;
}

}  // namespace

Pool::Pool(const Private&, PoolConfig config) : config_(std::move(config)) {
  // Exported from the start, at 0: a counter that appeared only at its first timeout would
  // hide that one from rate().
  waiting_gauge();
  timeouts_counter();
}

Pool::~Pool() = default;

core::Result<Lease> Pool::acquire(std::chrono::milliseconds timeout) {
  if (Batch* batch = Batch::current(this); batch != nullptr) return Lease(&batch->connection());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(mu_);
  while (true) {
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      lk.unlock();
      if (conn->healthy()) return Lease(shared_from_this(), std::move(conn));
      conn.reset();  // broken while idle: replace it
      lk.lock();
      --open_;
      continue;
    }
    if (open_ < config_.size) {
      ++open_;
      lk.unlock();
      auto conn = Connection::open(config_);
      if (!conn) {
        lk.lock();
        --open_;
        cv_.notify_one();
        return conn.error();
      }
      return Lease(shared_from_this(), std::move(*conn));
    }
    waiting_gauge().add(1);
    const auto woke = cv_.wait_until(lk, deadline);
    waiting_gauge().add(-1);
    if (woke == std::cv_status::timeout && idle_.empty() && open_ >= config_.size) {
      timeouts_counter().inc();
      return core::Error(core::Errc::unavailable,
                         fmt::format("no free PostgreSQL connection within {} ms (pool of {})",
                                     timeout.count(), config_.size));
    }
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn, bool discard) {
  conn->drop_deferred();  // a BEGIN never sent: nothing to undo
  if (!discard && conn->healthy() && !conn->idle_in_no_transaction()) {
    (void)conn->exec_script("ROLLBACK");
  }
  if (!discard && (!conn->healthy() || !conn->idle_in_no_transaction())) discard = true;
  if (discard) conn.reset();
  std::lock_guard lk(mu_);
  if (discard) {
    --open_;
  } else {
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

core::Result<Rows> Pool::exec_params(std::string_view sql, const Params& params) {
  auto lease = acquire();
  if (!lease) return lease.error();
  return (*lease)->exec_params(sql, params);
}

core::Status Pool::ping() {
  // A probe's answer in time (kubelet gives /readyz 4 s, the Kafka check 2 of them): a pool
  // busy that long is answered as not ready rather than late.
  auto lease = acquire(std::min(config_.acquire_timeout, std::chrono::milliseconds{1000}));
  if (!lease) return lease.error();
  auto r = (*lease)->exec("SELECT 1");
  if (!r) return r.error();
  return core::ok();
}

void Pool::grow_to(std::size_t n) {
  std::lock_guard lk(mu_);
  if (n > config_.size) config_.size = n;
  cv_.notify_all();
}

std::size_t Pool::size() const {
  std::lock_guard lk(mu_);
  return config_.size;
}

std::size_t Pool::open_connections() const {
  std::lock_guard lk(mu_);
  return open_;
}

std::size_t Pool::idle_connections() const {
  std::lock_guard lk(mu_);
  return idle_.size();
}

}  // namespace lia::pg
