#include "app.hpp"

#include <algorithm>

#include <lia/core/log.hpp>
#include <lia/events/names.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/runtime/authorize.hpp>
#include <lia/runtime/desk_users.hpp>

#include "api.hpp"
#include "handler.hpp"
#include "orchestrator.hpp"
#include "store.hpp"

namespace lia::ai_orchestration {

namespace {

bool valid_model_name(std::string_view model) {
  return !model.empty() && model.size() <= 256 &&
         std::none_of(model.begin(), model.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

}  // namespace

Settings Settings::read(core::Env& env) {
  Settings s;
  s.provider = env.one_of("LIA_LLM_PROVIDER", "local", {"local", "openai"});
  s.llm.model = env.string("LIA_LLM_MODEL", "gpt-4o-mini");
  if (s.provider == "openai" && !valid_model_name(s.llm.model)) {
    // A Secret or ConfigMap made from a file keeps its newline: every request would name
    // no model the server knows, and every answer would be the local one.
    env.problem("LIA_LLM_MODEL",
                "must be a model name of 1 to 256 characters without spaces or control "
                "characters (a value from a file that ends in a newline?)");
  }
  s.llm.timeout = env.millis("LIA_LLM_TIMEOUT_MS", std::chrono::milliseconds{8000},
                             std::chrono::milliseconds{100}, std::chrono::milliseconds{120000});
  s.llm.max_tool_rounds = static_cast<int>(env.integer("LIA_LLM_MAX_TOOL_ROUNDS", 2, 0, 5));
  s.llm.send_temperature = env.boolean("LIA_LLM_SEND_TEMPERATURE", true);
  s.breaker_failures = static_cast<int>(env.integer("LIA_LLM_BREAKER_FAILURES", 5, 0, 1000));
  s.llm.max_completion_tokens =
      static_cast<int>(env.integer("LIA_LLM_MAX_COMPLETION_TOKENS", 0, 0, 128000));
  // At least a second: with 0 the breaker would open and close in the same instant, off in
  // all but name (LIA_LLM_BREAKER_FAILURES=0 is the way to turn it off).
  s.breaker_cooldown = env.millis("LIA_LLM_BREAKER_COOLDOWN_MS", std::chrono::milliseconds{30000},
                                  std::chrono::milliseconds{1000}, std::chrono::hours{1});
  if (s.provider == "openai") {
    // Without a fallback these are required: a missing one stops the start, named.
    s.llm.base_url = env.url("LIA_LLM_BASE_URL", std::nullopt);
    if (s.llm.base_url.ends_with("/chat/completions")) {
      env.problem("LIA_LLM_BASE_URL",
                  "must stop before /chat/completions, which is appended to it (e.g. "
                  "https://api.openai.com/v1)");
    }
    s.llm.api_key = env.credential("LIA_LLM_API_KEY");
  } else {
    s.llm.base_url = env.string("LIA_LLM_BASE_URL", "");
  }
  s.jwt_secret = runtime::jwt_secret(env, /*required=*/false);
  s.consumers = static_cast<int>(env.integer("LIA_AI_CONSUMERS", 2, 1, 12));
  s.thread_rotation =
      static_cast<int>(env.integer("LIA_AI_THREAD_ROTATION", kThreadRotation, 2, 10000));
  // A whole thread by default, as long as it is (at most 200).
  s.recent_messages = static_cast<int>(
      env.integer("LIA_AI_RECENT_MESSAGES", std::min(s.thread_rotation, 200), 2, 200));
  s.campaign_answer_window = env.millis("LIA_CAMPAIGN_ANSWER_WINDOW_MS", std::chrono::hours{24 * 7},
                                        std::chrono::minutes{1}, std::chrono::hours{24 * 90});
  return s;
}

runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = std::string(kServiceName);
  s.default_port = 8082;
  s.schema = "ai";
  s.schema_setting = "LIA_AI_SCHEMA";
  s.migrations = migrations();
  s.outbox = true;
  return s;
}

struct App::Wiring {
  std::shared_ptr<Handler> handler;
};

void App::configure(core::Env& env) {
  settings_ = Settings::read(env);
}

core::Status App::start(runtime::Context& ctx) {
  auto pool = ctx.pool();
  if (!pool) return core::Error(core::Errc::internal, "ai_orchestration needs its database");
  const std::string schema = ctx.spec().schema;

  auto prompts = std::make_shared<PgPrompts>(pool, schema);
  std::shared_ptr<LlmClient> remote;
  std::shared_ptr<CircuitBreaker> breaker;
  if (settings_.provider == "openai") {
    remote = std::make_shared<OpenAiClient>(settings_.llm);
    breaker =
        std::make_shared<CircuitBreaker>(settings_.breaker_failures, settings_.breaker_cooldown);
  }
  if (remote && settings_.recent_messages < settings_.thread_rotation) {
    // The summary made at a rotation reads the kept messages only: those of the thread
    // before them reach the model in neither.
    ctx.log().warn(
        "LIA_AI_RECENT_MESSAGES is below LIA_AI_THREAD_ROTATION: the model sees the last "
        "messages and the summary of the thread before, but not the messages of its own "
        "thread older than the kept ones",
        {core::f::num("recent_messages", settings_.recent_messages),
         core::f::num("thread_rotation", settings_.thread_rotation)});
  }
  auto orchestrator = std::make_shared<const Orchestrator>(remote, breaker, prompts);
  wiring_ = std::make_shared<Wiring>();
  wiring_->handler = std::make_shared<Handler>(
      pool, orchestrator,
      HandlerOptions{.schema = schema,
                     .recent_messages = settings_.recent_messages,
                     .thread_rotation = settings_.thread_rotation,
                     .campaign_answer_window = settings_.campaign_answer_window});

  auto handler = wiring_->handler;
  // With a remote model, one record may be handled several times in a row (a retryable
  // failure: the database, a version conflict), each with a model call of up to
  // LIA_LLM_TIMEOUT_MS: the group must not give its partitions away meanwhile.
  std::chrono::milliseconds max_handling{0};
  if (remote) {
    const kafka::ConsumerConfig retries;
    max_handling = retries.max_attempts * (settings_.llm.timeout + std::chrono::seconds{1}) +
                   (retries.max_attempts - 1) * retries.max_backoff;
  }
  for (int i = 0; i < settings_.consumers; ++i) {
    // A remote model answers in seconds: records then keep transactions of their own rather
    // than hold a shared one open across the HTTP calls.
    ctx.add_consumer({.topics = {std::string(events::topics::conversation_events),
                                 std::string(events::topics::collections_events)},
                      .handler = [handler](const kafka::Message& m) { return handler->handle(m); },
                      .group = std::string(kConsumerGroup),
                      .batch = remote == nullptr,
                      .max_handling = max_handling});
  }
  ctx.add_consumer({{std::string(events::topics::contacts)},
                    [handler](const kafka::Message& m) { return handler->handle_contact(m); },
                    std::string(kContactsGroup)});

  auto users = runtime::follow_desk_users(ctx, std::string(kConsumerGroup) + ".users");
  add_api_routes(ctx.router(), {pool, schema, settings_.jwt_secret, prompts, users});
  if (settings_.jwt_secret.empty()) {
    core::log().warn("LIA_JWT_SECRET is not set: /api/ai answers 503");
  }
  core::log().info("ai orchestration wired",
                   {core::f::id("provider", settings_.provider),
                    core::f::id("model", settings_.provider == "openai" ? settings_.llm.model
                                                                        : std::string(kLocalModel)),
                    core::f::num("consumers", settings_.consumers),
                    core::f::num("timeout_ms", settings_.llm.timeout.count())});
  return core::ok();
}

}  // namespace lia::ai_orchestration
