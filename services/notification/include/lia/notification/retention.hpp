#pragma once
// How long notification keeps a finished send: its row holds the customer's number and the
// text or template sent (LGPD: kept no longer than needed). A row is needed while its
// command may still come back (a redelivery, a dead letter replayed: the command topic
// keeps 3 days, dead letters 14) and for the desk's look-up of a send; after
// LIA_NOTIFY_RETENTION_DAYS (90 by default, at least 21: a dead letter's 14 days, then its
// replayed record's 3 on the command topic, with days to spare) a thread deletes it, a slice
// at a time, every hour. A row still sending is never deleted.

#include <chrono>
#include <cstdint>
#include <memory>

#include <lia/core/clock.hpp>
#include <lia/core/periodic.hpp>
#include <lia/notification/store.hpp>

namespace lia::notification {

struct RetentionOptions {
  std::chrono::hours keep{24 * 90};
  std::chrono::milliseconds every{std::chrono::hours{1}};
  int slice = 5000;  // rows per DELETE: no long lock, no long transaction
};

class Retention {
 public:
  Retention(std::shared_ptr<OutboundStore> store, const core::Clock& clock,
            RetentionOptions options);
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;
  ~Retention() = default;

  void start() { periodic_.start(); }
  void stop() { periodic_.stop(); }
  // One purge: slices until one comes back short. The rows deleted, or the database's error
  // (the next round tries again).
  core::Result<std::int64_t> purge_once();

 private:
  void round();  // one purge, logged

  std::shared_ptr<OutboundStore> store_;
  const core::Clock& clock_;
  RetentionOptions options_;
  core::Periodic periodic_;  // last: its thread uses the members above
};

}  // namespace lia::notification
