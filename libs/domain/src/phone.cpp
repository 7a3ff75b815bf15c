#include <algorithm>
#include <array>
#include <vector>

#include <lia/core/text.hpp>
#include <lia/domain/phone.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;

namespace {

constexpr std::size_t kMaxInput = 64;

Error bad(const std::string& message) {
  return Error(Errc::invalid_argument, "phone: " + message);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Validates DDD + subscriber (10 or 11 digits) and builds the Brazilian phone.
Result<Phone> brazilian(std::string_view national) {
  if (national.size() != 10 && national.size() != 11) {
    return bad("a Brazilian number needs a 2-digit DDD and an 8- or 9-digit subscriber number");
  }
  const int ddd = (national[0] - '0') * 10 + (national[1] - '0');
  if (!is_valid_ddd(ddd)) {
    return bad("DDD " + std::string(national.substr(0, 2)) + " is not a Brazilian area code");
  }
  const std::string_view subscriber = national.substr(2);
  const char first = subscriber.front();
  if (subscriber.size() == 9) {
    if (first != '9') return bad("a 9-digit Brazilian number must start with 9 (mobile)");
    return Phone{"55" + std::string(national), PhoneKind::br_mobile};
  }
  if (first >= '2' && first <= '5') {
    return Phone{"55" + std::string(national), PhoneKind::br_landline};
  }
  if (first >= '6' && first <= '9') {
    // A mobile reported without its ninth digit.
    return Phone{"55" + std::string(national.substr(0, 2)) + "9" + std::string(subscriber),
                 PhoneKind::br_mobile};
  }
  return bad("an 8-digit Brazilian number must start with 2-5 (landline) or 6-9 (mobile)");
}

// Digits that carry their country code.
Result<Phone> with_country_code(std::string_view digits) {
  if (digits.front() == '0') return bad("a country code cannot start with 0");
  if (digits.substr(0, 2) == "55") return brazilian(digits.substr(2));
  if (digits.size() < 8 || digits.size() > 15) {
    return bad("an international number must have 8 to 15 digits");
  }
  return Phone{std::string(digits), PhoneKind::international};
}

Result<Phone> from_jid(std::string_view jid) {
  const auto at = jid.find('@');
  std::string_view user = jid.substr(0, at);
  switch (jid_kind(jid)) {
    case JidKind::user:
      break;
    case JidKind::group:
      return bad("a group JID (@g.us) is not a phone");
    case JidKind::lid:
      return bad("a @lid JID is not a phone; resolve it to the contact's number first");
    case JidKind::broadcast:
      return bad("a broadcast JID is not a phone");
    case JidKind::newsletter:
      return bad("a newsletter JID is not a phone");
    case JidKind::not_a_jid:
    case JidKind::unknown:
      return bad("unknown JID server");
  }
  // Multi-device JIDs carry ":<device>" after the user.
  if (const auto colon = user.find(':'); colon != std::string_view::npos) {
    if (!all_digits(user.substr(colon + 1))) return bad("malformed device suffix in JID");
    user = user.substr(0, colon);
  }
  if (!all_digits(user)) return bad("the user part of a JID must be digits");
  // WhatsApp JIDs always carry the country code.
  return with_country_code(user);
}

}  // namespace

std::string_view to_string(PhoneKind k) noexcept {
  switch (k) {
    case PhoneKind::br_mobile:
      return "br_mobile";
    case PhoneKind::br_landline:
      return "br_landline";
    case PhoneKind::international:
      return "international";
  }
  return "unknown";
}

std::string_view Phone::ddd() const noexcept {
  if (!brazilian() || digits.size() < 4) return {};
  return std::string_view(digits).substr(2, 2);
}

bool is_valid_ddd(int ddd) noexcept {
  static constexpr std::array<int, 67> kDdds = {
      11, 12, 13, 14, 15, 16, 17, 18, 19,  // SP
      21, 22, 24,                          // RJ
      27, 28,                              // ES
      31, 32, 33, 34, 35, 37, 38,          // MG
      41, 42, 43, 44, 45, 46,              // PR
      47, 48, 49,                          // SC
      51, 53, 54, 55,                      // RS
      61,                                  // DF
      62, 64,                              // GO
      63,                                  // TO
      65, 66,                              // MT
      67,                                  // MS
      68,                                  // AC
      69,                                  // RO
      71, 73, 74, 75, 77,                  // BA
      79,                                  // SE
      81, 87,                              // PE
      82,                                  // AL
      83,                                  // PB
      84,                                  // RN
      85, 88,                              // CE
      86, 89,                              // PI
      91, 93, 94,                          // PA
      92, 97,                              // AM
      95,                                  // RR
      96,                                  // AP
      98, 99,                              // MA
  };
  for (int d : kDdds) {
    if (d == ddd) return true;
  }
  return false;
}

JidKind jid_kind(std::string_view jid) noexcept {
  const auto at = jid.find('@');
  if (at == std::string_view::npos) return JidKind::not_a_jid;
  const std::string_view server = jid.substr(at + 1);
  if (server == "s.whatsapp.net" || server == "c.us") return JidKind::user;
  if (server == "g.us") return JidKind::group;
  if (server == "lid") return JidKind::lid;
  if (server == "broadcast") return JidKind::broadcast;
  if (server == "newsletter") return JidKind::newsletter;
  return JidKind::unknown;
}

std::string_view to_string(JidKind k) noexcept {
  switch (k) {
    case JidKind::user:
      return "user";
    case JidKind::group:
      return "group";
    case JidKind::lid:
      return "lid";
    case JidKind::broadcast:
      return "broadcast";
    case JidKind::newsletter:
      return "newsletter";
    case JidKind::not_a_jid:
      return "not_a_jid";
    case JidKind::unknown:
      return "unknown";
  }
  return "unknown";
}

Result<Phone> normalize_phone(std::string_view input) {
  const std::string_view s = core::trim(input);
  if (s.empty()) return bad("empty");
  if (s.size() > kMaxInput) return bad("too long");
  if (s.find('@') != std::string_view::npos) return from_jid(s);

  // Free-form: digits with the usual separators, '+' only in front.
  std::string digits;
  bool plus = false;
  std::vector<std::size_t> breaks;  // how many digits came before each separator
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '+') {
      if (i != 0) return bad("'+' may only start the number");
      plus = true;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return bad(
          "unexpected character; only digits, spaces, '+', '-', '.', '(' and ')' are allowed");
    } else {
      breaks.push_back(digits.size());
    }
  }
  const auto break_after = [&](std::size_t n) {
    return std::find(breaks.begin(), breaks.end(), n) != breaks.end();
  };
  if (digits.empty()) return bad("no digits");
  if (plus) return with_country_code(digits);

  std::string_view d = digits;
  // "(55) 99876-54321": an area code in parentheses is a national number, whatever its digits
  // (DDD 55 is also Brazil's country code).
  if (s.size() >= 4 && s[0] == '(' && s[3] == ')') {
    if (d.size() != 10 && d.size() != 11) {
      return bad("after a (DDD) a Brazilian number needs 8 or 9 digits");
    }
    return brazilian(d);
  }
  if (d.substr(0, 2) == "00") {
    // Dialled from Brazil, 00 is followed by a two-digit carrier and then the country code:
    // only Brazil's 55 tells which is which.
    d.remove_prefix(2);
    if (d.substr(0, 2) == "55") return with_country_code(d);
    if ((d.size() == 14 || d.size() == 15) && d.substr(2, 2) == "55") return brazilian(d.substr(4));
    return bad(
        "after 00 a carrier code may come before the country code; write a number of another "
        "country with '+' and its country code");
  }
  if (d.front() == '0') {
    d.remove_prefix(1);  // national trunk prefix: 0 + DDD + number
    // Long distance within Brazil: 0 + a two-digit carrier + DDD + number ("0 15 11 98765-4321",
    // "015 (11) 3456-7890"), the carrier and the DDD written apart: "011 98765-43210" is a
    // digit too many, not carrier 11.
    if ((d.size() == 12 || d.size() == 13) && break_after(3) && break_after(5)) {
      return brazilian(d.substr(2));
    }
    if (d.size() != 10 && d.size() != 11) {
      return bad(
          "after the trunk prefix 0 a Brazilian number needs 10 or 11 digits (12 or 13 with a "
          "carrier code)");
    }
    return brazilian(d);
  }
  if (d.size() == 10 || d.size() == 11) return brazilian(d);  // DDD + number, +55 assumed
  if (d.size() < 10) return bad("too few digits; include the DDD (area code)");
  // 12 digits or more: Brazil's own country code, or a Brazilian number with a digit too many
  // (which must not become some other country's number).
  if (d.substr(0, 2) != "55") {
    return bad(
        "too many digits for a Brazilian number; write a number of another country with '+' "
        "and its country code");
  }
  return with_country_code(d);
}

