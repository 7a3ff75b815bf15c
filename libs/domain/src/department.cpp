#include <lia/domain/department.hpp>

namespace lia::domain {

std::string_view department_for_assistant(std::string_view assistant) noexcept {
  if (assistant == "suporte") return "support";
  if (assistant == "comercial") return "commercial";
  if (assistant == "financeiro" || assistant == "cobranca") return "financial";
  if (assistant == "cancelamento") return "cancellation";
  return "general";  // apresentacao, ouvidoria (no complaints desk among the departments)
}

}  // namespace lia::domain
