#include <random>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <lia/core/log.hpp>

using namespace lia::core;

namespace {
struct Captured {
  std::vector<std::string> lines;
  Logger logger(bool unmask = false, Level level = Level::info) {
    Logger::Options o;
    o.service = "test";
    o.level = level;
    o.unmask = unmask;
    o.sink = [this](std::string_view l) { lines.emplace_back(l); };
    return Logger(o);
  }
};
}  // namespace

TEST_CASE("masking rules") {
  CHECK(mask_phone("5511987654321") == "*********4321");
  CHECK(mask_phone("+55 (11) 98765-4321") == "+** (**) *****-4321");
  CHECK(mask_document("123.456.789-09") == "***.***.***-09");
  CHECK(mask_document("12345678000195") == "************95");
  CHECK(mask_document("12.ABC.345/01DE-35") == "**.***.***/****-35");  // alphanumeric CNPJ
  CHECK(mask_body("olá mundo") == "[masked 10 bytes]");
}

TEST_CASE("scrub_text masks phones and documents but leaves ids alone") {
  CHECK(scrub_text("cliente 5511987654321 ligou") == "cliente *********4321 ligou");
  CHECK(scrub_text("cpf 123.456.789-09 ok") == "cpf ***.***.***-09 ok");
  CHECK(scrub_text("cnpj 12.345.678/0001-95") == "cnpj **.***.***/****-95");
  CHECK(scrub_text("+55 11 98765-4321") == "+** ** *****-4321");
  CHECK(scrub_text("offset 1234567") == "offset 1234567");  // 7 digits: not personal
  const std::string uuid = "01934f5a-1234-7abc-8def-0123456789ab";
  CHECK(scrub_text("id " + uuid) == "id " + uuid);
  // A Meta message id holds the customer's number in base64 ("NTUxMTk4NzY1NDMyMR" is
  // 5511987654321): only its tail, the message's own part, stays.
  CHECK(scrub_text("sent wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDBTWVNURU0wMDAwMDAwMDAwAA== ok") ==
        "sent wamid.…MDAwMDAwAA== ok");
  CHECK(scrub_text("wamid.HBgMNTUxMTk4NzY1NDMyMRUCABEYEj") == "wamid.…");  // too short to keep any
  CHECK(scrub_text("mywamid.x") == "mywamid.x");                           // not an id of Meta's
}

TEST_CASE("scrub_text masks numbers written in a URL, and grouped numbers glued to a word") {
  // A logged path: '+' and %20 for spaces, %2B for the plus, %28/%29 for parentheses.
  CHECK(scrub_text("/api/contacts/11%2098765%204321") == "/api/contacts/**%20*****%20**21");
  CHECK(scrub_text("q=%2B55%2011%2098765%204321") == "q=%2B**%20**%20*****%204321");
  CHECK(scrub_text("q=55+11+98765+4321") == "q=**+**+*****+4321");
  CHECK(scrub_text("%2811%29%2098765-4321") == "%28**%29%20*****-**21");
  // An escape's own digits are not counted: "%20" four times and 7 digits is not a phone.
  CHECK(scrub_text("a%20b%201234567%20c") == "a%20b%201234567%20c");
  // Written in groups and glued to a word at either end: judged whole.
  CHECK(scrub_text("(11) 98765-4321ok") == "(**) *****-**21ok");  // 11 digits: the last 2
  CHECK(scrub_text("11 98765 4321x") == "** ***** **21x");
  CHECK(scrub_text("CPF529 982 247 25") == "CPF*** *** *** 25");
}

