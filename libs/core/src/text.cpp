#include <algorithm>
#include <cstdio>

#include <lia/core/text.hpp>

namespace lia::core {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  const std::size_t left = s.size() - i;
  const auto cont = [&](std::size_t k) { return k < left && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void json_escape(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c == 0) {
            out += kReplacement;  // no text column can store U+0000; json::parse refuses it
          } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++chars) {
    const std::size_t n = utf8_sequence(s, i);
    i += n == 0 ? 1 : n;
  }
  return chars;
}

std::string_view utf8_prefix_chars(std::string_view s, std::size_t max_chars) noexcept {
  std::size_t i = 0;
  for (std::size_t chars = 0; i < s.size() && chars < max_chars; ++chars) {
    const std::size_t n = utf8_sequence(s, i);
    i += n == 0 ? 1 : n;
  }
  return s.substr(0, i);
}

std::string valid_utf8(std::string_view s, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    const std::string_view piece = (n == 0 || s[i] == '\0') ? kReplacement : s.substr(i, n);
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
    i += n == 0 ? 1 : n;
  }
  return out;
}

std::size_t nbsp_len(std::string_view t, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) {
    return k < t.size() ? static_cast<unsigned char>(t[k]) : 0U;
  };
  if (byte(i) == 0xC2 && byte(i + 1) == 0xA0) return 2;
  if (byte(i) == 0xE2 && byte(i + 1) == 0x80 && byte(i + 2) == 0xAF) return 3;
  return 0;
}

bool after_currency(std::string_view t, std::size_t i) noexcept {
  for (;;) {
    if (i >= 1 && t[i - 1] == ' ') {
      --i;
    } else if (i >= 2 && nbsp_len(t, i - 2) == 2) {
      i -= 2;
    } else if (i >= 3 && nbsp_len(t, i - 3) == 3) {
      i -= 3;
    } else {
      break;
    }
  }
  return i >= 2 && (t[i - 2] == 'R' || t[i - 2] == 'r') && t[i - 1] == '$';
}

bool cnpj_check_digits_ok(std::string_view d) noexcept {
  if (d.size() != 14) return false;
  bool same = true;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const char c = d[i];
    const bool digit = c >= '0' && c <= '9';
    if (!digit && (i >= 12 || c < 'A' || c > 'Z')) return false;
    same = same && c == d[0];
  }
  if (same) return false;
  // Weights run 2..9 from the right, wrapping: 5,4,3,2,9,8,7,6,5,4,3,2 then 6,5,4,3,2,9,...
  for (std::size_t n = 12; n <= 13; ++n) {
    int sum = 0;
    int weight = 2;
    for (std::size_t i = n; i-- > 0;) {
      sum += (d[i] - '0') * weight;
      weight = weight == 9 ? 2 : weight + 1;
    }
    const int r = sum % 11;
    if ((r < 2 ? 0 : 11 - r) != d[n] - '0') return false;
  }
  return true;
}

std::size_t alphanumeric_cnpj_len(std::string_view t, std::size_t i, bool bare_lowercase) noexcept {
  const auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  };
  if (i >= t.size() || (i > 0 && alnum(t[i - 1]))) return 0;
  constexpr std::size_t kParts[] = {2, 3, 3, 4, 2};
  constexpr char kSeps[] = {'.', '.', '/', '-'};
  char d[14];
  std::size_t len = 0;
  bool letter = false;
  bool lowercase = false;
  std::size_t seps = 0;
  std::size_t j = i;
  for (std::size_t p = 0; p < 5; ++p) {
    for (std::size_t n = 0; n < kParts[p]; ++n, ++j) {
      if (j >= t.size() || !alnum(t[j])) return 0;
      lowercase = lowercase || t[j] >= 'a';
      const char c = t[j] >= 'a' ? static_cast<char>(t[j] - 'a' + 'A') : t[j];
      letter = letter || c >= 'A';
      d[len++] = c;
    }
    if (p < 4 && j < t.size() && t[j] == kSeps[p]) {
      ++j;
      ++seps;
    }
  }
  if (j < t.size() && alnum(t[j])) return 0;
  if (lowercase && !bare_lowercase && seps < 4) return 0;
  return letter && cnpj_check_digits_ok(std::string_view(d, len)) ? j - i : 0;
}

}  // namespace lia::core
