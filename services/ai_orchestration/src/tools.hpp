#pragma once
// The assistants' tools as functions: their JSON-schema definitions (what the remote model
// is offered) and their built-in implementations. The business effect of a lead, complaint
// or payment promise belongs to conversation, which records it from ai.tool.invoked; here a
// tool checks its arguments and answers.
//
//   BuiltinTools tools(&outages, {.message_id = id});
//   ToolInvocation r = tools.run("check_coverage", R"({"cep":"01310-100"})", "call_1");
//   r.ok; r.result_json == {"cep":"01310100","covered":true,...}

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

#include "assistant.hpp"

namespace lia::ai_orchestration {

enum class Tool {
  transfer_to_human,
  check_coverage,
  lookup_outage,
  register_lead,
  register_complaint,
  register_payment_promise,
  register_opt_out,
};
std::string_view to_string(Tool t) noexcept;
std::optional<Tool> parse_tool(std::string_view name) noexcept;

// The Chat Completions "tools" array: one {"type":"function","function":{name, description,
// parameters}} per tool, parameters as JSON Schema.
const std::string& tool_definitions_json();

// Whether the remote model is offered `tool` as `assistant`: every tool, but
// register_payment_promise and register_opt_out only in financeiro and cobranca (a promise
// pauses collections, an opt-out ends them: no other assistant's conversation is about
// paying). A call of a tool not offered is refused unrun.
bool tool_offered(Tool tool, Assistant assistant) noexcept;
// The tools array of the tools offered to `assistant`.
const std::string& tool_definitions_json(Assistant assistant);

// One call of a tool and what came of it (the data of ai.tool.invoked).
struct ToolInvocation {
  Tool tool = Tool::transfer_to_human;
  // false: the model named a tool that does not exist. It is answered with the error, and
  // not reported (lia.ai.tool.invoked names real tools); `tool` then means nothing.
  bool known = true;
  std::string call_id;
  std::string arguments_json = "{}";  // always a JSON object
  bool ok = false;
  std::string result_json;  // a JSON object when ok
  std::string error;        // why not, when !ok
};

// A covered region of the built-in coverage table.
struct CoverageArea {
  std::string_view prefix;  // leading digits of the CEP
  std::string_view city;
  std::string_view technology;
  int max_mbps;
};
// The area covering a CEP (8 digits), if any.
std::optional<CoverageArea> coverage_for(std::string_view cep);
// "01310-100" for "01310100".
std::string format_cep(std::string_view cep);
// The CEP's 8 digits from "01310-100", "01.310-100" or "01310100"; nullopt otherwise.
std::optional<std::string> normalize_cep(std::string_view text);

struct Outage {
  std::string id;
  std::string cep_prefix;
  std::string region;
  std::string description;
  std::optional<std::string> eta;  // RFC 3339
};

// Open outages (the service's outages table; tests use a fake).
class OutageSource {
 public:
  virtual ~OutageSource() = default;
  // The open outage whose prefix covers the CEP (the longest prefix wins), if any.
  virtual core::Result<std::optional<Outage>> find(std::string_view cep) = 0;
};

class ToolRunner {
 public:
  virtual ~ToolRunner() = default;
  // Runs the tool `name` with the model's arguments (JSON text). Never throws; failures are
  // invocations with ok = false and the reason (an unknown tool name: known = false).
  virtual ToolInvocation run(std::string_view name, std::string_view arguments_json,
                             std::string call_id) = 0;
  // The answer that ran the tools so far was dropped (a remote model's failed turn): what
  // they registered was never published, so later calls start from the conversation's own.
  virtual void forget_turn() {}
};

struct ToolContext {
  std::string message_id;  // the customer's stored message: protocols derive from it
  // What this conversation registered before (the read model's `registrations`): tool name ->
  // its protocol (register_lead, register_complaint) or "day:N" / "date:YYYY-MM-DD"
  // (register_payment_promise). The same registration again is not made twice: its result
  // says `already_registered` with the first protocol.
  std::map<std::string, std::string> registered;
  std::string today;  // the customer's day, "YYYY-MM-DD" (empty: not known)
};

class BuiltinTools final : public ToolRunner {
 public:
  // `outages` may be null: lookup_outage then finds none.
  BuiltinTools(OutageSource* outages, ToolContext context)
      : outages_(outages), context_(std::move(context)) {}
  ToolInvocation run(std::string_view name, std::string_view arguments_json,
                     std::string call_id) override;

  // The first retryable error of the outage source (its database down), if any: the answer
  // then lacks what the customer asked for, so the caller drops it and retries the message.
  const std::optional<core::Error>& unavailable() const { return unavailable_; }
  void forget_turn() override { made_.clear(); }
  // What this turn registered (not what was registered before), as a JSON object of the
  // read model's `registrations` shape; "" when nothing.
  std::string registrations_json() const;

 private:
  // The registration of `tool` made before (this turn's first, then the conversation's).
  const std::string* registered(Tool tool) const;

  OutageSource* outages_;
  ToolContext context_;
  std::map<std::string, std::string> made_;  // registrations made by this runner
  std::optional<core::Error> unavailable_;
};

// A protocol number derived from the message id: "OUV-9F3A1C2B4D5E", its last 12 hex digits
// (48 random bits of a UUIDv7: a 0.2 % chance of two customers' protocols alike at a million
// complaints, where 8 digits gave 1 % at ten thousand). A redelivery gets the same.
inline constexpr std::size_t kProtocolDigits = 12;
std::string protocol_for(std::string_view prefix, std::string_view message_id);

// The most a tool call's arguments may hold (its JSON text): a call past it fails unrun.
inline constexpr std::size_t kMaxToolArguments = std::size_t{16} * 1024;

}  // namespace lia::ai_orchestration