TEST_CASE("scrub_text masks a number next to a word that starts or ends with a digit") {
  CHECK(scrub_text("Cliente 11 98765-4321 2a via do boleto") ==
        "Cliente ** *****-**21 2a via do boleto");  // 11 digits: the last 2 stay
  CHECK(scrub_text("CPF 123.456.789-09 3x sem sucesso") == "CPF ***.***.***-09 3x sem sucesso");
  CHECK(scrub_text("ref A1 123.456.789-09") == "ref A1 ***.***.***-09");
  CHECK(scrub_text("v2 5511987654321") == "v2 *********4321");
  CHECK(scrub_text("pedido 2b 11 98765-4321 3c") == "pedido 2b ** *****-**21 3c");
  // Glued to a word, from 11 digits: a CPF, a phone with its area code.
  CHECK(scrub_text("cpf12345678909") == "cpf*********09");
  CHECK(scrub_text("phone_5511987654321") == "phone_*********4321");
  // 10 digits in an id: left alone, unless shaped like a phone with its area code.
  CHECK(scrub_text("ab1034567890") == "ab1034567890");
  CHECK(scrub_text("ab1234567890") == "ab******7890");
  // Pasted separators: a no-break space and an en dash.
  CHECK(scrub_text("+55 (11) 98765\u20134321") == "+** (**) *****\u20134321");
  CHECK(scrub_text("11\u00A098765-4321") == "**\u00A0*****-**21");
  // Both no-break spaces end the group glued to a word: the 8-digit number is judged alone.
  CHECK(scrub_text("v2\u00A098765432") == "v2\u00A0****5432");
  CHECK(scrub_text("v2\u202F98765432") == "v2\u202F****5432");
}

TEST_CASE("scrub_text leaves uuids alone") {
  const std::string id = "60844598-1db7-4516-8828-45e6d1e9bc17";
  CHECK(scrub_text("conversation " + id + " not found") == "conversation " + id + " not found");
  CHECK(scrub_text("id=" + id + ",") == "id=" + id + ",");
  CHECK(scrub_text("(" + id + ")") == "(" + id + ")");
  CHECK(scrub_text("conversation_" + id) == "conversation_" + id);
  CHECK(scrub_text("retry 3 " + id) == "retry 3 " + id);  // a number before it stops there
  CHECK(scrub_text("60844598-1DB7-4516-8828-45E6D1E9BC17") ==
        "60844598-1DB7-4516-8828-45E6D1E9BC17");
  CHECK(scrub_text("a0844598-1db7-4516-8828-45e6d1e9bc17") ==
        "a0844598-1db7-4516-8828-45e6d1e9bc17");
  // Whatever their digits: before, about 7% of them had a digit run masked.
  std::mt19937_64 rng(20240501);
  const char* hex = "0123456789abcdef";
  for (int n = 0; n < 2000; ++n) {
    std::string u;
    for (int k = 0; k < 32; ++k) {
      if (k == 8 || k == 12 || k == 16 || k == 20) u += '-';
      u += hex[rng() % 16];
    }
    INFO(u);
    CHECK(scrub_text("conversation " + u + " not found") == "conversation " + u + " not found");
  }
  // Not a uuid's shape (a group too long, glued to a word): judged as before.
  CHECK(scrub_text("60844598-1db7-4516-8828-5511987654321") ==
        "60844598-1db*-****-****-*********4321");
  CHECK(scrub_text("x60844598-1db7-4516-8828-45e6d1e9bc17") !=
        "x60844598-1db7-4516-8828-45e6d1e9bc17");
  // A phone next to one is still masked.
  CHECK(scrub_text(id + " 5511987654321") == id + " *********4321");
  CHECK(scrub_text("11 98765-4321 " + id) == "** *****-**21 " + id);
}

TEST_CASE("scrub_text leaves dates and money amounts alone") {
  CHECK(scrub_text("vence em 10/05/2024") == "vence em 10/05/2024");
  CHECK(scrub_text("vence em 1/5/2024.") == "vence em 1/5/2024.");
  CHECK(scrub_text("criado 2024-05-01 10:30") == "criado 2024-05-01 10:30");
  CHECK(scrub_text("10/05/2024 10:30:15 ok") == "10/05/2024 10:30:15 ok");
  CHECK(scrub_text("at=2024-05-01T10:30:00.123Z") == "at=2024-05-01T10:30:00.123Z");
  CHECK(scrub_text("R$ 12.345.678,90") == "R$ 12.345.678,90");
  CHECK(scrub_text("total 1.234.567.890,12 pago") == "total 1.234.567.890,12 pago");
  CHECK(scrub_text("R$123.456.789,09") == "R$123.456.789,09");  // money after R$
  // Not a date (no such month, day or year), or part of a longer number: judged as before.
  CHECK(scrub_text("10/13/2024") == "**/**/2024");
  CHECK(scrub_text("3456-78-90") == "****-78-90");
  CHECK(scrub_text("1/10/05/2024") == "*/**/**/2024");
  CHECK(scrub_text("12.345.678") == "**.**5.678");  // no decimal comma: not money
  // Phones and documents next to them are still masked.
  CHECK(scrub_text("10/05/2024 11 98765-4321") == "10/05/2024 ** *****-**21");
  CHECK(scrub_text("98765-4321 10/05/2024 10:30") == "*****-4321 10/05/2024 10:30");
  CHECK(scrub_text("nasc 12/05/1990 cpf 123.456.789-09") == "nasc 12/05/1990 cpf ***.***.***-09");
  CHECK(scrub_text("R$ 12.345.678,90 11 98765-4321") == "R$ 12.345.678,90 ** *****-**21");
  CHECK(scrub_text("R$ 12.345.678,90 12.345.678/0001-95") == "R$ 12.345.678,90 **.***.***/****-95");
}

