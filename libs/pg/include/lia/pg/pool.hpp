#pragma once
// A thread-safe pool of connections. Connections open lazily, up to `size`; acquire() waits
// for a free one up to a deadline (then Errc::unavailable). A connection found broken (the
// server closed it, or a query lost it) is dropped and a fresh one takes its place; one
// returned with a transaction still open is rolled back first.
//
//   auto pool = lia::pg::Pool::create({.url = env.pg_url, .size = 8});
//   if (!pool) return pool.error();
//   auto rows = (*pool)->exec("select name from contacts where id = $1", id);

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/connection.hpp>

namespace lia::pg {

class Pool;

// A connection borrowed from a pool; goes back when destroyed.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept
      : pool_(std::move(other.pool_)),
        conn_(std::move(other.conn_)),
        borrowed_(std::exchange(other.borrowed_, nullptr)) {}
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  Connection& operator*() const { return borrowed_ != nullptr ? *borrowed_ : *conn_; }
  Connection* operator->() const { return borrowed_ != nullptr ? borrowed_ : conn_.get(); }
  explicit operator bool() const { return borrowed_ != nullptr || conn_ != nullptr; }

  // Returns the connection now (rolled back if a transaction is still open).
  void release();
  // Closes the connection instead of returning it (e.g. it holds a session lock that
  // could not be released).
  void discard();

 private:
  friend class Pool;
  Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> conn)
      : pool_(std::move(pool)), conn_(std::move(conn)) {}
  // The connection of the batch open on this thread (lia/pg/batch.hpp): the batch owns it,
  // so releasing this lease gives nothing back.
  explicit Lease(Connection* borrowed) : borrowed_(borrowed) {}
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Connection> conn_;
  Connection* borrowed_ = nullptr;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Checks the configuration (URL syntax, size) without connecting.
  static core::Result<std::shared_ptr<Pool>> create(PoolConfig config);
  ~Pool();

  core::Result<Lease> acquire() { return acquire(config_.acquire_timeout); }
  core::Result<Lease> acquire(std::chrono::milliseconds timeout);

  // Borrows a connection for one statement.
  template <class... A>
  core::Result<Rows> exec(std::string_view sql, const A&... args) {
    auto lease = acquire();
    if (!lease) return lease.error();
    return (*lease)->exec(sql, args...);
  }
  core::Result<Rows> exec_params(std::string_view sql, const Params& params);

  // SELECT 1 on a pooled connection (readiness probes), waiting at most 1 s for a free one.
  core::Status ping();

  // Raises the size to at least n (e.g. one connection per consumer that holds one for a
  // whole batch, plus some for everything else). Never shrinks it.
  void grow_to(std::size_t n);

  const PoolConfig& config() const { return config_; }  // size: see size()
  std::size_t size() const;
  std::size_t open_connections() const;
  std::size_t idle_connections() const;

  struct Private;  // lets create() use make_shared with a private constructor
  Pool(const Private&, PoolConfig config);

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> conn, bool discard);

  PoolConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace lia::pg
