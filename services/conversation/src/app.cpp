#include <lia/auth/auth.hpp>
#include <lia/conversation/app.hpp>
#include <lia/conversation/model.hpp>
#include <lia/conversation/users.hpp>
#include <lia/core/log.hpp>
#include <lia/events/names.hpp>
#include <lia/runtime/authorize.hpp>

namespace lia::conversation {

namespace f = core::f;

runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = kServiceName;
  s.default_port = 8081;
  s.schema = kDefaultSchema;
  s.schema_setting = "LIA_CONVERSATION_SCHEMA";  // another schema for isolated test runs
  s.migrations = migrations();
  s.outbox = true;
  return s;
}

std::vector<std::string> consumed_topics() {
  namespace t = events::topics;
  return {std::string(t::whatsapp_inbound),  std::string(t::whatsapp_status),
          std::string(t::ai_events),         std::string(t::notification_events),
          std::string(t::engagement_events), std::string(t::collections_events)};
}

App::~App() {
  stop();
}

// The fewest rounds LIA_PASSWORD_ITERATIONS takes: fewer would make a stolen table cheap to
// search (the library verifies hashes of as few as 1,000 rounds, which the tests make).
constexpr std::int64_t kMinConfiguredIterations = 100'000;

void App::configure(core::Env& env) {
  api_config_.jwt_secret = runtime::jwt_secret(env);
  api_config_.token_ttl = env.millis("LIA_JWT_TTL_MS", std::chrono::hours{12},
                                     std::chrono::minutes{1}, std::chrono::hours{24 * 30});
  admin_password_ = env.secret("LIA_ADMIN_PASSWORD", std::string());
  // A Secret made from a file (`openssl rand -hex 12 > file`) ends in a newline nobody types
  // at the login: it is not part of the password.
  while (!admin_password_.empty() &&
         (admin_password_.back() == '\n' || admin_password_.back() == '\r')) {
    admin_password_.pop_back();
  }
  if (!admin_password_.empty() && admin_password_.size() < 8) {
    env.problem("LIA_ADMIN_PASSWORD", "must be at least 8 characters long");
  } else if (admin_password_.size() > 256) {
    // The login takes at most 256 bytes: such an admin could never log in.
    env.problem("LIA_ADMIN_PASSWORD", "must be at most 256 bytes, as the login takes");
  }
  api_config_.password_iterations =
      static_cast<int>(env.integer("LIA_PASSWORD_ITERATIONS", auth::kPasswordIterations,
                                   kMinConfiguredIterations, auth::kMaxPasswordIterations));
  consumer_instances_ = static_cast<int>(env.integer("LIA_CONSUMER_INSTANCES", 2, 1, 16));
  pending_ttl_ = env.millis("LIA_PENDING_STATUS_TTL_MS", std::chrono::hours{72},
                            std::chrono::minutes{1}, std::chrono::hours{24 * 30});
  // ai_orchestration reads it too: how long after the campaign's message an answer goes to
  // cobranca.
  campaign_ttl_ = env.millis("LIA_CAMPAIGN_ANSWER_WINDOW_MS", std::chrono::hours{24 * 7},
                             std::chrono::minutes{1}, std::chrono::hours{24 * 90});
}

core::Status App::start(runtime::Context& ctx) {
  auto pool = ctx.pool();
  if (!pool) return core::Error(core::Errc::internal, "conversation needs its database");
  const std::string& schema = ctx.spec().schema;
  if (!admin_password_.empty()) {
    auto made = ensure_admin(*pool, schema, admin_password_, api_config_.password_iterations);
    if (!made) {
      return core::Error(made.error().code(),
                         "cannot create the admin user (did `lia-conversation --migrate` run?): " +
                             made.error().message());
    }
  }
  handlers_ = std::make_shared<Handlers>(pool, schema);
  api_ = std::make_unique<Api>(pool, schema, api_config_);
  api_->add_routes(ctx.router());
  // LIA_CONSUMER_INSTANCES consumers per topic, in a group per topic
  // (lia-conversation.<topic>): a slow topic never holds up another, a member joining or
  // leaving rebalances only its own topic, and the partitions of a topic are handled in
  // parallel. Order within a chat holds: one partition is consumed by one instance, in order.
  for (const auto& topic : consumed_topics()) {
    for (int i = 0; i < consumer_instances_; ++i) {
      auto h = handlers_;
      ctx.add_consumer({.topics = {topic},
                        .handler = [h](const kafka::Message& m) { return h->handle(m); },
                        .group = "lia-conversation." + topic,
                        // a chat's records arrive on several topics, one group each
                        .lock_keys = true});
    }
  }
  purger_.start();
  return {};
}

void App::stop() {
  purger_.stop();
}

void App::purge() {
  auto n = handlers_->purge_pending_statuses(
      std::chrono::duration_cast<std::chrono::seconds>(pending_ttl_));
  if (!n) {
    core::log().warn("pending status purge failed", {f::str("error", n.error().describe())});
  } else if (*n > 0) {
    core::log().info("pending statuses purged", {f::num("count", *n)});
  }
  auto campaign = handlers_->purge_campaign_messages(
      std::chrono::duration_cast<std::chrono::seconds>(campaign_ttl_));
  if (!campaign) {
    core::log().warn("campaign message purge failed",
                     {f::str("error", campaign.error().describe())});
  } else if (*campaign > 0) {
    core::log().info("campaign messages no answer came for purged", {f::num("count", *campaign)});
  }
  auto keys = api_->purge_idempotency_keys(kIdempotencyKeyTtl);
  if (!keys) {
    core::log().warn("idempotency key purge failed", {f::str("error", keys.error().describe())});
  } else if (*keys > 0) {
    core::log().info("idempotency keys purged", {f::num("count", *keys)});
  }
}

}  // namespace lia::conversation
