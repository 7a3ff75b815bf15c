#include <cstdlib>
#include <thread>

#include <lia/core/log.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/tx.hpp>

namespace lia::pg {
namespace {

thread_local Batch* t_current = nullptr;  // the batch open on this thread

}  // namespace

Batch::Batch(Pool& pool, Lease lease) : pool_(&pool), lease_(std::move(lease)) {}

core::Result<std::unique_ptr<Batch>> Batch::open(Pool& pool) {
  // A second batch on the thread would borrow the first one's connection (same pool) and
  // commit its work early; no caller needs two.
  if (t_current != nullptr) {
    return core::Error(core::Errc::internal, "a batch is already open on this thread", false);
  }
  auto lease = pool.acquire();
  if (!lease) return lease.error();
  if (auto s = detail::begin(**lease, {}); !s) return s.error();
  std::unique_ptr<Batch> batch(new Batch(pool, std::move(*lease)));
  batch->owner_ = std::this_thread::get_id();
  t_current = batch.get();
  return batch;
}

void Batch::expect(std::vector<std::string> event_ids) {
  for (auto& id : event_ids) expected_.insert(std::move(id));
}

core::Result<bool> Batch::claim(const std::string& schema, const std::string& consumer,
                                const std::string& event_id) {
  auto [it, fresh] = claims_.try_emplace({schema, consumer});
  Claims& c = it->second;
  if (fresh) {
    // One look-up for every expected id of this consumer: one primary-key probe per id.
    // Not `event_id = ANY($2)`: its cached generic plan, made while the inbox was small,
    // filtered every row of the consumer (a scan growing with the inbox).
    std::string ids = "{";
    for (const auto& id : expected_) append_array_element(ids, id);
    ids += '}';
    auto rows = lease_->exec(
        "SELECT u.id FROM unnest($2::text[]) AS u(id) CROSS JOIN LATERAL (SELECT FROM " +
            quote_ident(schema) +
            ".inbox i WHERE i.consumer = $1 AND i.event_id = u.id LIMIT 1) hit",
        consumer, ids);
    if (!rows) {
      claims_.erase(it);
      fail();
      return rows.error();
    }
    for (const auto& row : *rows) c.seen.insert(row.get<std::string>(0));
  }
  if (c.seen.contains(event_id) || !c.claimed.insert(event_id).second) return false;
  deferred_.inbox.push_back({schema, consumer, event_id});
  return true;
}

Batch::~Batch() {
  rollback();
}

Batch* Batch::current(const Pool* pool) {
  return t_current != nullptr && t_current->pool_ == pool ? t_current : nullptr;
}

void Batch::close() noexcept {
  if (!open_) return;
  open_ = false;
  if (std::this_thread::get_id() != owner_) {
    // The thread-local list belongs to the owner: touching it from here would corrupt it.
    core::log().error("pg batch closed on another thread than its own (a bug)", {});
    std::abort();
  }
  t_current = nullptr;
}

core::Status Batch::commit() {
  if (!open_) return core::Error(core::Errc::internal, "batch already closed", false);
  if (failed_) {
    rollback();
    return core::Error(core::Errc::cancelled, "batch failed: rolled back", true);
  }
  close();
  auto s = detail::commit(*lease_, &deferred_);
  lease_.release();
  return s;
}

void Batch::rollback() noexcept {
  if (!open_) return;
  close();
  deferred_.clear();
  claims_.clear();
  detail::rollback(*lease_);
  lease_.release();
}

}  // namespace lia::pg
