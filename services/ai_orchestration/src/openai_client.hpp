#pragma once
// The remote model: an OpenAI-compatible Chat Completions client with tools.
//
//   POST {base}/chat/completions   Authorization: Bearer {key}
//   {"model", "messages": [system prompt, recent history, the customer's message],
//    "tools": tool_definitions_json(assistant), "tool_choice": "auto"}
//
// The model is offered the assistant's tools (tool_offered): a call of another is refused
// unrun, its result telling the model the tool is not available. When the model calls tools
// they run through the ToolRunner and their results go back in a
// second call (at most max_tool_rounds rounds; the last call asks for text only). The whole
// exchange shares one deadline (timeout), so a slow server never holds a message longer.
// Every failure — transport, timeout, HTTP status, unreadable, empty or cut-off answer — is
// an error; the caller falls back to the local assistant. Errors never quote message bodies.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

#include "assistant.hpp"
#include "threads.hpp"
#include "tools.hpp"

namespace lia::http {
class Client;
}

namespace lia::ai_orchestration {

struct LlmSettings {
  std::string base_url;  // e.g. https://api.openai.com/v1 (no trailing slash)
  std::string api_key;
  std::string model = "gpt-4o-mini";
  std::chrono::milliseconds timeout{8000};  // the whole exchange, tool rounds included
  int max_tool_rounds = 2;
  double temperature = 0.3;
  // LIA_LLM_SEND_TEMPERATURE: false leaves `temperature` out of every request, for models that
  // refuse it (OpenAI's reasoning models answer 400 to any value but their own).
  bool send_temperature = true;
  // LIA_LLM_MAX_COMPLETION_TOKENS: sent as `max_completion_tokens` when above 0, so that a
  // model writing at length stops (and falls back, `finish_reason: length`) instead of using
  // up the timeout. 0 sends none: not every compatible server knows the field.
  int max_completion_tokens = 0;
};

struct RemoteRequest {
  Assistant assistant = Assistant::apresentacao;
  std::string system_prompt;  // the assistant's prompt (prompt_templates)
  std::optional<std::string> customer_name;
  std::string summary;                  // of the closed threads, may be empty
  std::vector<HistoryMessage> history;  // oldest first, without the current message
  std::string text;                     // the customer's message
  std::optional<double> temperature;    // the prompt's, else the settings'
  std::string today;                    // "YYYY-MM-DD" in São Paulo (empty: not said)
  bool first_message = false;           // the customer's first: LIA introduces herself
};

struct RemoteAnswer {
  std::string text;
  std::vector<ToolInvocation> tools;
  std::string model;  // as the server named it, else the configured model
  int calls = 0;      // HTTP calls made
};

class LlmClient {
 public:
  virtual ~LlmClient() = default;
  // On failure, *retry_after (when given) is how long the server asked to be left alone
  // (HTTP 429 or 503 with Retry-After in seconds), else 0.
  virtual core::Result<RemoteAnswer> complete(const RemoteRequest& request, ToolRunner& tools,
                                              std::chrono::milliseconds* retry_after = nullptr) = 0;
  virtual const std::string& model() const = 0;
};

// ---- the wire format (pure) ---------------------------------------------------------------

struct ToolCallRequest {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model wrote it
};

struct ChatReply {
  std::string content;  // may be empty when the model only calls tools
  std::vector<ToolCallRequest> tool_calls;
  std::string model;
};

// The first messages of a request: system (prompt + customer name + summary), the history as
// user/assistant turns, the customer's message; consecutive customer messages are merged into
// one user turn (newline-joined), so roles alternate. Each element is one message object as
// JSON.
std::vector<std::string> initial_messages(const RemoteRequest& request);

// The request body: the tools offered to `assistant`; tool_choice "auto" (or "none" when
// text_only); no temperature when nullopt; max_completion_tokens when above 0.
std::string chat_request_body(std::string_view model, const std::vector<std::string>& messages,
                              Assistant assistant, std::optional<double> temperature,
                              bool text_only, int max_completion_tokens = 0);

// Reads choices[0].message: content and tool_calls. choices[0].finish_reason "length" or
// "max_tokens" (text cut off) and "content_filter" are errors; any other ("stop", "tool_calls",
// TGI's "eos_token", Together's "eos") or none is an ending. A leading "<think>…</think>" is
// dropped from the content; a content that is a tool call written as text ("<tool_call>",
// "[TOOL_CALLS]", a bare {"name", "arguments"} object) is no text, and an error without real
// tool_calls. Errors (invalid_argument) say what is wrong with the answer, never what it says.
core::Result<ChatReply> parse_chat_response(std::string_view body);

// The assistant message that asked for the tools and one "tool" message per result, to send
// back in the next call.
std::string assistant_tool_call_message(const ChatReply& reply);
std::string tool_result_message(const ToolInvocation& result);

// ---- the client ---------------------------------------------------------------------------

class OpenAiClient final : public LlmClient {
 public:
  explicit OpenAiClient(LlmSettings settings, std::shared_ptr<http::Client> http = {});
  ~OpenAiClient() override;
  core::Result<RemoteAnswer> complete(const RemoteRequest& request, ToolRunner& tools,
                                      std::chrono::milliseconds* retry_after = nullptr) override;
  const std::string& model() const override { return settings_.model; }

 private:
  LlmSettings settings_;
  std::shared_ptr<http::Client> http_;
};

// After `threshold` failures in a row the remote model is skipped for `cooldown`. Then it is
// half-open: one call at a time tries it (a probe that has not reported within another
// cooldown is given up); a success closes it, a failure opens it again at once. A failure
// that carries a Retry-After (HTTP 429 or 503) keeps it open at least that long, capped at
// kMaxRetryAfter, even below the threshold. threshold 0 turns it off. Thread-safe.
class CircuitBreaker {
 public:
  static constexpr std::chrono::milliseconds kMaxRetryAfter{std::chrono::minutes{5}};

  CircuitBreaker(int threshold, std::chrono::milliseconds cooldown,
                 const core::Clock& clock = core::SystemClock::instance())
      : threshold_(threshold), cooldown_(cooldown), clock_(&clock) {}
  // Whether this call may try the remote; every call it allows must report its outcome.
  bool allow();
  void record_success();
  void record_failure(std::chrono::milliseconds retry_after = std::chrono::milliseconds{0});
  // A call that says nothing of the server's health (the request's own fault, the turn's
  // tools using up its time): counts neither way, but a half-open probe's slot is free
  // again, so the next call probes instead of everyone waiting out another cooldown.
  void record_neutral();

 private:
  int threshold_;
  std::chrono::milliseconds cooldown_;
  const core::Clock* clock_;
  std::mutex mu_;
  int failures_ = 0;
  bool tripped_ = false;  // open, or half-open once open_until_ has passed
  core::SysTime open_until_{};
  std::optional<core::SysTime> probe_;  // when the half-open probe went out
};

}  // namespace lia::ai_orchestration
