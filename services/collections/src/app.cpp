#include <lia/collections/app.hpp>
#include <lia/events/names.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::collections {

runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = kServiceName;
  s.default_port = 8084;
  s.schema = kDefaultSchema;
  s.migrations = migrations();
  s.outbox = true;
  return s;
}

void App::configure(core::Env& env) {
  settings_ = read_settings(env);
}

core::Status App::start(runtime::Context& ctx) {
  const std::string schema = ctx.spec().schema;
  api_ = std::make_unique<Api>(ctx.pool(), schema, settings_, clock_);
  api_->add_routes(ctx.router());
  handler_ = std::make_shared<NotificationHandler>(ctx.pool(), schema, clock_,
                                                   settings_.pause_after_failures);
  auto outcomes = handler_;
  auto replies = std::make_shared<ReplyHandler>(ctx.pool(), schema, clock_);
  auto ai_tools = std::make_shared<AiToolHandler>(ctx.pool(), schema, settings_.utc_offset, clock_);
  ctx.add_consumer({.topics = {std::string(events::topics::notification_events),
                               std::string(events::topics::conversation_events),
                               std::string(events::topics::ai_events)},
                    .handler =
                        [outcomes, replies, ai_tools](const kafka::Message& m) {
                          if (m.topic == events::topics::conversation_events) {
                            return replies->handle(m);
                          }
                          if (m.topic == events::topics::ai_events) return ai_tools->handle(m);
                          return outcomes->handle(m);
                        },
                    .group = kConsumerGroup});
  runtime::follow_desk_users(ctx, std::string(kConsumerGroup) + ".users");
  scheduler_ = std::make_unique<Scheduler>(ctx.pool(), schema, settings_, clock_);
  scheduler_->start();
  ctx.log().info(
      "collections started",
      {core::f::id("provider", settings_.provider), core::f::id("instance", settings_.instance),
       core::f::num("utc_offset_minutes", settings_.utc_offset.count())});
  return {};
}

void App::stop() {
  if (scheduler_) scheduler_->stop();
}

}  // namespace lia::collections
