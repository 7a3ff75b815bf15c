#pragma once
// The built-in Portuguese assistant: deterministic, no network, the default model and the
// fallback of the remote one. Two steps:
//
//   plan_turn(turn)            analysis, routing (apresentacao -> suporte, ...), handoff
//   local_answer(turn, plan)   the reply text and the tools it ran
//
// The remote model reuses plan_turn() (routing and handoff stay deterministic) and writes
// its own text; when it fails, local_answer() answers instead.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis.hpp"
#include "assistant.hpp"
#include "tools.hpp"

namespace lia::ai_orchestration {

inline constexpr std::string_view kLocalModel = "local-pt-br";

struct Turn {
  Assistant current = Assistant::apresentacao;  // the conversation's assistant before this turn
  std::string message_id;                       // the stored customer message
  std::string text;                             // its text (or media caption), may be empty
  std::string kind = "text";                    // message kind: text, audio, image, ...
  bool first_message = false;                   // no earlier customer message in this conversation
  int customer_turn = 0;  // earlier customer messages (varies the canned answers)
  int prior_negative_streak = 0;
  std::optional<std::string> customer_name;  // first name, when known
  // false when the reply is only a suggestion to an agent (hybrid): then nothing is handed
  // off nor registered (no ai.tool.invoked is published for a suggestion), and a lead,
  // complaint or payment promise is worded as an offer, without a protocol.
  bool may_handoff = true;
  // The customer's day in São Paulo, "YYYY-MM-DD" (empty: not known): what "today" is to a
  // remote model, and the earliest date a payment promise may name.
  std::string today;
  // Whether the chat is a phone number (not an @lid chat nor a group): what collections keeps
  // an opt-out by, so only then is one registered.
  bool phone_chat = true;
  // A collection campaign messaged this chat in the last week, and the conversation is new or
  // reopened (apresentacao's): its answer goes to cobranca unless it names another subject.
  bool campaign = false;
};

struct HandoffPlan {
  std::string reason;
  std::string department;  // support, commercial, financial, cancellation, general
  Urgency urgency = Urgency::normal;
  std::string summary;  // what the agent needs to know
};

struct Plan {
  Analysis analysis;
  Assistant from = Assistant::apresentacao;
  Assistant assistant = Assistant::apresentacao;  // who answers this turn
  std::string change_reason;                      // set when assistant != from
  std::optional<HandoffPlan> handoff;
  bool greet = false;  // the reply opens with the LIA greeting
  bool changed() const { return assistant != from; }
};

Plan plan_turn(const Turn& turn);

struct Answer {
  std::string text;
  std::vector<ToolInvocation> tools;
};

// The local reply to a planned turn (a transfer notice when the plan hands off).
Answer local_answer(const Turn& turn, const Plan& plan, ToolRunner& tools);

// "Maria" from "maria souza", "MARIA", "Maria 🌸"; nullopt when the name has no usable word.
std::optional<std::string> first_name(std::string_view full_name);

// `text` if it fits in `max_bytes`; else its start, cut between characters, and "…",
// together at most `max_bytes`.
std::string ellipsize_utf8(std::string_view text, std::size_t max_bytes);
// The same, for a text kept to be quoted later (to a remote model, whose documents are hidden
// then): a word with digits the cut would split goes whole, and so do the groups of digits
// written before it, so that no CPF or CNPJ is left cut in half, no longer reading as one, and
// sent as written.
std::string ellipsize_whole_words(std::string_view text, std::size_t max_bytes);

}  // namespace lia::ai_orchestration
