#pragma once
// The assistants of the built-in Portuguese model and the vocabulary shared by the analysis,
// the local assistant, the remote model and the events: assistants, intents, sentiment,
// urgency and the human departments a handoff goes to. Pure: no I/O.

#include <array>
#include <optional>
#include <string_view>

namespace lia::ai_orchestration {

// The personas of seed 000 (conversations.assistantType, prompt_templates.assistantType).
enum class Assistant {
  apresentacao,
  comercial,
  suporte,
  financeiro,
  cancelamento,
  ouvidoria,
  cobranca
};

inline constexpr std::array<Assistant, 7> kAssistants = {
    Assistant::apresentacao, Assistant::comercial, Assistant::suporte, Assistant::financeiro,
    Assistant::cancelamento, Assistant::ouvidoria, Assistant::cobranca};

std::string_view to_string(Assistant a) noexcept;  // "apresentacao", ...
std::optional<Assistant> parse_assistant(std::string_view s) noexcept;

// The human department (seed 000 users.departments: commercial, support, financial,
// cancellation, general) that takes a conversation handed off by this assistant.
std::string_view department_of(Assistant a) noexcept;
// How the customer reads the department: "suporte técnico", "financeiro", ...
std::string_view department_label(std::string_view department) noexcept;

// What the customer's message is about.
enum class Intent {
  none,          // nothing recognised
  greeting,      // "oi", "bom dia"
  thanks,        // "obrigado", "valeu"
  goodbye,       // "tchau", "até mais"
  suporte,       // connection problems
  comercial,     // plans, contracting, prices
  financeiro,    // invoices, payments
  cancelamento,  // ending the contract
  ouvidoria,     // complaints, Procon, Anatel
  human,         // asks for a person
};
// The analysis.completed intent: "suporte_tecnico", "financeiro", "saudacao", "indefinido", ...
std::string_view to_string(Intent i) noexcept;
// The specialist assistant of a department intent, nullopt for the others.
std::optional<Assistant> assistant_for(Intent i) noexcept;

enum class Sentiment { positive, neutral, negative };
std::string_view to_string(Sentiment s) noexcept;  // "positive", "neutral", "negative"

// The conversation's urgency (seed 000 conversations.urgency).
enum class Urgency { normal, high, urgent };
std::string_view to_string(Urgency u) noexcept;  // "normal", "high", "urgent"
// The events' urgency scale (low, medium, high, critical): normal -> "medium", high ->
// "high", urgent -> "critical". "low" is never produced by the analysis.
std::string_view event_urgency(Urgency u) noexcept;

}  // namespace lia::ai_orchestration
