#include <catch2/catch.hpp>

#include <lia/core/text.hpp>

using lia::core::valid_utf8;

TEST_CASE("valid_utf8 replaces what is not UTF-8 and cuts between characters") {
  CHECK(valid_utf8("Mozilla/5.0 (X11; Linux)", 512) == "Mozilla/5.0 (X11; Linux)");
  CHECK(valid_utf8("São Paulo", 512) == "São Paulo");
  // Latin-1 é, a lone continuation byte, an overlong slash, a surrogate, a NUL.
  CHECK(valid_utf8("Mozilla \xE9!", 512) == "Mozilla \xEF\xBF\xBD!");
  CHECK(valid_utf8("a\x80z", 512) == "a\xEF\xBF\xBDz");
  CHECK(valid_utf8("\xC0\xAF", 512) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(valid_utf8("\xED\xA0\x80", 512) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(valid_utf8(std::string_view("a\0b", 3), 512) ==
        "a\xEF\xBF\xBD"
        "b");
  // A character that would pass the limit is left out whole.
  CHECK(valid_utf8("ãã", 3) == "ã");
  CHECK(valid_utf8("a\xE9", 3) == "a");
  CHECK(valid_utf8("abc", 0).empty());
}

TEST_CASE("utf8_prefix and utf8_suffix cut between characters, never inside one") {
  using lia::core::utf8_prefix;
  using lia::core::utf8_suffix;
  CHECK(utf8_prefix("São Paulo", 64) == "São Paulo");
  CHECK(utf8_prefix("São", 2) == "S");  // "ã" is two bytes: not half of it
  CHECK(utf8_prefix("São", 3) == "Sã");
  CHECK(utf8_prefix("😀x", 3).empty());
  CHECK(utf8_prefix("abc", 0).empty());
  CHECK(utf8_suffix("São Paulo", 64) == "São Paulo");
  CHECK(utf8_suffix("ação", 3) == "ão");
  CHECK(utf8_suffix("ação", 2) == "o");  // the "ã" would be cut in half
  CHECK(utf8_suffix("x😀", 3).empty());
  CHECK(utf8_suffix("abc", 0).empty());
}
