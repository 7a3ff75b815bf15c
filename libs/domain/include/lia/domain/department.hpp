#pragma once
// The desk's departments as the specification names them: commercial, support, financial,
// cancellation, general. One map from an assistant to the department its handoffs go to, for
// ai_orchestration (handoff.requested) and conversation (assistant.changed) alike, so a
// conversation keeps one department from the assistant's change to its handoff.

#include <string_view>

namespace lia::domain {

// "suporte" -> support, "comercial" -> commercial, "financeiro" and "cobranca" -> financial,
// "cancelamento" -> cancellation; "ouvidoria" (complaints), "apresentacao" and any other name
// -> general. Exact, lower-case names (the assistants' own).
std::string_view department_for_assistant(std::string_view assistant) noexcept;

}  // namespace lia::domain
