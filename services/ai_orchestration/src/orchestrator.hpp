#pragma once
// Who writes the answer to one customer message. The local plan (analysis, routing,
// handoff) always decides; the text comes from the remote model when one is configured
// and its circuit is closed, else — and whenever the remote call fails — from the local
// assistant (fallback = true). No database here: the handler gives the context and tools.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "local_assistant.hpp"
#include "openai_client.hpp"
#include "threads.hpp"

namespace lia::ai_orchestration {

struct Prompt {
  std::string content;
  std::string instructions;
  std::optional<int> temperature;  // 0..100
};

class PromptSource {
 public:
  virtual ~PromptSource() = default;
  // The active prompt of the assistant; nullopt when none (a built-in one is used).
  virtual std::optional<Prompt> prompt(Assistant assistant) = 0;
};

struct TurnContext {
  std::string summary;                  // of the closed threads
  std::vector<HistoryMessage> history;  // oldest first, without the current message
};

struct Outcome {
  Plan plan;
  std::string text;
  std::string model;
  bool fallback = false;
  std::vector<ToolInvocation> tools;
  std::optional<HandoffPlan> handoff;  // the plan's, or the remote model's transfer_to_human
  std::int64_t latency_ms = 0;
  std::string remote_error;   // why the remote model was not used, when it failed
  bool circuit_open = false;  // not tried: the breaker is open (its opening is logged once)
};

class Orchestrator {
 public:
  // remote and breaker may be null (the local assistant only); prompts may be null.
  Orchestrator(std::shared_ptr<LlmClient> remote, std::shared_ptr<CircuitBreaker> breaker,
               std::shared_ptr<PromptSource> prompts);

  Outcome answer(const Turn& turn, const TurnContext& context, ToolRunner& tools) const;
  bool remote_enabled() const { return remote_ != nullptr; }

 private:
  std::shared_ptr<LlmClient> remote_;
  std::shared_ptr<CircuitBreaker> breaker_;
  std::shared_ptr<PromptSource> prompts_;
};

}  // namespace lia::ai_orchestration
