#pragma once
// collections on the service runtime: settings, routes, the scheduler thread and the
// notification.events.v1 consumer.

#include <memory>

#include <lia/collections/api.hpp>
#include <lia/collections/campaign.hpp>
#include <lia/collections/handlers.hpp>
#include <lia/collections/scheduler.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::collections {

// The embedded migrations (generated from migrations/).
std::vector<pg::Migration> migrations();

// name collections, port 8084, schema collections, outbox on.
runtime::ServiceSpec spec();

class App final : public runtime::App {
 public:
  // clock: the scheduler's and the API's time (tests pass a ManualClock).
  explicit App(const core::Clock& clock = core::SystemClock::instance()) : clock_(clock) {}
  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;
  void stop() override;

 private:
  const core::Clock& clock_;
  Settings settings_;
  std::unique_ptr<Api> api_;
  std::shared_ptr<NotificationHandler> handler_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace lia::collections