TEST_CASE("scrub_text still masks documents and phones in every usual spelling") {
  CHECK(scrub_text("cpf 123.456.789-09") == "cpf ***.***.***-09");
  CHECK(scrub_text("cpf 123.456.789,09") == "cpf ***.***.***,09");  // a CPF's shape, not money
  CHECK(scrub_text("cpf 12345678909") == "cpf *********09");
  CHECK(scrub_text("cnpj 12.345.678/0001-95") == "cnpj **.***.***/****-95");
  CHECK(scrub_text("cnpj 12345678000195") == "cnpj ************95");
  CHECK(scrub_text("(11) 98765-4321") == "(**) *****-**21");
  CHECK(scrub_text("+55 11 9 8765-4321") == "+** ** * ****-4321");
  CHECK(scrub_text("+55 (11) 98765-4321") == "+** (**) *****-4321");
  CHECK(scrub_text("5511987654321") == "*********4321");
  CHECK(scrub_text("11987654321") == "*********21");
  CHECK(scrub_text("11 98765-4321") == "** *****-**21");
  CHECK(scrub_text("98765-4321") == "*****-4321");
  CHECK(scrub_text("9 8765-4321") == "* ****-4321");
  CHECK(scrub_text("8765-4321") == "****-4321");
  CHECK(scrub_text("98765.4321") == "*****.4321");
}

TEST_CASE("scrub_text masks an alphanumeric CNPJ written as a word, in either case") {
  CHECK(scrub_text("cnpj 12.ABC.345/01DE-35 ok") == "cnpj **.***.***/****-35 ok");
  CHECK(scrub_text("cnpj 12.abc.345/01de-35") == "cnpj **.***.***/****-35");
  CHECK(scrub_text("cnpj 12ABC34501DE35") == "cnpj ************35");
  CHECK(scrub_text("(ZZ9ZZ9ZZ900001)") == "(************01)");
  // In lower case without its marks it is an id's shape (a hex id passes the check digits
  // about once in 250): left alone.
  CHECK(scrub_text("evt 12abc34501de35") == "evt 12abc34501de35");
  CHECK(scrub_text("evt 6477acc70e8370") == "evt 6477acc70e8370");
  // Wrong check digits, glued to a word, or no letter (a digit run's to judge): left alone.
  CHECK(scrub_text("pedido 12ABC34501DE36") == "pedido 12ABC34501DE36");
  CHECK(scrub_text("x12ABC34501DE35") == "x12ABC34501DE35");
  CHECK(scrub_text("12ABC34501DE35x") == "12ABC34501DE35x");
  CHECK(scrub_text("cnpj 12345678000195") == "cnpj ************95");
}

