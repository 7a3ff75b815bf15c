#pragma once
// Small text helpers shared by the libraries and services.

#include <string>
#include <string_view>

namespace lia::core {

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
constexpr std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// Appends `s` to `out` as the inside of a JSON string (no quotes): quotes, backslashes and
// control characters escaped, and each byte that is not part of valid UTF-8 replaced by
// U+FFFD, so the result is always valid JSON and valid UTF-8. A NUL byte becomes U+FFFD too:
// no PostgreSQL text can hold it, and json::parse refuses it.
void json_escape(std::string& out, std::string_view s);

// `s` as text any PostgreSQL column takes: each byte that is not part of valid UTF-8, and
// each NUL, replaced by U+FFFD; cut before the character that would pass `max_bytes`. For
// what clients send outside JSON (header values), which nothing has checked.
std::string valid_utf8(std::string_view s, std::size_t max_bytes);

// How many characters `s` has once written by json_escape or valid_utf8: each valid UTF-8
// sequence is one, and so is each byte they replace by U+FFFD. What a JSON Schema's
// maxLength counts in the text written out.
std::size_t utf8_length(std::string_view s) noexcept;

// The longest start of `s` of at most `max_chars` characters, counted as utf8_length counts
// them (so a valid sequence is never split).
std::string_view utf8_prefix_chars(std::string_view s, std::size_t max_chars) noexcept;

// Bytes of a no-break space at t[i] (U+00A0, or U+202F as apps write amounts); 0: none.
std::size_t nbsp_len(std::string_view t, std::size_t i) noexcept;

// Whether "R$" (either case), then any spaces and no-break spaces, comes just before t[i]: a
// number there is an amount of money.
bool after_currency(std::string_view t, std::size_t i) noexcept;

// Whether `d` is a CNPJ with valid check digits: 14 characters, 12 digits or upper-case
// letters, then 2 check digits, and not one character 14 times. The alphanumeric CNPJ (IN RFB
// 2.229/2024, issued from July 2026) counts each character as its ASCII code minus 48 in the
// mod-11 sums ('0'..'9' -> 0..9, 'A' -> 17, ... 'Z' -> 42), so a numeric CNPJ is one as well.
bool cnpj_check_digits_ok(std::string_view d) noexcept;

// Bytes of an alphanumeric CNPJ at t[i]: a word of its own, with a letter in it (either
// case), written with its own separators or none ("12.ABC.345/01DE-35", "12abc34501de35"),
// whose check digits are valid; 0: none. The numeric ones are digit runs, for callers to find.
// `bare_lowercase` false: without its separators, only in capitals (a lowercase 14-character
// hex id passes the check digits about once in 250).
std::size_t alphanumeric_cnpj_len(std::string_view t, std::size_t i,
                                  bool bare_lowercase = true) noexcept;

// The longest start of `s` of at most `max_bytes` that splits no UTF-8 sequence (`s` is
// assumed valid: the cut only steps back over continuation bytes).
constexpr std::string_view utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) --end;
  return s.substr(0, end);
}

// The longest end of `s` of at most `max_bytes` that splits no UTF-8 sequence.
constexpr std::string_view utf8_suffix(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  std::size_t from = s.size() - max_bytes;
  while (from < s.size() && (static_cast<unsigned char>(s[from]) & 0xC0U) == 0x80U) ++from;
  return s.substr(from);
}

}  // namespace lia::core
