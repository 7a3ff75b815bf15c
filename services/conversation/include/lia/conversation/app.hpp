#pragma once
// The conversation service on lia::runtime: the REST API for agents, the six consumers
// (a group per topic, lia-conversation.<topic>), the outbox relay, the `admin` user at start.
//
// Settings (besides the runtime's LIA_HTTP_PORT, LIA_PG_URL, LIA_KAFKA_BOOTSTRAP, ...):
//   LIA_JWT_SECRET        required, at least 32 bytes: signs and checks the HS256 tokens
//   LIA_JWT_TTL_MS        token lifetime, default 43200000 (12 h), 1 min .. 30 days
//   LIA_ADMIN_PASSWORD    optional: creates user `admin` (ADMIN) at start if there is none
//   LIA_PASSWORD_ITERATIONS  PBKDF2-HMAC-SHA512 rounds of new password hashes, default 210000,
//                         100000 .. 10000000; a login rehashes a weaker stored hash
//   LIA_CONSUMER_INSTANCES  consumers per topic in this process (the topic's group), 1..16,
//                         default 2
//   LIA_PENDING_STATUS_TTL_MS  how long a tick for an unknown provider id is kept, default
//                         3 days (whatsapp.status.v1's retention)

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <lia/conversation/api.hpp>
#include <lia/conversation/handlers.hpp>
#include <lia/core/periodic.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::conversation {

// Embedded from services/conversation/migrations by the build.
std::vector<pg::Migration> migrations();

// name conversation, port 8081, schema conversation, outbox on.
runtime::ServiceSpec spec();

// The topics conversation consumes.
std::vector<std::string> consumed_topics();

class App final : public runtime::App {
 public:
  App() = default;
  ~App() override;

  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;
  void stop() override;

 private:
  void purge();  // every 10 minutes: statuses kept for unknown ids, old idempotency keys

  ApiConfig api_config_;
  std::string admin_password_;
  int consumer_instances_ = 2;
  std::chrono::milliseconds pending_ttl_{std::chrono::hours{72}};
  std::chrono::milliseconds campaign_ttl_{std::chrono::hours{24 * 7}};
  std::shared_ptr<Handlers> handlers_;
  std::unique_ptr<Api> api_;
  core::Periodic purger_{std::chrono::minutes{10}, [this] { purge(); },
                         core::Periodic::First::after_one_wait};
};

}  // namespace lia::conversation
