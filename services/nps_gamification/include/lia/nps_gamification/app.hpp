#pragma once
// nps_gamification on the service runtime: settings, routes and the consumer.

#include <memory>

#include <lia/nps_gamification/api.hpp>
#include <lia/nps_gamification/handlers.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::nps_gamification {

// The embedded migrations (generated from migrations/).
std::vector<pg::Migration> migrations();

// name nps_gamification, port 8083, schema engagement, outbox on.
runtime::ServiceSpec spec();

// LIA_JWT_SECRET (required), LIA_NPS_SURVEY_TEXT, LIA_NPS_WINDOW_HOURS (1..168, default 24),
// LIA_NPS_REOPEN_WINDOW_HOURS and LIA_NPS_UTC_OFFSET_MINUTES (the README has their bounds).
Settings read_settings(core::Env& env);

class App final : public runtime::App {
 public:
  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;

 private:
  Settings settings_;
  std::unique_ptr<Api> api_;
  std::shared_ptr<EventHandlers> handlers_;
};

}  // namespace lia::nps_gamification
