#include "orchestrator.hpp"

#include <algorithm>
#include <array>

#include <lia/domain/text.hpp>
#include <lia/json/json.hpp>

namespace lia::ai_orchestration {
namespace {

// `text` without its opening greeting ("Olá, Maria! Como posso ajudar?" -> "Como posso
// ajudar?"): a first sentence, ended by '!' or '.', that is only a greeting and the customer's
// name. Unchanged otherwise ("Olá, Maria, não há falha…" keeps its news), or when nothing
// would be left.
std::string without_greeting(const std::string& text, const std::optional<std::string>& name) {
  static constexpr std::array<std::string_view, 6> kGreetings = {
      "ola", "oi", "bom dia", "boa tarde", "boa noite", "seja bem-vindo"};
  const auto end = text.find_first_of("!.");
  if (end == std::string::npos || end > 80) return text;
  const std::string sentence = domain::fold(std::string_view(text).substr(0, end));
  const std::string folded_name = name ? domain::fold(*name) : std::string();
  const bool greeting = std::any_of(kGreetings.begin(), kGreetings.end(), [&](std::string_view g) {
    if (sentence == g) return true;
    if (folded_name.empty() || !sentence.starts_with(g)) return false;
    const std::string_view rest = std::string_view(sentence).substr(g.size());
    return rest == ", " + folded_name || rest == " " + folded_name;
  });
  if (!greeting) return text;
  const auto rest = text.find_first_not_of(" \t\n", end + 1);
  if (rest == std::string::npos) return text;
  return text.substr(rest);
}

// Whether the model's first answer introduces LIA itself, however it spells her ("Sou a Lia",
// "a LIA aqui"). A customer called Lia is greeted by name, not introduced: then only
// "sou a lia" or "aqui e a lia" counts.
bool names_lia(const std::string& text, const std::optional<std::string>& customer_name) {
  const std::string folded = domain::fold(text);
  if (domain::contains_phrase(folded, "sou a lia") || domain::contains_phrase(folded, "sou lia") ||
      domain::contains_phrase(folded, "aqui e a lia")) {
    return true;
  }
  if (!domain::contains_word(folded, "lia")) return false;
  return !customer_name || !domain::contains_word(domain::fold(*customer_name), "lia");
}

// The handoff a successful transfer_to_human call of the remote model asks for.
std::optional<HandoffPlan> handoff_from_tools(const std::vector<ToolInvocation>& tools,
                                              const Plan& plan) {
  for (const auto& t : tools) {
    if (t.tool != Tool::transfer_to_human || !t.ok) continue;
    HandoffPlan h;
    h.department = std::string(department_of(plan.assistant));
    h.reason = "o assistente transferiu a conversa";
    h.urgency = plan.analysis.urgency;
    if (auto result = json::parse(t.result_json); result && result->IsObject()) {
      if (result->HasMember("department") && (*result)["department"].IsString()) {
        h.department = std::string(json::view((*result)["department"]));
      }
    }
    if (auto args = json::parse(t.arguments_json); args && args->IsObject()) {
      if (args->HasMember("reason") && (*args)["reason"].IsString() &&
          (*args)["reason"].GetStringLength() > 0) {
        h.reason = ellipsize_utf8(json::view((*args)["reason"]), 2000);
      }
    }
    h.summary = "Assistente: " + std::string(to_string(plan.assistant)) +
                ". Intenção: " + std::string(to_string(plan.analysis.intent)) + ".";
    return h;
  }
  return std::nullopt;
}

// A suggestion to an agent registers nothing (its tool calls are not published): the remote
// model gets an error from the registering tools, so it offers instead of claiming a protocol.
class SuggestionTools final : public ToolRunner {
 public:
  explicit SuggestionTools(ToolRunner& tools) : tools_(tools) {}
  ToolInvocation run(std::string_view name, std::string_view arguments_json,
                     std::string call_id) override {
    auto inv = tools_.run(name, arguments_json, std::move(call_id));
    if (!inv.known) return inv;
    if (inv.tool == Tool::register_lead || inv.tool == Tool::register_complaint ||
        inv.tool == Tool::register_payment_promise || inv.tool == Tool::register_opt_out) {
      inv.ok = false;
      inv.result_json.clear();
      inv.error =
          "not registered: this answer is only a suggestion to a human agent, who registers it; "
          "offer it to the customer, without a protocol";
    } else if (inv.tool == Tool::transfer_to_human) {
      // Already with a person: the suggestion must not announce a transfer.
      inv.ok = false;
      inv.result_json.clear();
      inv.error =
          "not transferred: a human agent is already in this conversation, and this answer is "
          "only a suggestion to them; do not say the customer is being transferred";
    }
    return inv;
  }

