#include "assistant.hpp"

#include <lia/domain/department.hpp>

namespace lia::ai_orchestration {

std::string_view to_string(Assistant a) noexcept {
  switch (a) {
    case Assistant::apresentacao:
      return "apresentacao";
    case Assistant::comercial:
      return "comercial";
    case Assistant::suporte:
      return "suporte";
    case Assistant::financeiro:
      return "financeiro";
    case Assistant::cancelamento:
      return "cancelamento";
    case Assistant::ouvidoria:
      return "ouvidoria";
    case Assistant::cobranca:
      return "cobranca";
  }
  return "apresentacao";
}

std::optional<Assistant> parse_assistant(std::string_view s) noexcept {
  for (Assistant a : kAssistants) {
    if (to_string(a) == s) return a;
  }
  return std::nullopt;
}

std::string_view department_of(Assistant a) noexcept {
  return domain::department_for_assistant(to_string(a));
}

std::string_view department_label(std::string_view department) noexcept {
  if (department == "support") return "suporte técnico";
  if (department == "commercial") return "comercial";
  if (department == "financial") return "financeiro";
  if (department == "cancellation") return "cancelamentos";
  return "atendimento";
}

std::string_view to_string(Intent i) noexcept {
  switch (i) {
    case Intent::none:
      return "indefinido";
    case Intent::greeting:
      return "saudacao";
    case Intent::thanks:
      return "agradecimento";
    case Intent::goodbye:
      return "despedida";
    case Intent::suporte:
      return "suporte_tecnico";
    case Intent::comercial:
      return "comercial";
    case Intent::financeiro:
      return "financeiro";
    case Intent::cancelamento:
      return "cancelamento";
    case Intent::ouvidoria:
      return "ouvidoria";
    case Intent::human:
      return "atendimento_humano";
  }
  return "indefinido";
}

std::optional<Assistant> assistant_for(Intent i) noexcept {
  switch (i) {
    case Intent::suporte:
      return Assistant::suporte;
    case Intent::comercial:
      return Assistant::comercial;
    case Intent::financeiro:
      return Assistant::financeiro;
    case Intent::cancelamento:
      return Assistant::cancelamento;
    case Intent::ouvidoria:
      return Assistant::ouvidoria;
    default:
      return std::nullopt;
  }
}

std::string_view to_string(Sentiment s) noexcept {
  switch (s) {
    case Sentiment::positive:
      return "positive";
    case Sentiment::negative:
      return "negative";
    case Sentiment::neutral:
      return "neutral";
  }
  return "neutral";
}

std::string_view to_string(Urgency u) noexcept {
  switch (u) {
    case Urgency::high:
      return "high";
    case Urgency::urgent:
      return "urgent";
    case Urgency::normal:
      return "normal";
  }
  return "normal";
}

std::string_view event_urgency(Urgency u) noexcept {
  switch (u) {
    case Urgency::high:
      return "high";
    case Urgency::urgent:
      return "critical";
    case Urgency::normal:
      return "medium";
  }
  return "medium";
}

}  // namespace lia::ai_orchestration