TEST_CASE("scrub_text masks a mobile without its area code glued to a word") {
  CHECK(scrub_text("fone98765-4321") == "fone*****-4321");
  CHECK(scrub_text("9 8765-4321ok") == "* ****-4321ok");
  CHECK(scrub_text("tel9 8765 4321") == "tel* **** 4321");
  CHECK(scrub_text("tel8765-4321") == "tel****-4321");
  CHECK(scrub_text("cel98765 4321.") == "cel***** 4321.");
  CHECK(scrub_text("fone98765\u20134321") == "fone*****\u20134321");
  CHECK(scrub_text("fone9876-5432 1") == "fone****-5432 1");  // the glued group alone
  CHECK(scrub_text("ligar 8765-4321x") == "ligar ****-4321x");
  CHECK(scrub_text("tel11-3456-7890") == "tel**-****-7890");  // a landline, 10 digits
  // A CPF typed with a comma, glued to a word, is no amount.
  CHECK(scrub_text("fone123.456.789,09") == "fone***.***.***,09");
  CHECK(scrub_text("cpf123.456.789,09 ok") == "cpf***.***.***,09 ok");
  CHECK(scrub_text("cpf123.456.789,09x") == "cpf***.***.***,09x");
  CHECK(scrub_text("pix1.234,56") == "pix1.234,56");  // an amount's digits are too few
  // A phone with its area code, 10 digits glued to a word, is masked too.
  CHECK(scrub_text("tel1134567890") == "tel******7890");
  CHECK(scrub_text("phone_2198765432 ok") == "phone_******5432 ok");
  // Other shapes glued to a word stay readable below 11 digits.
  CHECK(scrub_text("v2-1234") == "v2-1234");
  CHECK(scrub_text("ab123-4567") == "ab123-4567");
  CHECK(scrub_text("order0123456789") == "order0123456789");  // no area code starts with 0
  CHECK(scrub_text("run1101234567") == "run1101234567");      // nor a number with 0 or 1
}

TEST_CASE("log lines are valid JSON and mask by default") {
  Captured c;
  auto log = c.logger();
  log.info("message from 5511987654321",
           {f::phone("from", "5511987654321"), f::body("text", "quero cancelar"),
            f::document("cpf", "12345678909"), f::id("conversation_id", "c-1"), f::num("n", 3),
            f::flag("ok", true), f::secret("token"), f::num("offset", 9007199254740993),
            f::num("low", INT64_MIN)});
  REQUIRE(c.lines.size() == 1);
  rapidjson::Document d;
  d.Parse(c.lines[0].c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["level"].GetString()) == "info");
  CHECK(std::string(d["service"].GetString()) == "test");
  CHECK(std::string(d["msg"].GetString()) == "message from *********4321");
  CHECK(std::string(d["from"].GetString()) == "*********4321");
  CHECK(std::string(d["text"].GetString()) == "[masked 14 bytes]");
  CHECK(std::string(d["cpf"].GetString()) == "*********09");
  CHECK(std::string(d["conversation_id"].GetString()) == "c-1");
  CHECK(d["n"].GetInt() == 3);
  CHECK(d["offset"].GetInt64() == 9007199254740993);  // 2^53 + 1: a double has no such value
  CHECK(d["low"].GetInt64() == INT64_MIN);
  CHECK(d["ok"].GetBool());
  CHECK(std::string(d["token"].GetString()) == "***");
  CHECK(c.lines[0].find("quero") == std::string::npos);
}

TEST_CASE("a log line stays valid UTF-8 JSON whatever bytes it is given") {
  Captured c;
  auto log = c.logger();
  // A cut multi-byte character, a lone continuation byte, a surrogate and control characters.
  log.warn("bad \xC3 \x80 \xED\xA0\x80 tab\tbell\x07 \"q\" \\",
           {f::id("peer", "caf\xC3\xA9\xFF"), f::id("form", "\b\f\r\n")});
  REQUIRE(c.lines.size() == 1);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(c.lines[0].c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["msg"].GetString()) ==
        "bad \xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD tab\tbell\x07 "
        "\"q\" \\");
  CHECK(std::string(d["peer"].GetString()) == "caf\xC3\xA9\xEF\xBF\xBD");
  CHECK(std::string(d["form"].GetString()) == "\b\f\r\n");
}

TEST_CASE("unmask shows personal data, levels filter, context is added") {
  Captured c;
  auto log = c.logger(true, Level::warn).with({f::id("component", "outbox")});
  log.info("dropped");
  log.warn("kept", {f::phone("from", "5511987654321"), f::body("text", "a \"quoted\"\nline")});
  REQUIRE(c.lines.size() == 1);
  rapidjson::Document d;
  d.Parse(c.lines[0].c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["component"].GetString()) == "outbox");
  CHECK(std::string(d["from"].GetString()) == "5511987654321");
  CHECK(std::string(d["text"].GetString()) == "a \"quoted\"\nline");
}
