#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <utility>

#include <lia/conversation/model.hpp>
#include <lia/core/clock.hpp>
#include <lia/domain/department.hpp>
#include <lia/domain/text.hpp>

namespace lia::conversation {
namespace {

std::string lower_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string canonical_department(std::string_view name) {
  static const std::array<std::pair<std::string_view, std::string_view>, 22> aliases{{
      {"suporte", "support"},           {"support", "support"},
      {"tecnico", "support"},           {"technical", "support"},
      {"comercial", "commercial"},      {"commercial", "commercial"},
      {"vendas", "commercial"},         {"sales", "commercial"},
      {"financeiro", "financial"},      {"financial", "financial"},
      {"finance", "financial"},         {"cancelamento", "cancellation"},
      {"cancellation", "cancellation"}, {"ouvidoria", "ombudsman"},
      {"ombudsman", "ombudsman"},       {"cobranca", "collections"},
      {"collections", "collections"},   {"geral", "general"},
      {"general", "general"},           {"apresentacao", "general"},
      {"atendimento", "general"},       {"sac", "general"},
  }};
  std::string n = domain::fold(name);  // "Cobrança", "Técnico": the aliases have no accents
  if (n.empty()) return "general";
  for (const auto& [alias, canonical] : aliases) {
    if (n == alias) return std::string(canonical);
  }
  return n;
}

bool is_department(std::string_view canonical) noexcept {
  static constexpr std::array<std::string_view, 7> kDepartments{
      "support", "commercial", "financial", "cancellation", "ombudsman", "collections", "general"};
  return std::find(kDepartments.begin(), kDepartments.end(), canonical) != kDepartments.end();
}

std::string department_for_assistant(std::string_view assistant) {
  return std::string(domain::department_for_assistant(lower_trim(assistant)));
}

std::optional<core::SysTime> parse_time(std::string_view s) {
  return core::parse_rfc3339(s, core::DateTimeSeparator::t_or_space);
}

std::vector<std::string> parse_text_array(std::string_view t) {
  std::vector<std::string> out;
  if (t.size() < 2 || t.front() != '{' || t.back() != '}') return out;
  t = t.substr(1, t.size() - 2);
  std::size_t i = 0;
  while (i < t.size()) {
    std::string item;
    if (t[i] == '"') {
      ++i;
      while (i < t.size() && t[i] != '"') {
        if (t[i] == '\\' && i + 1 < t.size()) ++i;
        item += t[i++];
      }
      ++i;  // closing quote
    } else {
      while (i < t.size() && t[i] != ',') item += t[i++];
      if (item == "NULL") item.clear();
    }
    out.push_back(std::move(item));
    if (i < t.size() && t[i] == ',') ++i;
  }
  return out;
}

std::string text_array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace lia::conversation
