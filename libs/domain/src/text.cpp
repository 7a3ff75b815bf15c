#include <lia/domain/text.hpp>

#include "utf8.hpp"

namespace lia::domain {

namespace {

bool is_space_cp(char32_t cp) {
  switch (cp) {
    case U' ':
    case U'\t':
    case U'\n':
    case U'\v':
    case U'\f':
    case U'\r':
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_dropped_cp(char32_t cp) {
  return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 ||
         cp == 0xFEFF;
}

// Folding of U+00C0..U+00FF, indexed by cp - 0xC0. nullptr: keep the code point.
constexpr const char* kLatin1Fold[64] = {
    // C0..C7: À Á Â Ã Ä Å Æ Ç
    "a",
    "a",
    "a",
    "a",
    "a",
    "a",
    "ae",
    "c",
    // C8..CF: È É Ê Ë Ì Í Î Ï
    "e",
    "e",
    "e",
    "e",
    "i",
    "i",
    "i",
    "i",
    // D0..D7: Ð Ñ Ò Ó Ô Õ Ö ×
    "d",
    "n",
    "o",
    "o",
    "o",
    "o",
    "o",
    nullptr,
    // D8..DF: Ø Ù Ú Û Ü Ý Þ ß
    "o",
    "u",
    "u",
    "u",
    "u",
    "y",
    "th",
    "ss",
    // E0..E7: à á â ã ä å æ ç
    "a",
    "a",
    "a",
    "a",
    "a",
    "a",
    "ae",
    "c",
    // E8..EF: è é ê ë ì í î ï
    "e",
    "e",
    "e",
    "e",
    "i",
    "i",
    "i",
    "i",
    // F0..F7: ð ñ ò ó ô õ ö ÷
    "d",
    "n",
    "o",
    "o",
    "o",
    "o",
    "o",
    nullptr,
    // F8..FF: ø ù ú û ü ý þ ÿ
    "o",
    "u",
    "u",
    "u",
    "u",
    "y",
    "th",
    "y",
};

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string fold(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  bool pending_space = false;
  std::size_t i = 0;
  while (i < utf8.size()) {
    const char32_t cp = detail::decode_utf8(utf8, i);
    if (is_space_cp(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (is_dropped_cp(cp)) continue;
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (cp < 0x80) {
      auto c = static_cast<char>(cp);
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      out.push_back(c);
    } else if (cp >= 0xC0 && cp <= 0xFF && kLatin1Fold[cp - 0xC0] != nullptr) {
      out += kLatin1Fold[cp - 0xC0];
    } else {
      detail::encode_utf8(out, cp);
    }
  }
  return out;
}

std::vector<std::string_view> words(std::string_view folded) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < folded.size()) {
    while (i < folded.size() && !is_word_char(folded[i])) ++i;
    const std::size_t start = i;
    while (i < folded.size() && is_word_char(folded[i])) ++i;
    if (i > start) out.push_back(folded.substr(start, i - start));
  }
  return out;
}

bool contains_word(std::string_view folded, std::string_view word) {
  if (word.empty()) return false;
  for (auto w : words(folded)) {
    if (w == word) return true;
  }
  return false;
}

bool contains_phrase(std::string_view folded, std::string_view phrase) {
  const auto needle = words(phrase);
  if (needle.empty()) return false;
  const auto hay = words(folded);
  if (needle.size() > hay.size()) return false;
  for (std::size_t start = 0; start + needle.size() <= hay.size(); ++start) {
    bool match = true;
    for (std::size_t k = 0; k < needle.size() && match; ++k) match = hay[start + k] == needle[k];
    if (match) return true;
  }
  return false;
}

}  // namespace lia::domain
