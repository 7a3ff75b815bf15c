#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/domain/template.hpp>

using lia::core::Errc;
using lia::domain::render_template;
using lia::domain::template_placeholders;
using lia::domain::TemplateVars;
using lia::domain::validate_template;

TEST_CASE("render_template fills named placeholders") {
  const TemplateVars vars = {
      {"agentName", "Ana"}, {"clientName", "João"}, {"1", "ABC123"}, {"protocolo.numero", "42"}};
  struct Case {
    const char* tmpl = nullptr;
    const char* out = nullptr;
  };
  const Case cases[] = {
      {"Olá {{clientName}}, sou {{agentName}}.", "Olá João, sou Ana."},
      {"Olá {{ clientName }}!", "Olá João!"},
      {"{{agentName}}{{agentName}}", "AnaAna"},
      {"Código {{1}}", "Código ABC123"},
      {"Protocolo {{protocolo.numero}}", "Protocolo 42"},
      {"Olá! Sou *{agentName}*, assumindo seu atendimento. Como posso ajudar?",
       "Olá! Sou *Ana*, assumindo seu atendimento. Como posso ajudar?"},
      {"sem variáveis", "sem variáveis"},
      {"", ""},
      {"chaves { soltas } e {1} e { agentName } ficam",
       "chaves { soltas } e {1} e { agentName } ficam"},
      {"fim com {", "fim com {"},
      {"fim com }}", "fim com }}"},
      {"{{agentName}}}", "Ana}"},
      {"{agentName}}", "Ana}"},
  };
  for (const auto& c : cases) {
    INFO(c.tmpl);
    auto r = render_template(c.tmpl, vars);
    REQUIRE(r.ok());
    CHECK(*r == c.out);
  }
}

TEST_CASE("render_template with positional values") {
  const std::vector<std::string> values = {"Ana", "10/12"};
  auto r = render_template("Olá {{1}}, seu boleto vence em {{2}}. {{ 1 }}!", values);
  REQUIRE(r.ok());
  CHECK(*r == "Olá Ana, seu boleto vence em 10/12. Ana!");

  auto missing = render_template("{{1}} {{3}} {{name}}", values);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "template: missing variables: 3, name");
}

TEST_CASE("missing variables are named, each once") {
  const TemplateVars vars = {{"a", "1"}};
  auto r = render_template("{{a}} {{b}} {c} {{b}} {{d}}", vars);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == Errc::invalid_argument);
  CHECK(r.error().message() == "template: missing variables: b, c, d");

  auto one = render_template("Olá {{nome}}", TemplateVars{});
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().message() == "template: missing variable: nome");
}

TEST_CASE("values are not expanded again") {
  const TemplateVars vars = {{"a", "{{b}}"}, {"b", "segredo"}, {"c", "{b}"}};
  auto r = render_template("{{a}} {{c}}", vars);
  REQUIRE(r.ok());
  CHECK(*r == "{{b}} {b}");
  // A value may even be a placeholder for itself.
  auto self = render_template("{{a}}", TemplateVars{{"a", "{{a}}"}});
  REQUIRE(self.ok());
  CHECK(*self == "{{a}}");
}

TEST_CASE("malformed templates are errors with the offset") {
  struct Case {
    const char* tmpl = nullptr;
    const char* part = nullptr;
  };
  const Case cases[] = {
      {"Olá {{nome", "unclosed '{{' at offset 5"},
      {"{{}}", "invalid placeholder at offset 0"},
      {"{{   }}", "invalid placeholder"},
      {"x {{a b}}", "invalid placeholder at offset 2"},
      {"{{0}}", "invalid placeholder"},
      {"{{01}}", "invalid placeholder"},
      {"{{1a}}", "invalid placeholder"},
      {"{{-x}}", "invalid placeholder"},
      {"{{{x}}}", "invalid placeholder"},
      {"{{ a } b }}", "invalid placeholder"},
  };
  for (const auto& c : cases) {
    INFO(c.tmpl);
    auto r = render_template(c.tmpl, TemplateVars{{"a", "1"}, {"x", "2"}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == Errc::invalid_argument);
    CHECK_THAT(r.error().message(), Catch::Contains(c.part));
  }
}

TEST_CASE("template_placeholders lists distinct names in order") {
  auto r = template_placeholders("{{b}} {a} {{ b }} {{1}} {{a}}");
  REQUIRE(r.ok());
  CHECK(*r == std::vector<std::string>{"b", "a", "1"});
  auto none = template_placeholders("nada aqui { }");
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(template_placeholders("{{").ok());
}

TEST_CASE("validate_template checks declared variables") {
  const std::vector<std::string> declared = {"agentName", "clientName"};
  CHECK(validate_template("Olá {{clientName}}, sou *{agentName}*", declared).ok());
  CHECK(validate_template("sem variáveis", declared).ok());
  auto st = validate_template("{{agentName}} {{protocolo}} {{1}}", declared);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message() == "template: undeclared variables: protocolo, 1");
  CHECK_FALSE(validate_template("{{agentName", declared).ok());
}
