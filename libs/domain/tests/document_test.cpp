#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/document.hpp>

using lia::core::Errc;
using lia::domain::detect_document_type;
using lia::domain::Document;
using lia::domain::DocumentType;
using lia::domain::format_document;
using lia::domain::is_valid_cnpj;
using lia::domain::is_valid_cpf;
using lia::domain::normalize_document;
using lia::domain::parse_document;
using lia::domain::redact_documents;

TEST_CASE("CPF check digits") {
  for (const char* ok : {"529.982.247-25", "52998224725", "111.444.777-35", "123.456.789-09",
                         "000.000.001-91", " 529 982 247 25 "}) {
    INFO(ok);
    CHECK(is_valid_cpf(ok));
  }
  for (const char* bad : {"529.982.247-24", "529.982.247-15", "52998224726", "12345678900",
                          "5299822472", "529982247255", "", "abc", "529.982.247-2X"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_cpf(bad));
  }
}

TEST_CASE("CPF and CNPJ made of one repeated digit are rejected") {
  for (char d = '0'; d <= '9'; ++d) {
    INFO(d);
    CHECK_FALSE(is_valid_cpf(std::string(11, d)));
    CHECK_FALSE(is_valid_cnpj(std::string(14, d)));
    CHECK_FALSE(parse_document(std::string(11, d)).ok());
  }
}

TEST_CASE("CNPJ check digits, numeric and alphanumeric") {
  for (const char* ok : {"11.222.333/0001-81", "11222333000181", "11.444.777/0001-61",
                         "12.345.678/0001-95", "12.ABC.345/01DE-35", "12abc34501de35"}) {
    INFO(ok);
    CHECK(is_valid_cnpj(ok));
  }
  for (const char* bad :
       {"11.222.333/0001-82", "11.222.333/0001-91", "12.ABC.345/01DE-36", "12.ABC.345/01DF-35",
        "12.ABC.345/01DE-3A", "1122233300018", "112223330001811", "529.982.247-25"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_cnpj(bad));
  }
}

TEST_CASE("normalize_document keeps digits and upper-cased letters only") {
  auto a = normalize_document("123.456.789-09");
  REQUIRE(a.ok());
  CHECK(*a == "12345678909");
  auto b = normalize_document("12.abc.345/01de-35");
  REQUIRE(b.ok());
  CHECK(*b == "12ABC34501DE35");
  for (const char* bad : {"", " . - / ", "123_456", "123,456", "12345678909\n", "çpf"}) {
    INFO(bad);
    auto r = normalize_document(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == Errc::invalid_argument);
  }
  CHECK_FALSE(normalize_document(std::string(200, '1')).ok());
}

TEST_CASE("detect_document_type goes by shape") {
  CHECK(detect_document_type("12345678909") == DocumentType::cpf);
  CHECK(detect_document_type("12345678000195") == DocumentType::cnpj);
  CHECK(detect_document_type("12ABC34501DE35") == DocumentType::cnpj);
  CHECK_FALSE(detect_document_type("1234567890").has_value());
  CHECK_FALSE(detect_document_type("1234567890A").has_value());     // letters: not a CPF
  CHECK_FALSE(detect_document_type("12ABC34501DEAB").has_value());  // check digits are digits
  CHECK_FALSE(detect_document_type("").has_value());
}

TEST_CASE("parse_document validates, types and formats") {
  auto cpf = parse_document("529.982.247-25");
  REQUIRE(cpf.ok());
  CHECK(cpf->type == DocumentType::cpf);
  CHECK(cpf->value == "52998224725");
  CHECK(format_document(*cpf) == "529.982.247-25");
  CHECK(to_string(cpf->type) == "CPF");

  auto cnpj = parse_document("11222333000181");
  REQUIRE(cnpj.ok());
  CHECK(cnpj->type == DocumentType::cnpj);
  CHECK(format_document(*cnpj) == "11.222.333/0001-81");
  CHECK(to_string(cnpj->type) == "CNPJ");

  auto alnum = parse_document("12abc34501de35");
  REQUIRE(alnum.ok());
  CHECK(format_document(*alnum) == "12.ABC.345/01DE-35");

  // Formatting is the inverse of parsing.
  auto again = parse_document(format_document(*cnpj));
  REQUIRE(again.ok());
  CHECK(*again == *cnpj);

  // A value that is not normalized comes back as it is.
  CHECK(format_document(Document{DocumentType::cpf, "123"}) == "123");
}

