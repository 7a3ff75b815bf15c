#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/text.hpp>

using lia::domain::contains_phrase;
using lia::domain::contains_word;
using lia::domain::fold;
using lia::domain::words;

TEST_CASE("fold lower-cases and strips Portuguese accents") {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"Olá", "ola"},
      {"AVALIAÇÃO", "avaliacao"},
      {"àâãä áéêíóôõúüç", "aaaa aeeiooouuc"},
      {"ÀÂÃÄ ÁÉÊÍÓÔÕÚÜÇ", "aaaa aeeiooouuc"},
      {"Não, obrigado!", "nao, obrigado!"},
      {"Três", "tres"},
      {"SÃO PAULO", "sao paulo"},
      {"Ñandú", "nandu"},
      {"straße", "strasse"},
      {"Ærø", "aero"},
      {"preço: R$ 10,00", "preco: r$ 10,00"},
      {"", ""},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(fold(c.in) == c.out);
  }
}

TEST_CASE("fold collapses and trims whitespace of every kind") {
  CHECK(fold("  quero\t\tfalar \n com   atendente  ") == "quero falar com atendente");
  CHECK(fold("a\xC2\xA0"
             "b") == "a b");  // no-break space
  CHECK(fold("a\xE2\x80\xAF"
             "b") == "a b");  // narrow no-break space
  CHECK(fold("a\xE3\x80\x80"
             "b") == "a b");  // ideographic space
  CHECK(fold(" \t\r\n ").empty());
}

TEST_CASE("fold drops combining marks and zero-width characters") {
  // "não" written in decomposed form: n a U+0303 o
  CHECK(fold("na\xCC\x83o") == "nao");
  CHECK(fold("E\xCC\x81") == "e");
  CHECK(fold("ok\xE2\x80\x8B"
             "ay") == "okay");              // zero-width space
  CHECK(fold("\xEF\xBB\xBFola") == "ola");  // BOM
}

TEST_CASE("fold keeps other characters and repairs invalid UTF-8") {
  CHECK(fold("obrigado 👍") == "obrigado 👍");
  CHECK(fold("×÷") == "×÷");
  CHECK(fold("Привет") == "Привет");  // other scripts are kept as they are
  CHECK(fold("a\xFF"
             "b") ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(fold("\xC3") == "\xEF\xBF\xBD");                                  // truncated sequence
  CHECK(fold("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  CHECK(fold("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST_CASE("words splits folded text on anything that is not a letter or digit") {
  const auto w = words("ola, quero 2 boletos!! 👍 ate-logo");
  REQUIRE(w.size() == 6);
  CHECK(w[0] == "ola");
  CHECK(w[1] == "quero");
  CHECK(w[2] == "2");
  CHECK(w[3] == "boletos");
  CHECK(w[4] == "ate");
  CHECK(w[5] == "logo");
  CHECK(words("").empty());
  CHECK(words("!!! ...").empty());
}

TEST_CASE("contains_word and contains_phrase match whole words only") {
  const std::string t = fold("Quero FALAR com um atendente, por favor");
  CHECK(contains_word(t, "atendente"));
  CHECK(contains_word(t, "falar"));
  CHECK_FALSE(contains_word(t, "aten"));
  CHECK_FALSE(contains_word(t, ""));
  CHECK(contains_phrase(t, "falar com"));
  CHECK(contains_phrase(t, "um atendente por favor"));
  CHECK_FALSE(contains_phrase(t, "falar atendente"));
  CHECK_FALSE(contains_phrase(t, "favor por"));
  CHECK_FALSE(contains_phrase(t, ""));
  CHECK_FALSE(contains_phrase("ola", "ola mundo"));
}
