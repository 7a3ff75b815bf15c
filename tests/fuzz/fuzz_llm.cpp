// What an OpenAI-compatible server answers, and the tool arguments its model writes: neither
// is ours, and a misbehaving model or proxy may send anything.
// Input: one byte choosing a tool, then the text, used both as a whole Chat Completions
// response body and as one tool call's arguments.
// Properties:
//   - parse_chat_response() gives a reply or refuses with invalid_argument;
//   - a tool run never throws, reports its arguments as a JSON object and, when it worked,
//     its result as one; its ai.tool.invoked event matches the schema.

#include <array>

#include <lia/events/names.hpp>
#include <lia/json/json.hpp>

#include "ai_events.hpp"
#include "events_check.hpp"
#include "openai_client.hpp"
#include "tools.hpp"

namespace {

using lia::fuzz::require;
namespace ai = lia::ai_orchestration;

constexpr std::array<std::string_view, 8> kToolNames = {
    "transfer_to_human",  "check_coverage",           "lookup_outage",    "register_lead",
    "register_complaint", "register_payment_promise", "register_opt_out", "no_such_tool"};

bool json_object(std::string_view text) {
  auto doc = lia::json::parse(text);
  return doc.ok() && doc->IsObject();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;

  auto reply = ai::parse_chat_response(input);
  if (!reply) {
    require(reply.error().code() == lia::core::Errc::invalid_argument,
            "a refused answer is invalid_argument", reply.error().describe());
  }

  ai::BuiltinTools tools(nullptr, {"0190e0a4-8000-7abc-9def-000000000001"});
  const ai::ToolInvocation t = tools.run(kToolNames[pick % kToolNames.size()], input, "call_1");
  require(json_object(t.arguments_json), "a tool's arguments are a JSON object", t.arguments_json);
  if (t.ok) {
    require(json_object(t.result_json), "a tool's result is a JSON object", t.result_json);
  } else {
    require(!t.error.empty(), "a failed tool says why");
  }
  const ai::ChatRef chat{"0190e0a4-7b2c-7def-8123-0123456789ab",
                         "0190e0a4-7b2c-7def-8123-00000000c0de", "meta", "106540352242922",
                         "5511987654321"};
  lia::fuzz::require_valid_event(lia::events::types::ai_tool_invoked,
                                 ai::tool_invoked_data(chat, ai::Assistant::suporte, t),
                                 "ai.tool.invoked matches its schema");
  return 0;
}
