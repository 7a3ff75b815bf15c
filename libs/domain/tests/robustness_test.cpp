// Untrusted input: seeded random strings through every parser. Nothing may crash, and
// what is accepted must satisfy each function's invariants.

#include <random>
#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/conversation_state.hpp>
#include <lia/domain/document.hpp>
#include <lia/domain/hours.hpp>
#include <lia/domain/nps.hpp>
#include <lia/domain/phone.hpp>
#include <lia/domain/template.hpp>
#include <lia/domain/text.hpp>

namespace {

// Strict UTF-8 check (no overlongs, surrogates or code points above U+10FFFF).
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const char32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Mostly characters the parsers care about, plus arbitrary bytes.
std::string random_input(std::mt19937& rng) {
  static const std::string alphabet =
      "0123456789 +-()./:@{}!,aeiounotadezSWG\t\n\xC3\xA1\xA9\xCC\x83\xE2\x83\xA3\xEF\xB8\x8F";
  std::uniform_int_distribution<int> len(0, 24);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(alphabet.size()) - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> coin(0, 9);
  std::string s;
  if (coin(rng) < 3) {  // phone-like: digits, sometimes with '+' or a JID server
    std::uniform_int_distribution<int> digits(8, 16);
    std::uniform_int_distribution<int> digit(0, 9);
    if (coin(rng) < 3) s.push_back('+');
    for (int i = digits(rng); i > 0; --i) s.push_back(static_cast<char>('0' + digit(rng)));
    if (coin(rng) < 3) s += "@s.whatsapp.net";
    return s;
  }
  const int n = len(rng);
  for (int i = 0; i < n; ++i) {
    s.push_back(coin(rng) == 0 ? static_cast<char>(byte(rng))
                               : alphabet[static_cast<std::size_t>(pick(rng))]);
  }
  return s;
}

}  // namespace

TEST_CASE("random input never breaks the parsers") {
  using namespace lia::domain;
  std::mt19937 rng(20250106);  // fixed seed: the same inputs on every run
  int phones = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string in = random_input(rng);
    INFO(in);

    const std::string folded = fold(in);
    REQUIRE(valid_utf8(folded));
    REQUIRE(fold(folded) == folded);

    if (auto p = normalize_phone(in); p.ok()) {
      ++phones;
      REQUIRE(p->digits.size() >= 8);
      REQUIRE(p->digits.size() <= 15);
      auto again = normalize_phone(to_whatsapp_jid(*p));
      REQUIRE(again.ok());
      REQUIRE(*again == *p);
    }

    if (auto d = parse_document(in); d.ok()) {
      auto again = parse_document(format_document(*d));
      REQUIRE(again.ok());
      REQUIRE(*again == *d);
    }

    if (auto s = parse_nps_score(in)) {
      REQUIRE(*s >= 0);
      REQUIRE(*s <= 10);
    }

    if (auto r = render_template(in, TemplateVars{}); r.ok()) {
      auto names = template_placeholders(in);
      REQUIRE(names.ok());
      REQUIRE(names->empty());
      REQUIRE(*r == in);
    }

    (void)parse_hhmm(in);
    (void)parse_weekdays(in);
    (void)parse_meta_status(in);
    (void)parse_evolution_status(std::string_view(in));
  }
  CHECK(phones > 0);  // the generator does reach the accepting paths
}
