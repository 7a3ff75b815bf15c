// Customer text, as WhatsApp delivers it (any bytes: emoji, other scripts, broken UTF-8),
// through the built-in assistant.
// Properties:
//   - folding gives valid UTF-8 and is idempotent (folding folded text changes nothing);
//   - every turn gets a non-empty reply in valid UTF-8;
//   - every event the turn produces (analysis, reply, assistant change, handoff, tools) matches
//     its JSON Schema: no customer text can make ai_orchestration publish an invalid event;
//   - ellipsize_utf8, utf8_prefix and utf8_suffix keep valid UTF-8 valid and within the limit.

#include <lia/core/text.hpp>
#include <lia/domain/text.hpp>
#include <lia/events/names.hpp>

#include "ai_events.hpp"
#include "events_check.hpp"
#include "local_assistant.hpp"

namespace {

using lia::fuzz::require;
using lia::fuzz::valid_utf8;
namespace ai = lia::ai_orchestration;
namespace types = lia::events::types;

void require_valid(std::string_view type, const std::string& data) {
  lia::fuzz::require_valid_event(type, data, "every event of a turn matches its schema");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte: which assistant answers, and where in the conversation we are.
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;

  const std::string folded = lia::domain::fold(input);
  require(valid_utf8(folded), "fold gives valid UTF-8");
  require(lia::domain::fold(folded) == folded, "fold is idempotent");
  for (auto w : lia::domain::words(folded)) require(!w.empty(), "words are not empty");

  ai::Turn turn;
  turn.current = ai::kAssistants[pick % ai::kAssistants.size()];
  turn.message_id = "0190e0a4-8000-7abc-9def-000000000001";
  turn.text = std::string(input);
  turn.first_message = (pick & 0x08) != 0;
  turn.customer_turn = (pick >> 4) & 0x03;
  turn.prior_negative_streak = (pick >> 6) & 0x03;
  if ((pick & 0x40) != 0) turn.customer_name = "Ana";
  turn.may_handoff = (pick & 0x80) == 0;
  ai::BuiltinTools tools(nullptr, {turn.message_id});
  const ai::Plan plan = ai::plan_turn(turn);
  const ai::Answer answer = ai::local_answer(turn, plan, tools);
  require(!answer.text.empty(), "every turn gets a reply");
  require(valid_utf8(answer.text), "the reply is valid UTF-8");

  const ai::ChatRef chat{"0190e0a4-7b2c-7def-8123-0123456789ab",
                         "0190e0a4-7b2c-7def-8123-00000000c0de", "meta", "106540352242922",
                         "5511987654321"};
  ai::ReplyData reply;
  reply.reply_id = "0190e0a4-8000-7abc-9def-000000000002";
  reply.in_reply_to = turn.message_id;
  reply.assistant = plan.assistant;
  reply.text = answer.text;
  reply.model = std::string(ai::kLocalModel);
  reply.thread_id = "0190e0a4-8000-7abc-9def-000000000003";
  require_valid(types::ai_reply_generated, ai::reply_generated_data(chat, reply));
  require_valid(types::ai_analysis_completed,
                ai::analysis_completed_data(chat, turn.message_id, plan.analysis));
  if (plan.changed()) {
    require_valid(types::ai_assistant_changed,
                  ai::assistant_changed_data(chat, turn.message_id, plan.from, plan.assistant,
                                             plan.change_reason));
  }
  if (plan.handoff) {
    require_valid(types::ai_handoff_requested,
                  ai::handoff_requested_data(chat, turn.message_id, plan.assistant, *plan.handoff));
  }
  for (const auto& t : answer.tools) {
    require_valid(types::ai_tool_invoked, ai::tool_invoked_data(chat, plan.assistant, t));
  }

  if (valid_utf8(input)) {
    const std::size_t limit = pick;
    const std::string cut = ai::ellipsize_utf8(input, limit);
    require(cut.size() <= limit, "ellipsize_utf8 keeps within the limit");
    require(valid_utf8(cut), "ellipsize_utf8 keeps valid UTF-8 valid");
    const auto head = lia::core::utf8_prefix(input, limit);
    const auto tail = lia::core::utf8_suffix(input, limit);
    require(head.size() <= limit && tail.size() <= limit,
            "utf8_prefix/suffix keep within the limit");
    require(valid_utf8(head) && valid_utf8(tail), "utf8_prefix/suffix keep valid UTF-8 valid");
    require(input.size() <= limit || head.size() + 3 >= limit,
            "utf8_prefix cuts at most a character");
    require(input.size() <= limit || tail.size() + 3 >= limit,
            "utf8_suffix cuts at most a character");
  }
  return 0;
}
