#include <lia/core/text.hpp>
#include <lia/events/names.hpp>
#include <lia/nps_gamification/app.hpp>
#include <lia/nps_gamification/messages.hpp>
#include <lia/runtime/authorize.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::nps_gamification {

runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = kServiceName;
  s.default_port = 8083;
  s.schema = kDefaultSchema;
  s.migrations = migrations();
  s.outbox = true;
  return s;
}

Settings read_settings(core::Env& env) {
  Settings s;
  s.jwt_secret = runtime::jwt_secret(env);
  s.survey_text = env.string("LIA_NPS_SURVEY_TEXT", kDefaultSurveyText);
  if (core::trim(s.survey_text).empty()) {
    env.problem("LIA_NPS_SURVEY_TEXT", "is blank: unset it for the default survey text");
  }
  // The send command carries at most 4096 bytes of text.
  if (s.survey_text.size() > 4096) env.problem("LIA_NPS_SURVEY_TEXT", "must be at most 4096 bytes");
  s.survey_window = std::chrono::hours{env.integer("LIA_NPS_WINDOW_HOURS", 24, 1, 168)};
  s.reopen_window = std::chrono::hours{env.integer("LIA_NPS_REOPEN_WINDOW_HOURS", 72, 1, 2160)};
  // America/Sao_Paulo (no daylight saving time since 2019), as collections' hours.
  s.utc_offset = std::chrono::minutes{env.integer("LIA_NPS_UTC_OFFSET_MINUTES", -180, -720, 840)};
  return s;
}

void App::configure(core::Env& env) {
  settings_ = read_settings(env);
}

core::Status App::start(runtime::Context& ctx) {
  const std::string schema = ctx.spec().schema;
  api_ = std::make_unique<Api>(ctx.pool(), schema, settings_);
  api_->add_routes(ctx.router());
  handlers_ = std::make_shared<EventHandlers>(ctx.pool(), schema, settings_);
  auto handlers = handlers_;
  ctx.add_consumer({.topics = {std::string(events::topics::conversation_events),
                               std::string(events::topics::notification_events)},
                    .handler = [handlers](const kafka::Message& m) { return handlers->handle(m); },
                    .group = kConsumerGroup,
                    // A batch's survey locks follow its records' order; two pods' batches of
                    // the two topics could take them crosswise. Locking the records' chats
                    // first, sorted, makes them wait in turn (one chat, one conversation).
                    .lock_keys = true});
  runtime::follow_desk_users(ctx, std::string(kConsumerGroup) + ".users", {.gamification = true});
  ctx.log().info("nps_gamification started",
                 {core::f::num("survey_window_hours", settings_.survey_window.count()),
                  core::f::num("utc_offset_minutes", settings_.utc_offset.count())});
  return {};
}

}  // namespace lia::nps_gamification
