#pragma once
// Folding Portuguese text for matching (intent matching in the built-in assistant, NPS
// replies, keyword lookups). Pure functions on UTF-8; never throw on bad input.

#include <string>
#include <string_view>
#include <vector>

namespace lia::domain {

// Lower-cases and strips accents, then collapses whitespace:
//   "  Olá,   AVALIAÇÃO\tÓtima " -> "ola, avaliacao otima"
// - ASCII letters are lower-cased.
// - Latin-1 letters lose their accents (á à â ã ä -> a, é ê -> e, í -> i, ó ô õ -> o,
//   ú ü -> u, ç -> c, ñ -> n, ý ÿ -> y, upper-case forms alike); æ -> ae, ß -> ss, ø -> o.
// - Combining diacritical marks (U+0300..U+036F, text sent in decomposed form) are dropped,
//   so "a" + U+0303 folds like "ã".
// - Zero-width characters (U+200B..U+200D, U+2060, U+FEFF) are dropped.
// - Whitespace (ASCII, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
//   U+3000) collapses to one ASCII space; leading and trailing whitespace is removed.
// - Other code points (emoji, punctuation, other scripts) are kept as they are.
// - Invalid UTF-8 bytes become U+FFFD, so the output is always valid UTF-8.
std::string fold(std::string_view utf8);

// Splits already folded text into words: maximal runs of ASCII letters and digits.
// Everything else (punctuation, emoji, other scripts) separates words.
//   words("ola, quero 2 boletos!") -> {"ola", "quero", "2", "boletos"}
std::vector<std::string_view> words(std::string_view folded);

// True when `word` (folded, one word) appears as a whole word in `folded`.
bool contains_word(std::string_view folded, std::string_view word);

// True when the phrase's words (folded, separated by single spaces) appear consecutively
// in `folded` as whole words: contains_phrase("quero falar com atendente", "falar com").
bool contains_phrase(std::string_view folded, std::string_view phrase);

}  // namespace lia::domain
