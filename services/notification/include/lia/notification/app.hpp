#pragma once
// The notification service on lia::runtime: settings, routes and consumers.

#include <memory>
#include <string>
#include <vector>

#include <lia/http/router.hpp>
#include <lia/notification/retention.hpp>
#include <lia/notification/sender.hpp>
#include <lia/notification/settings.hpp>
#include <lia/notification/store.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::notification {

// The service's migrations (embedded from services/notification/migrations).
std::vector<pg::Migration> migrations();

// name notification, port 8085, schema from LIA_NOTIFY_SCHEMA (default "notification"),
// outbox on.
runtime::ServiceSpec spec();

// GET /api/outbound/{command_id} (JWT, SUPERVISOR or ADMIN): one command's send record.
// With `users`, a user deactivated or demoted in conversation (users.v1) is refused at once.
void add_routes(http::Router& router, const std::shared_ptr<OutboundStore>& store,
                std::string jwt_secret, std::shared_ptr<const runtime::DeskUsers> users = nullptr);

class App final : public runtime::App {
 public:
  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;
  void stopping() override;
  void stop() override;

 private:
  Settings settings_;
  std::shared_ptr<CommandHandler> commands_;
  std::shared_ptr<StatusHandler> statuses_;
  std::shared_ptr<EchoHandler> echoes_;
  std::unique_ptr<Retention> retention_;
};

}  // namespace lia::notification