 private:
  ToolRunner& tools_;
};

}  // namespace

Orchestrator::Orchestrator(std::shared_ptr<LlmClient> remote,
                           std::shared_ptr<CircuitBreaker> breaker,
                           std::shared_ptr<PromptSource> prompts)
    : remote_(std::move(remote)), breaker_(std::move(breaker)), prompts_(std::move(prompts)) {}

Outcome Orchestrator::answer(const Turn& turn, const TurnContext& context,
                             ToolRunner& tools) const {
  const auto started = std::chrono::steady_clock::now();
  Outcome out;
  out.plan = plan_turn(turn);
  out.handoff = out.plan.handoff;

  const bool try_remote =
      remote_ != nullptr && !out.plan.handoff && !(turn.text.empty() && turn.kind != "text");
  bool answered = false;
  if (try_remote) {
    if (breaker_ && !breaker_->allow()) {
      out.remote_error = "circuit open after repeated failures";
      out.circuit_open = true;
    } else {
      RemoteRequest req;
      req.assistant = out.plan.assistant;
      req.customer_name = turn.customer_name;
      req.summary = context.summary;
      req.history = context.history;
      req.text = turn.text;
      req.today = turn.today;
      req.first_message = out.plan.greet;
      if (prompts_) {
        if (auto p = prompts_->prompt(out.plan.assistant)) {
          req.system_prompt = p->content;
          if (!p->instructions.empty()) req.system_prompt += "\n\n" + p->instructions;
          if (p->temperature) req.temperature = *p->temperature / 100.0;
        }
      }
      std::chrono::milliseconds retry_after{0};
      SuggestionTools suggestion_tools(tools);
      ToolRunner& remote_tools = turn.may_handoff ? tools : suggestion_tools;
      auto remote = remote_->complete(req, remote_tools, &retry_after);
      if (remote) {
        if (breaker_) breaker_->record_success();
        out.text = std::move(remote->text);
        out.model = std::move(remote->model);
        out.tools = std::move(remote->tools);
        out.handoff = handoff_from_tools(out.tools, out.plan);
        if (out.plan.greet && !names_lia(out.text, turn.customer_name)) {
          // The first answer still introduces LIA, whatever the model wrote; its own greeting
          // goes, so the customer is not greeted twice.
          out.text = "Olá" + (turn.customer_name ? ", " + *turn.customer_name : std::string()) +
                     "! Sou a LIA, assistente virtual. " +
                     without_greeting(out.text, turn.customer_name);
          out.text = ellipsize_utf8(out.text, 4000);
        }
        answered = true;
      } else {
        // Unless the server answered and this request, or the answer to it, was at fault (a
        // context past the model's length, a refusal, a tool call written as text), or the
        // turn's own tools used up its time (cancelled): no outage, so other customers keep
        // the model. Nor is it a success: a server that refuses every request still looks so,
        // and the failures around it still add up.
        if (breaker_) {
          // (An answer past the size taken, too_large, is an unusable answer too.)
          const auto code = remote.error().code();
          if (code != core::Errc::invalid_argument && code != core::Errc::cancelled &&
              code != core::Errc::too_large) {
            breaker_->record_failure(retry_after);
          } else {
            breaker_->record_neutral();
          }
        }
        out.remote_error = remote.error().describe();
      }
    }
  }
  if (!answered) {
    tools.forget_turn();
    auto local = local_answer(turn, out.plan, tools);
    out.text = std::move(local.text);
    out.tools = std::move(local.tools);
    out.model = std::string(kLocalModel);
    out.fallback = try_remote;
  }
  out.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count();
  return out;
}

}  // namespace lia::ai_orchestration
