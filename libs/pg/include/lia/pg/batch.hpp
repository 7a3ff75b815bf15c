#pragma once
// One transaction shared by the handling of several Kafka records (group commit).
//
// While a Batch is open on a thread, every transact() on that thread for the same pool runs
// its function inside the batch's transaction instead of a BEGIN/COMMIT of its own, and
// pool.acquire() lends the batch's connection, so a handler's reads see what the records
// before it in the batch wrote. Nothing is durable until commit().
//
//   auto batch = lia::pg::Batch::open(pool);         // BEGIN on a pooled connection
//   for (auto& m : records) handle(m);              // handlers call transact() as usual
//   if (batch && !(*batch)->failed()) (*batch)->commit();
//
// There are no savepoints: a joined function that fails (error result, exception, an SQL
// error it swallowed, or options the batch can't honour such as another isolation level)
// marks the whole batch failed. The caller then rolls it back and handles those records one
// by one, each in its own transaction, which is why handlers must keep their effects inside
// the database (an HTTP call made in a batch can't be undone).

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/deferred.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

class Batch {
 public:
  // Borrows a connection from `pool` and BEGINs (READ COMMITTED). One per thread:
  // Errc::internal if this thread has one open already. It must be committed or rolled back
  // (or destroyed) on the thread that opened it.
  static core::Result<std::unique_ptr<Batch>> open(Pool& pool);
  ~Batch();  // rolls back unless committed
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // COMMITs (or rolls back and reports why, when the batch failed). Either way the batch is
  // closed afterwards: transact() on this thread runs on its own again.
  core::Status commit();
  void rollback() noexcept;

  bool failed() const { return failed_; }
  void fail() { failed_ = true; }
  // How many transact() calls joined it.
  std::size_t joined() const { return joined_; }
  void note_join() { ++joined_; }
  Connection& connection() { return *lease_; }
  Deferred& deferred() { return deferred_; }

  // The batch open on this thread for `pool`, or null.
  static Batch* current(const Pool* pool);

  // The event ids the batch's records carry, when known up front. inbox_claim() then answers
  // for them from one look-up per consumer and writes the claims with the commit, in one
  // INSERT (without ON CONFLICT: a claim that another transaction made meanwhile fails the
  // commit, and the records are handled one by one).
  void expect(std::vector<std::string> event_ids);
  bool expects(const std::string& event_id) const { return expected_.contains(event_id); }
  // inbox_claim() for an expected id: true the first time in the batch, unless the inbox
  // already had it.
  core::Result<bool> claim(const std::string& schema, const std::string& consumer,
                           const std::string& event_id);

 private:
  Batch(Pool& pool, Lease lease);
  void close() noexcept;

  Pool* pool_;
  Lease lease_;
  std::thread::id owner_;  // open, commit and rollback happen on this thread
  bool open_ = true;
  bool failed_ = false;
  std::size_t joined_ = 0;
  Deferred deferred_;  // the outbox rows of every joined transaction, written at commit
  std::unordered_set<std::string> expected_;
  struct Claims {
    std::unordered_set<std::string> seen;     // in the inbox before the batch
    std::unordered_set<std::string> claimed;  // by this batch
  };
  std::map<std::pair<std::string, std::string>, Claims> claims_;  // (schema, consumer)
};

}  // namespace lia::pg
