#include "ai_events.hpp"

#include <catch2/catch.hpp>

#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>

using namespace lia::ai_orchestration;
namespace types = lia::events::types;

namespace {

ChatRef chat() {
  return {"0190e0a4-7b2c-7def-8123-0123456789ab", "0190e0a4-7b2c-7def-8123-00000000c0de", "meta",
          "106540352242922", "5511987654321"};
}

void require_valid(std::string_view type, const std::string& data) {
  INFO(data);
  auto st = lia::events::SchemaRegistry::instance().validate(type, 1, data);
  INFO((st.ok() ? std::string("valid") : st.error().message()));
  REQUIRE(st.ok());
}

}  // namespace

TEST_CASE("every event of a local turn matches its schema") {
  Turn turn;
  turn.message_id = "0190e0a4-8000-7abc-9def-000000000001";
  turn.text = "vou denunciar voces no PROCON, cep 01310-100!!!";
  turn.first_message = true;
  BuiltinTools tools(nullptr, {turn.message_id});
  const Plan plan = plan_turn(turn);
  const Answer answer = local_answer(turn, plan, tools);
  REQUIRE(plan.handoff);
  REQUIRE(plan.changed());
  REQUIRE(answer.tools.size() == 2);  // register_complaint, transfer_to_human

  ReplyData reply;
  reply.reply_id = "0190e0a4-8000-7abc-9def-000000000002";
  reply.in_reply_to = turn.message_id;
  reply.assistant = plan.assistant;
  reply.text = answer.text;
  reply.model = std::string(kLocalModel);
  reply.thread_id = "0190e0a4-8000-7abc-9def-000000000003";
  reply.latency_ms = 3;
  require_valid(types::ai_reply_generated, reply_generated_data(chat(), reply));
  require_valid(types::ai_analysis_completed,
                analysis_completed_data(chat(), turn.message_id, plan.analysis));
  require_valid(types::ai_assistant_changed,
                assistant_changed_data(chat(), turn.message_id, plan.from, plan.assistant,
                                       plan.change_reason));
  require_valid(types::ai_handoff_requested,
                handoff_requested_data(chat(), turn.message_id, plan.assistant, *plan.handoff));
  for (const auto& t : answer.tools)
    require_valid(types::ai_tool_invoked, tool_invoked_data(chat(), plan.assistant, t));
}

TEST_CASE("reply.generated carries the delivery, the model and the fallback flag") {
  ReplyData reply;
  reply.reply_id = "0190e0a4-8000-7abc-9def-000000000002";
  reply.in_reply_to = "0190e0a4-8000-7abc-9def-000000000001";
  reply.assistant = Assistant::financeiro;
  reply.text = "Olá";
  reply.delivery = "suggest";
  reply.model = "gpt-4o-mini";
  reply.fallback = true;
  const auto data = reply_generated_data(chat(), reply);
  require_valid(types::ai_reply_generated, data);
  CHECK(data.find(R"("delivery":"suggest")") != std::string::npos);
  CHECK(data.find(R"("fallback":true)") != std::string::npos);
  CHECK(data.find(R"("model":"gpt-4o-mini")") != std::string::npos);
  CHECK(data.find("thread_id") == std::string::npos);  // optional and unset
}

TEST_CASE("event builders keep within the schema's limits") {
  ReplyData reply;
  reply.reply_id = "0190e0a4-8000-7abc-9def-000000000002";
  reply.in_reply_to = "0190e0a4-8000-7abc-9def-000000000001";
  reply.text = std::string(10000, 'a');
  reply.model = std::string(500, 'm');
  require_valid(types::ai_reply_generated, reply_generated_data(chat(), reply));
  reply.text.clear();  // never an empty text
  require_valid(types::ai_reply_generated, reply_generated_data(chat(), reply));

  HandoffPlan h;
  h.summary = std::string(20000, 's');
  require_valid(types::ai_handoff_requested,
                handoff_requested_data(chat(), reply.in_reply_to, Assistant::suporte, h));

  ToolInvocation failed;
  failed.tool = Tool::check_coverage;
  failed.ok = false;
  require_valid(types::ai_tool_invoked, tool_invoked_data(chat(), Assistant::comercial, failed));
}

TEST_CASE("urgency maps onto the events' scale") {
  CHECK(event_urgency(Urgency::normal) == "medium");
  CHECK(event_urgency(Urgency::high) == "high");
  CHECK(event_urgency(Urgency::urgent) == "critical");
  for (Assistant a : kAssistants) CHECK(parse_assistant(to_string(a)) == a);
  CHECK(department_of(Assistant::suporte) == "support");
  CHECK(department_of(Assistant::comercial) == "commercial");
  CHECK(department_of(Assistant::financeiro) == "financial");
  CHECK(department_of(Assistant::cancelamento) == "cancellation");
  CHECK(department_of(Assistant::ouvidoria) == "general");
  CHECK(department_of(Assistant::apresentacao) == "general");
}
