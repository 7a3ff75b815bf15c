#include <lia/core/log.hpp>
#include <lia/events/names.hpp>
#include <lia/notification/app.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::notification {
runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = "notification";
  s.default_port = 8085;
  s.schema = "notification";
  s.schema_setting = "LIA_NOTIFY_SCHEMA";
  s.migrations = migrations();
  s.outbox = true;
  return s;
}

void App::configure(core::Env& env) {
  settings_ = Settings::read(env);
}

core::Status App::start(runtime::Context& ctx) {
  const std::string& schema = ctx.spec().schema;
  // At a stop, a request already with the provider is let finish and its outcome written
  // (with the database retries, about 8 s, and their last try, up to a connection's 5 s
  // timeout): past the grace period the process is ended first, and the send is reported
  // outcome_unknown, as after a crash.
  const auto grace = ctx.config().shutdown_grace;
  if (settings_.http_timeout + std::chrono::seconds{13} > grace) {
    core::log().warn(
        "LIA_NOTIFY_HTTP_TIMEOUT_MS and 13 s pass LIA_SHUTDOWN_GRACE_MS: a send with the "
        "provider when the service stops may be cut short and reported outcome_unknown; raise "
        "the grace period (and the pod's terminationGracePeriodSeconds) or lower the timeout",
        {core::f::num("http_timeout_ms", settings_.http_timeout.count()),
         core::f::num("shutdown_grace_ms", grace.count())});
  }
  auto store = std::make_shared<OutboundStore>(ctx.pool(), schema);
  http::ClientOptions co;
  co.max_idle_per_host = static_cast<std::size_t>(std::max(8, settings_.consumers * 2));
  // Under the 5 s a Node server (Evolution API) keeps an idle connection: past it, a send
  // written on a connection the server is closing fails with its outcome unknown, and is
  // dead-lettered rather than sent twice.
  co.idle_timeout = std::chrono::milliseconds{4000};
  auto client = std::make_shared<http::Client>(co);
  auto limiter = std::make_shared<RateLimiter>(settings_.rate_per_number);
  auto dead_letter = std::make_shared<kafka::DeadLetter>(ctx.producer());
  const auto options = SenderOptions::from(settings_);
  commands_ = std::make_shared<CommandHandler>(store, client, limiter, dead_letter, options);
  statuses_ = std::make_shared<StatusHandler>(store, options);
  echoes_ = std::make_shared<EchoHandler>(store, options);

  // The desk's users as conversation publishes them: a deactivated or demoted user's token
  // stops reading sends at once.
  auto users = runtime::follow_desk_users(ctx, "lia-" + ctx.spec().name + ".users");
  add_routes(ctx.router(), store, settings_.jwt_secret, users);

  // Several consumers in one group: partitions are sent in parallel, each in order.
  for (int i = 0; i < settings_.consumers; ++i) {
    ctx.add_consumer(
        {.topics = {settings_.commands_topic},
         .handler = [h = commands_](const kafka::Message& m) { return h->handle(m); },
         // Each command is an HTTP call to the provider: it commits on its own, right after.
         .batch = false,
         .max_handling = settings_.longest_command()});
  }
  ctx.add_consumer({.topics = {settings_.status_topic},
                    .handler = [h = statuses_](const kafka::Message& m) { return h->handle(m); },
                    .group = "lia-" + ctx.spec().name + "-status"});
  // Evolution's echoes of sends whose answer never came. Every other record (nearly all:
  // customers' messages) is skipped unread; one that is not a valid event is conversation's
  // to dead-letter, not this group's.
  if (settings_.echoes) {
    ctx.add_consumer({.topics = {settings_.inbound_topic},
                      .handler = [h = echoes_](const kafka::Message& m) { return h->handle(m); },
                      .group = "lia-" + ctx.spec().name + "-echoes",
                      .dead_letter = false,
                      .batch = false,
                      // An echo is needed within the seconds of a send's timeout, not at once.
                      .relaxed_fetch = std::chrono::milliseconds{500}});
  }
  retention_ = std::make_unique<Retention>(store, core::SystemClock::instance(),
                                           RetentionOptions{.keep = settings_.retention});
  retention_->start();
  if (settings_.meta_access_token.empty()) {
    ctx.log().warn("LIA_META_ACCESS_TOKEN is not set: Meta commands will fail");
  }
  if (settings_.evolution_apikey.empty()) {
    ctx.log().warn("LIA_EVOLUTION_APIKEY is not set: Evolution commands will fail");
  }
  ctx.log().info("notification wired", {core::f::id("schema", schema),
                                        core::f::id("commands_topic", settings_.commands_topic),
                                        core::f::id("events_topic", settings_.events_topic),
                                        core::f::num("consumers", settings_.consumers)});
  return core::ok();
}

void App::stopping() {
  if (commands_) commands_->stop();
}

void App::stop() {
  if (retention_) retention_->stop();
}

}  // namespace lia::notification