TEST_CASE("parse_document errors say what is wrong without echoing the document") {
  struct Case {
    const char* in = nullptr;
    const char* part = nullptr;
  };
  const Case cases[] = {
      {"529.982.247-24", "CPF check digits"},
      {"11.222.333/0001-82", "CNPJ check digits"},
      {"1234", "got 4 characters"},
      {"123456789012", "got 12 characters"},
      {"1234567890A", "got 11 characters"},
      {"529;982", "unexpected character"},
      {"", "empty"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto r = parse_document(c.in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == Errc::invalid_argument);
    CHECK_THAT(r.error().message(), Catch::Contains(c.part));
    CHECK_THAT(r.error().message(), !Catch::Contains("982"));
  }
}

TEST_CASE("redact_documents hides valid CPFs and CNPJs in free text, and nothing else") {
  CHECK(redact_documents("meu cpf é 529.982.247-25, obrigado") == "meu cpf é [CPF], obrigado");
  CHECK(redact_documents("CPF:52998224725") == "CPF:[CPF]");
  CHECK(redact_documents("cnpj 11.222.333/0001-81.") == "cnpj [CNPJ].");
  CHECK(redact_documents("11222333000181 e 529.982.247-25") == "[CNPJ] e [CPF]");
  CHECK(redact_documents("cpf 529 982 247 25 ok") == "cpf [CPF] ok");
  CHECK(redact_documents("CPF52998224725") == "CPF[CPF]");
  CHECK(redact_documents("protocolo OUV-52998224725X") == "protocolo OUV-[CPF]X");
  // Beside another number, one separator apart: a CEP, a phone, another document.
  CHECK(redact_documents("cpf 529.982.247-25 01310-100") == "cpf [CPF] 01310-100");
  CHECK(redact_documents("01310-100 529.982.247-25") == "01310-100 [CPF]");
  CHECK(redact_documents("11 98765-4321 529.982.247-25") == "11 98765-4321 [CPF]");
  CHECK(redact_documents("529.982.247-25/11.222.333/0001-81") == "[CPF]/[CNPJ]");
  CHECK(redact_documents("13 90285-1078 529.982.247-25") == "13 90285-1078 [CPF]");
  // Some separators left off, or a comma typed for the last one, beside another number.
  CHECK(redact_documents("cpf 529982247-25 01310-100") == "cpf [CPF] 01310-100");
  CHECK(redact_documents("fone529.982.247,25") == "fone[CPF]");
  CHECK(redact_documents("cpf 529.982.247,25 01310-100") == "cpf [CPF] 01310-100");
  CHECK(redact_documents("cnpj 11222333/0001-81 01310-100") == "cnpj [CNPJ] 01310-100");
  CHECK(redact_documents("cnpj 112223330001-81 01310-100") == "cnpj [CNPJ] 01310-100");
  CHECK(redact_documents("doc 11.222.333/000181 01310-100") == "doc [CNPJ] 01310-100");
  // A number whose digits and a CNPJ's first two pass a CPF's check by chance: both hidden,
  // not the CNPJ's other twelve digits left in the clear.
  CHECK(redact_documents("protocolo 123.456.712 11.222.333/0001-81 ok") ==
        "protocolo [CPF][CNPJ] ok");
  CHECK(redact_documents("123 456 712 11 222 333 0001 81") == "[CPF][CNPJ]");
  // A piece between commas is judged whole too.
  CHECK(redact_documents("cpf 529.982.24725,2") == "cpf [CPF],2");
  CHECK(redact_documents("3,529982247-25,11.222.333/0001-81") == "3,[CPF],[CNPJ]");
  // After "R$" an amount is an amount, though its digits pass a CPF's check; a document after
  // it is still found, glued or not.
  CHECK(redact_documents("R$ 529.982.247,25") == "R$ 529.982.247,25");
  CHECK(redact_documents("r$529.982.247,25 ok") == "r$529.982.247,25 ok");
  CHECK(redact_documents("R$\u00a0529.982.247,25") == "R$\u00a0529.982.247,25");
  CHECK(redact_documents("R$\u202f529.982.247,25") == "R$\u202f529.982.247,25");
  CHECK(redact_documents("R$ 10,00 529.982.247-25") == "R$ 10,00 [CPF]");
  CHECK(redact_documents("R$10,00/529.982.247-25") == "R$10,00/[CPF]");
  CHECK(redact_documents("R$50,00-52998224725") == "R$50,00-[CPF]");
  CHECK(redact_documents("R$5,52998224725") == "R$5,[CPF]");
  CHECK(redact_documents("R$ 52998224725") == "R$ [CPF]");  // no amount's shape
  // Not documents, though their digits together pass a CPF's check: a list, and a 9-digit
  // number and a 2-digit one apart by a space beside another number (9-2 is written with a
  // dash).
  for (const char* keep : {"quantidades 12,34,56,78,909", "987654321 00 01310-100"}) {
    INFO(keep);
    CHECK(redact_documents(keep) == keep);
  }
  // Inside a longer run only a document's own shape counts: these digits pass a CPF's check
  // when taken together, but are a phone and a date with a number.
  for (const char* keep : {"+55 65 95760-2906", "dia 07/07/2024 2736297"}) {
    INFO(keep);
    CHECK(redact_documents(keep) == keep);
  }
  // Not documents: wrong check digits, a CEP, a phone, an amount, a date.
  for (const char* keep :
       {"cpf 529.982.247-26", "CEP 01310-100", "ligue +55 11 98765-4321", "R$ 1.234,50",
        "111.111.111-11", "dia 10/12", "52998224725123", "CEP 01310 100", "tel 11 98765 4321"}) {
    INFO(keep);
    CHECK(redact_documents(keep) == keep);
  }
  CHECK(redact_documents("") == "");
}

TEST_CASE("redact_documents hides alphanumeric CNPJs and documents with spaced or pasted dashes") {
  CHECK(redact_documents("meu cnpj é 12.ABC.345/01DE-35") == "meu cnpj é [CNPJ]");
  CHECK(redact_documents("cnpj 12abc34501de35, ok") == "cnpj [CNPJ], ok");
  CHECK(redact_documents("(12.ABC.345/01DE-35)") == "([CNPJ])");
  // Its check digits wrong, or glued inside a longer word: left as it is.
  CHECK(redact_documents("12.ABC.345/01DE-36") == "12.ABC.345/01DE-36");
  CHECK(redact_documents("X12ABC34501DE35") == "X12ABC34501DE35");
  // A separator with spaces around it, a no-break space, a dash pasted from a document.
  CHECK(redact_documents("CPF 529.982.247 - 25") == "CPF [CPF]");
  CHECK(redact_documents("CPF 529.982.247 / 25") == "CPF [CPF]");
  CHECK(redact_documents("CNPJ 11.222.333/0001 - 81") == "CNPJ [CNPJ]");
  CHECK(redact_documents("CPF 529.982.247\u201325") == "CPF [CPF]");
  CHECK(redact_documents("CPF 529.982.247\u221225") == "CPF [CPF]");
  CHECK(redact_documents("529\u00A0982\u00A0247\u00A025") == "[CPF]");
  // A spaced mark may also end the sentence the document ends: the pieces are tried alone.
  CHECK(redact_documents("CPF 529982247 25 - 3 meses sem internet") ==
        "CPF [CPF] - 3 meses sem internet");
  CHECK(redact_documents("Meu CPF é 529982247 25. 2 boletos em aberto") ==
        "Meu CPF é [CPF]. 2 boletos em aberto");
  CHECK(redact_documents("CPF 529982.247-25. 2 boletos") == "CPF [CPF]. 2 boletos");
  CHECK(redact_documents("CPF 5299822 4725 - 2 vias") == "CPF [CPF] - 2 vias");
  // Numbers that are no document stay, with their spaced dashes.
  CHECK(redact_documents("das 10 - 12h, sala 3 / 4") == "das 10 - 12h, sala 3 / 4");
  CHECK(redact_documents("R$ 1.234,56 - 529.982.247-25") == "R$ 1.234,56 - [CPF]");
}
