#include <array>
#include <cctype>
#include <chrono>
#include <utility>

#include <lia/conversation/model.hpp>

namespace lia::conversation {
namespace {

std::string lower_trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
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
  std::string n = lower_trim(name);
  if (n.empty()) return "general";
  for (const auto& [alias, canonical] : aliases) {
    if (n == alias) return std::string(canonical);
  }
  return n;
}

std::string department_for_assistant(std::string_view assistant) {
  const std::string a = lower_trim(assistant);
  if (a == "suporte" || a == "comercial" || a == "financeiro" || a == "cancelamento" ||
      a == "ouvidoria" || a == "cobranca") {
    return canonical_department(a);
  }
  return "general";
}

std::optional<core::SysTime> parse_time(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) nanos *= 10;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y},
                                        std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  auto t = std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
           std::chrono::seconds{sec} - std::chrono::minutes{offset_min};
  return core::SysTime{std::chrono::duration_cast<core::SysTime::duration>(
      t.time_since_epoch() + std::chrono::nanoseconds{nanos})};
}

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  return std::string(text.substr(0, cut));
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
