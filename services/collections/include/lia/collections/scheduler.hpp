#pragma once
// The campaign scheduler. Each tick, for every active campaign:
//   - inside its allowed hours: takes the due targets (attempts < max, next_attempt_at <= now)
//     with FOR UPDATE SKIP LOCKED (replicas share the work, never a target twice), renders
//     the template, and in one transaction per batch counts the attempt, schedules the next
//     one (now + spacing; none after the last), records it in message_attempts and publishes
//     lia.notification.send_text + lia.collections.message.requested through the outbox.
//     A target whose message cannot be rendered is marked failed with the reason.
//     Each campaign and each batch reads the clock anew (not_after = the end of the window
//     at that time; no batch once it closed), and a batch first share-locks the campaign
//     row while it is still active, so a pause waits for that batch and stops the next.
//     No batch either while Settings::max_in_flight of the campaign's messages await their
//     outcome (TickReport::held).
//   - outside them: sends nothing, and logs the next allowed time once per closed window.
//   - marks the campaign completed when no target has an attempt left.
// A campaign whose batch fails non-retryably is logged and skipped (TickReport::errors); a
// retryable error ends the tick.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <lia/collections/campaign.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/periodic.hpp>
#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>

namespace lia::collections {

struct TickReport {
  int campaigns = 0;  // active campaigns looked at
  int waiting = 0;    // of those, outside their allowed hours
  int sent = 0;       // send commands published
  int failed = 0;     // targets failed (template)
  int opted_out = 0;  // targets found opted out (contact_opt_outs) when due: nothing sent
  int completed = 0;  // campaigns completed by this tick
  int errors = 0;     // campaigns whose sending failed (logged; the others still ran)
  int held = 0;       // campaigns with LIA_COLLECTIONS_MAX_IN_FLIGHT messages awaiting outcomes
  int throttled = 0;  // campaigns stopped by their instance's LIA_COLLECTIONS_MAX_PER_MINUTE
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
            const core::Clock& clock = core::SystemClock::instance());
  ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One pass over the active campaigns (the thread calls it every settings.tick).
  core::Result<TickReport> tick();

  void start();
  // Stops the thread after the tick in progress. Idempotent.
  void stop() { periodic_.stop(); }

  // Most targets one transaction takes.
  static constexpr int kBatch = 200;
  // Most targets of one campaign per tick (the others wait for the next tick).
  static constexpr int kPerCampaignPerTick = 2000;

 private:
  struct Campaign;
  core::Status run_campaign(const Campaign& c, TickReport& report);
  void logged_tick();  // the thread's: a tick, its failure logged

  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string q_;
  Settings settings_;
  const core::Clock& clock_;

  std::mutex logged_mu_;
  std::map<std::string, core::SysTime> logged_next_;  // campaign -> next allowed time logged
  std::atomic<std::size_t> rotation_{0};              // which active campaign a tick starts with

  core::Periodic periodic_;  // last: its thread uses the members above
};

}  // namespace lia::collections
