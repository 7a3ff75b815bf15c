// Phones, taxpayer documents and message templates: what customers, agents and campaign
// files (collections' CSV uploads) type in.
// Properties:
//   - phones: a normalized number normalizes to itself; an error never repeats the digits it
//     was given (LGPD: errors end up in logs);
//   - documents: a parsed document formats and parses back to itself; errors never repeat
//     the document;
//   - templates: a template whose placeholders can be listed renders once every one of them
//     has a value, and passes validation against that list.

#include <string>
#include <vector>

#include <lia/domain/document.hpp>
#include <lia/domain/phone.hpp>
#include <lia/domain/template.hpp>

#include "fuzz.hpp"

namespace {

using lia::fuzz::require;
namespace domain = lia::domain;

// The longest run of ASCII digits in `s`.
std::size_t longest_digit_run(std::string_view s) {
  std::size_t best = 0;
  std::size_t run = 0;
  for (char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

void phone(std::string_view input) {
  auto p = domain::normalize_phone(input);
  if (!p) {
    require(longest_digit_run(p.error().message()) < 6, "a phone error never shows the number",
            p.error().message());
    return;
  }
  require(p->digits.size() >= 8 && p->digits.size() <= 15, "E.164 has 8 to 15 digits", p->digits);
  auto again = domain::normalize_phone(p->e164());
  require(again && *again == *p, "a normalized phone normalizes to itself", p->digits);
  auto jid = domain::normalize_phone(domain::to_whatsapp_jid(*p));
  require(jid && *jid == *p, "a phone's WhatsApp JID normalizes to the phone", p->digits);
}

void document(std::string_view input) {
  auto d = domain::parse_document(input);
  if (!d) {
    require(longest_digit_run(d.error().message()) < 6, "a document error never shows the document",
            d.error().message());
    return;
  }
  auto again = domain::parse_document(domain::format_document(*d));
  require(again && *again == *d, "a formatted document parses back to itself", d->value);
}

void templates(std::string_view input) {
  auto names = domain::template_placeholders(input);
  if (!names) return;
  domain::TemplateVars vars;
  for (const auto& n : *names) vars[n] = "{{" + n + "}}";
  auto rendered = domain::render_template(input, vars);
  require(rendered.ok(), "a template renders once every placeholder has a value",
          rendered.ok() ? std::string() : rendered.error().message());
  require(domain::validate_template(input, *names).ok(),
          "a template validates against its own placeholders");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;
  switch (pick % 3) {
    case 0:
      phone(input);
      break;
    case 1:
      document(input);
      break;
    default:
      templates(input);
      break;
  }
  return 0;
}
