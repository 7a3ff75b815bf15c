#pragma once
// lia-ai-orchestration: the service on lia::runtime (port 8082, schema "ai", outbox on).

#include <chrono>
#include <memory>
#include <string>

#include <lia/core/config.hpp>
#include <lia/runtime/runtime.hpp>

#include "openai_client.hpp"

namespace lia::ai_orchestration {

std::vector<pg::Migration> migrations();  // embedded from migrations/ by the build

inline constexpr std::string_view kConsumerGroup = "lia-ai-orchestration";
inline constexpr std::string_view kContactsGroup = "lia-ai-orchestration-contacts";

struct Settings {
  std::string provider = "local";  // LIA_LLM_PROVIDER: local | openai
  LlmSettings llm;  // LIA_LLM_BASE_URL, LIA_LLM_API_KEY, LIA_LLM_MODEL, LIA_LLM_TIMEOUT_MS,
                    // LIA_LLM_MAX_TOOL_ROUNDS
  int breaker_failures = 5;  // LIA_LLM_BREAKER_FAILURES (0: no circuit breaker)
  std::chrono::milliseconds breaker_cooldown{30000};  // LIA_LLM_BREAKER_COOLDOWN_MS
  std::string jwt_secret;                             // LIA_JWT_SECRET (empty: /api/ai answers 503)
  int consumers = 2;         // LIA_AI_CONSUMERS: consumers of conversation.events.v1
  int recent_messages = 55;  // LIA_AI_RECENT_MESSAGES: a whole thread
  int thread_rotation = 55;  // LIA_AI_THREAD_ROTATION
  // LIA_CAMPAIGN_ANSWER_WINDOW_MS: how long after a campaign's message an answer goes to
  // cobranca (conversation keeps the message as long, for the conversation it opens).
  std::chrono::milliseconds campaign_answer_window{std::chrono::hours{24 * 7}};

  // Reads and checks every setting; problems are collected in `env` (reported at start).
  static Settings read(core::Env& env);
};

runtime::ServiceSpec spec();

class App final : public runtime::App {
 public:
  void configure(core::Env& env) override;
  core::Status start(runtime::Context& ctx) override;

  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  struct Wiring;
  std::shared_ptr<Wiring> wiring_;
};

}  // namespace lia::ai_orchestration
