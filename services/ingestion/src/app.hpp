#pragma once
// lia-ingestion on the service runtime: settings, routes, the audit writer and consumer.

#include <memory>
#include <string>
#include <vector>

#include <lia/pg/migrate.hpp>
#include <lia/runtime/runtime.hpp>

#include "audit.hpp"
#include "gateway.hpp"

namespace lia::ingestion {

// The embedded migrations of services/ingestion/migrations.
std::vector<pg::Migration> migrations();

// name "ingestion", port 8080, schema LIA_INGESTION_SCHEMA (default "ingestion").
runtime::ServiceSpec spec();

class App final : public runtime::App {
 public:
  App() = default;
  ~App() override;

  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;
  void stop() override;

 private:
  GatewayConfig gateway_config_;
  bool audit_consumer_ = false;
  std::size_t audit_queue_ = 100'000;
  std::chrono::hours audit_retention_{0};
  std::chrono::milliseconds linger_{1};
  std::shared_ptr<kafka::Producer> producer_;
  std::shared_ptr<AuditWriter> writer_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<AuditConsumer> consumer_;
};

}  // namespace lia::ingestion
