#include <algorithm>

#include <lia/domain/template.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;
using core::Status;

namespace {

struct Segment {
  bool placeholder = false;
  std::string_view text;  // literal text, or the placeholder's name
};

bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool ident_char(char c) {
  return ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  if (is_digit(n[0])) {
    if (n[0] == '0') return false;
    return std::all_of(n.begin(), n.end(), is_digit);
  }
  return ident_start(n[0]) && std::all_of(n.begin(), n.end(), ident_char);
}

Result<std::vector<Segment>> tokenize(std::string_view t) {
  std::vector<Segment> out;
  std::size_t lit = 0;  // start of the pending literal
  std::size_t i = 0;
  auto flush = [&](std::size_t end) {
    if (end > lit) out.push_back({false, t.substr(lit, end - lit)});
  };
  while (i < t.size()) {
    if (t[i] != '{') {
      ++i;
      continue;
    }
    if (i + 1 < t.size() && t[i + 1] == '{') {
      const auto close = t.find("}}", i + 2);
      if (close == std::string_view::npos) {
        return Error(Errc::invalid_argument,
                     "template: unclosed '{{' at offset " + std::to_string(i));
      }
      std::string_view name = t.substr(i + 2, close - i - 2);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (!valid_name(name)) {
        return Error(Errc::invalid_argument, "template: invalid placeholder at offset " +
                                                 std::to_string(i) +
                                                 " (expected {{name}} or {{1}})");
      }
      flush(i);
      out.push_back({true, name});
      i = close + 2;
      lit = i;
      continue;
    }
    // Legacy single-brace placeholder: "{identifier}" exactly.
    std::size_t j = i + 1;
    if (j < t.size() && ident_start(t[j])) {
      while (j < t.size() && ident_char(t[j])) ++j;
      if (j < t.size() && t[j] == '}') {
        flush(i);
        out.push_back({true, t.substr(i + 1, j - i - 1)});
        i = j + 1;
        lit = i;
        continue;
      }
    }
    ++i;  // a literal '{'
  }
  flush(t.size());
  return out;
}

template <class Lookup>
Result<std::string> render(std::string_view tmpl, Lookup lookup) {
  auto segs = tokenize(tmpl);
  if (!segs.ok()) return segs.error();
  std::string out;
  out.reserve(tmpl.size());
  std::vector<std::string_view> missing;
  for (const auto& s : *segs) {
    if (!s.placeholder) {
      out += s.text;
    } else if (const std::string* v = lookup(s.text)) {
      out += *v;
    } else if (std::find(missing.begin(), missing.end(), s.text) == missing.end()) {
      missing.push_back(s.text);
    }
  }
  if (!missing.empty()) {
    std::string msg = "template: missing variable";
    msg += missing.size() > 1 ? "s: " : ": ";
    for (std::size_t k = 0; k < missing.size(); ++k) {
      if (k) msg += ", ";
      msg += missing[k];
    }
    return Error(Errc::invalid_argument, std::move(msg));
  }
  return out;
}

}  // namespace

Result<std::string> render_template(std::string_view tmpl, const TemplateVars& vars) {
  return render(tmpl, [&](std::string_view name) -> const std::string* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : &it->second;
  });
}

Result<std::string> render_template(std::string_view tmpl, std::span<const std::string> values) {
  return render(tmpl, [&](std::string_view name) -> const std::string* {
    if (name.empty() || !is_digit(name[0]) || name.size() > 9) return nullptr;
    std::size_t index = 0;
    for (char c : name) index = index * 10 + static_cast<std::size_t>(c - '0');
    if (index == 0 || index > values.size()) return nullptr;
    return &values[index - 1];
  });
}

Result<std::vector<std::string>> template_placeholders(std::string_view tmpl) {
  auto segs = tokenize(tmpl);
  if (!segs.ok()) return segs.error();
  std::vector<std::string> names;
  for (const auto& s : *segs) {
    if (s.placeholder && std::find(names.begin(), names.end(), s.text) == names.end()) {
      names.emplace_back(s.text);
    }
  }
  return names;
}

Status validate_template(std::string_view tmpl, std::span<const std::string> declared) {
  auto names = template_placeholders(tmpl);
  if (!names.ok()) return names.error();
  std::string undeclared;
  for (const auto& n : *names) {
    if (std::find(declared.begin(), declared.end(), n) != declared.end()) continue;
    if (!undeclared.empty()) undeclared += ", ";
    undeclared += n;
  }
  if (!undeclared.empty()) {
    return Error(Errc::invalid_argument, "template: undeclared variables: " + undeclared);
  }
  return core::ok();
}

}  // namespace lia::domain