Result<Phone> normalize_wa_id(std::string_view input) {
  const std::string_view s = core::trim(input);
  if (s.empty()) return bad("empty");
  if (s.size() > kMaxInput) return bad("too long");
  if (s.find('@') != std::string_view::npos) return from_jid(s);
  const std::string_view d = s.front() == '+' ? s.substr(1) : s;
  if (!all_digits(d)) return bad("a WhatsApp id must be digits with their country code");
  return with_country_code(d);
}

std::string to_whatsapp_jid(const Phone& phone) {
  return phone.digits + "@s.whatsapp.net";
}

std::vector<std::string> chat_spellings(std::string_view chat) {
  std::vector<std::string> out{std::string(chat)};
  auto phone = normalize_wa_id(chat);
  if (!phone) phone = normalize_phone(chat);
  if (!phone) return out;
  const std::string& digits = phone->digits;
  std::vector<std::string> numbers{digits};
  // A Brazilian mobile (55, two area digits, 9 and eight more) that WhatsApp may name without
  // its ninth digit: only one whose shorter form reads back as it (8 digits from 6 to 9, as
  // mobiles were numbered before it). "5511934567890" without its 9 is a landline, someone else.
  if (digits.size() == 13 && digits.starts_with("55") && digits[4] == '9') {
    std::string shorter = digits.substr(0, 4) + digits.substr(5);
    if (auto back = normalize_wa_id(shorter); back && back->digits == digits) {
      numbers.push_back(std::move(shorter));
    }
  }
  for (const auto& n : numbers) {
    for (std::string s : {n, n + "@s.whatsapp.net"}) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace lia::domain
