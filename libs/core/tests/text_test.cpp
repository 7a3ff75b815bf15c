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

TEST_CASE("utf8_length counts characters as json_escape writes them") {
  using lia::core::utf8_length;
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("São") == 3);
  // A man, a heart and a woman joined, with skin tones: 10 characters in 35 bytes.
  const std::string couple =
      "\xF0\x9F\x91\xA9\xF0\x9F\x8F\xBD\xE2\x80\x8D\xE2\x9D\xA4\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F"
      "\x92\x8B\xE2\x80\x8D\xF0\x9F\x91\xA8\xF0\x9F\x8F\xBF";
  CHECK(couple.size() == 35);
  CHECK(utf8_length(couple) == 10);
  // Each byte that is not UTF-8 is one U+FFFD: stray continuation bytes, a surrogate.
  CHECK(utf8_length("a\x80\x80z") == 4);
  CHECK(utf8_length("\xED\xB0\x80") == 3);
  CHECK(utf8_length("\xE9t\xE9") == 3);
}

TEST_CASE("utf8_prefix_chars keeps whole characters up to a count") {
  using lia::core::utf8_prefix_chars;
  CHECK(utf8_prefix_chars("São Paulo", 3) == "São");
  CHECK(utf8_prefix_chars("São", 64) == "São");
  CHECK(utf8_prefix_chars("😀😀😀", 2) == "😀😀");
  CHECK(utf8_prefix_chars("a\x80z", 2) == "a\x80");
  CHECK(utf8_prefix_chars("abc", 0).empty());
}

TEST_CASE("cnpj_check_digits_ok takes numeric and alphanumeric CNPJs with valid check digits") {
  CHECK(lia::core::cnpj_check_digits_ok("12345678000195"));
  CHECK(lia::core::cnpj_check_digits_ok("12ABC34501DE35"));
  CHECK_FALSE(lia::core::cnpj_check_digits_ok("12ABC34501DE36"));
  CHECK_FALSE(lia::core::cnpj_check_digits_ok("12abc34501de35"));  // callers fold the case
  CHECK_FALSE(lia::core::cnpj_check_digits_ok("12ABC34501DEA5"));  // check digits are digits
  CHECK_FALSE(lia::core::cnpj_check_digits_ok("00000000000000"));
  CHECK_FALSE(lia::core::cnpj_check_digits_ok("1234567800019"));
}

TEST_CASE("alphanumeric_cnpj_len finds one as a word, with its separators or none") {
  using lia::core::alphanumeric_cnpj_len;
  CHECK(alphanumeric_cnpj_len("12.ABC.345/01DE-35", 0) == 18);
  CHECK(alphanumeric_cnpj_len("cnpj 12abc34501de35.", 5) == 14);
  CHECK(alphanumeric_cnpj_len("a12ABC34501DE35", 1) == 0);  // glued to the word before
  CHECK(alphanumeric_cnpj_len("12ABC34501DE35", 1) == 0);
  CHECK(alphanumeric_cnpj_len("12345678000195", 0) == 0);  // no letter
  CHECK(alphanumeric_cnpj_len("12ABC34501DE3", 0) == 0);
  CHECK(alphanumeric_cnpj_len("12abc34501de35", 0, false) == 0);  // lowercase, no marks
  CHECK(alphanumeric_cnpj_len("12ABC34501DE35", 0, false) == 14);
  CHECK(alphanumeric_cnpj_len("12.abc.345/01de-35", 0, false) == 18);
}
