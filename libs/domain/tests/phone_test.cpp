#include <algorithm>
#include <iterator>
#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/phone.hpp>

using lia::core::Errc;
using lia::domain::is_valid_ddd;
using lia::domain::jid_kind;
using lia::domain::JidKind;
using lia::domain::normalize_phone;
using lia::domain::normalize_wa_id;
using lia::domain::Phone;
using lia::domain::PhoneKind;
using lia::domain::to_whatsapp_jid;

TEST_CASE("normalize_phone accepts the forms a Brazilian number arrives in") {
  struct Case {
    std::string in;
    std::string digits;
    PhoneKind kind = PhoneKind::international;
  };
  const Case cases[] = {
      {"5511987654321", "5511987654321", PhoneKind::br_mobile},
      {"+55 (11) 98765-4321", "5511987654321", PhoneKind::br_mobile},
      {"+5511987654321", "5511987654321", PhoneKind::br_mobile},
      {"11987654321", "5511987654321", PhoneKind::br_mobile},
      {"(11) 98765-4321", "5511987654321", PhoneKind::br_mobile},
      {"  11 9 8765.4321 \n", "5511987654321", PhoneKind::br_mobile},
      {"011987654321", "5511987654321", PhoneKind::br_mobile},
      // Long distance from Brazil: 0 + carrier + DDD + number.
      {"0 15 11 98765-4321", "5511987654321", PhoneKind::br_mobile},
      {"0 21 11 98765-4321", "5511987654321", PhoneKind::br_mobile},
      {"015 15 3232-1234", "551532321234", PhoneKind::br_landline},
      {"005511987654321", "5511987654321", PhoneKind::br_mobile},
      {"0021 55 11 98765-4321", "5511987654321", PhoneKind::br_mobile},  // 00 + carrier 21
      {"0015 55 11 3456-7890", "551134567890", PhoneKind::br_landline},
      {"5511987654321@s.whatsapp.net", "5511987654321", PhoneKind::br_mobile},
      {"5511987654321:23@s.whatsapp.net", "5511987654321", PhoneKind::br_mobile},
      {"5511987654321@c.us", "5511987654321", PhoneKind::br_mobile},
      // mobiles reported without the ninth digit get it back
      {"551187654321", "5511987654321", PhoneKind::br_mobile},
      {"551187654321@s.whatsapp.net", "5511987654321", PhoneKind::br_mobile},
      {"1187654321", "5511987654321", PhoneKind::br_mobile},
      {"+55 21 6123-4567", "5521961234567", PhoneKind::br_mobile},
      {"557199123456", "5571999123456", PhoneKind::br_mobile},
      {"559281234567", "5592981234567", PhoneKind::br_mobile},
      // landlines stay with 8 digits
      {"551134567890", "551134567890", PhoneKind::br_landline},
      {"(11) 3456-7890", "551134567890", PhoneKind::br_landline},
      {"+55 51 2123-4567", "555121234567", PhoneKind::br_landline},
      {"554140041234", "554140041234", PhoneKind::br_landline},
      {"555551234567", "555551234567", PhoneKind::br_landline},  // DDD 55 (Santa Maria, RS)
      {"(55) 99876-5432", "5555998765432", PhoneKind::br_mobile},
      {"(55) 3222-1234", "555532221234", PhoneKind::br_landline},
      // other countries keep their digits
      {"+1 415 555 2671", "14155552671", PhoneKind::international},
      {"14155552671@s.whatsapp.net", "14155552671", PhoneKind::international},
      {"+351 912 345 678", "351912345678", PhoneKind::international},
      {"+49 30 1234", "49301234", PhoneKind::international},              // 8 digits
      {"+123456789012345", "123456789012345", PhoneKind::international},  // 15 digits
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto p = normalize_phone(c.in);
    REQUIRE(p.ok());
    CHECK(p->digits == c.digits);
    CHECK(p->kind == c.kind);
  }
}

TEST_CASE("every accepted form of one mobile gives the same phone") {
  const Phone expected{"5511987654321", PhoneKind::br_mobile};
  for (const char* in : {"5511987654321", "+55 (11) 98765-4321", "11987654321",
                         "5511987654321@s.whatsapp.net", "551187654321"}) {
    INFO(in);
    auto p = normalize_phone(in);
    REQUIRE(p.ok());
    CHECK(*p == expected);
  }
}

TEST_CASE("normalize_phone rejects what is not a phone, with a clear error") {
  struct Case {
    std::string in;
    std::string message_part;
  };
  const Case cases[] = {
      {"", "empty"},
      {"   ", "empty"},
      {"120363025246125244@g.us", "group"},
      {"1234567890@g.us", "group"},
      {"123456789012345@lid", "@lid"},
      {"status@broadcast", "broadcast"},
      {"120363@newsletter", "newsletter"},
      {"5511987654321@example.com", "unknown JID server"},
      {"@s.whatsapp.net", "digits"},
      {"55119876x4321@s.whatsapp.net", "digits"},
      {"5511987654321:ab@s.whatsapp.net", "device"},
      {"abc", "unexpected character"},
      {"55 11 98765-4321 ramal 2", "unexpected character"},
      {"55+11987654321", "'+'"},
      {"+", "no digits"},
      {"()-", "no digits"},
      {"987654321", "DDD"},  // 9 digits: no area code
      {"87654321", "DDD"},
      {"1098765432", "DDD 10"},  // not an area code
      {"2098765432", "DDD 20"},
      {"5520987654321", "DDD 20"},
      {"5590987654321", "DDD 90"},
      {"11887654321", "start with 9"},  // 9-digit subscriber not starting with 9
      {"1112345678", "2-5"},            // 8-digit subscriber starting with 1
      {"1102345678", "2-5"},
      {"55119876543210", "DDD"},  // 14 digits with 55: too long for Brazil
      {"+55 11 98765", "DDD"},    // too short after 55
      {"+0 11 98765 4321", "country code"},
      {"+1234567", "8 to 15"},
      {"+1234567890123456", "8 to 15"},
      {"0119876543", "trunk prefix"},
      // A digit too many after the trunk prefix is no carrier code (not written apart).
      {"011 98765-43210", "trunk prefix"},
      {"011 3456-789012", "trunk prefix"},
      {"01511987654321", "trunk prefix"},
      // A digit too many, or another country's number without '+': never a foreign number.
      {"(11) 99876-54321", "(DDD)"},
      {"(55) 99876-54321", "(DDD)"},  // area code 55, not the country code
      {"(55)9876-543", "(DDD)"},
      {"351912345678", "'+'"},
      {"119987654321", "'+'"},
      // From Brazil, 00 takes a carrier before the country code: 21 here, or Morocco's 212?
      {"0021 1 415 555 2671", "carrier"},
      {"00351912345678", "carrier"},
      {std::string(100, '1'), "too long"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto p = normalize_phone(c.in);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code() == Errc::invalid_argument);
    CHECK_FALSE(p.error().retryable());
    CHECK_THAT(p.error().message(), Catch::Contains(c.message_part));
  }
}

TEST_CASE("phone errors never repeat the number") {
  for (const char* in : {"1187654321x", "11887654321", "5520987654321", "123456789012345@lid"}) {
    auto p = normalize_phone(in);
    REQUIRE_FALSE(p.ok());
    CHECK_THAT(p.error().message(), !Catch::Contains("87654321"));
    CHECK_THAT(p.error().message(), !Catch::Contains("123456789"));
  }
}

TEST_CASE("is_valid_ddd knows the 67 Brazilian area codes") {
  const int valid[] = {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33,
                       34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55,
                       61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82,
                       83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99};
  int count = 0;
  for (int d = -5; d < 120; ++d) {
    const bool expected = std::find(std::begin(valid), std::end(valid), d) != std::end(valid);
    INFO(d);
    CHECK(is_valid_ddd(d) == expected);
    if (is_valid_ddd(d)) ++count;
  }
  CHECK(count == 67);
  for (int d : {10, 20, 23, 25, 26, 29, 30, 36, 39, 40, 50, 52,
                56, 57, 58, 59, 60, 70, 72, 76, 78, 80, 90}) {
    CHECK_FALSE(is_valid_ddd(d));
  }
}

TEST_CASE("Phone accessors and the WhatsApp JID") {
  auto p = normalize_phone("+55 (21) 98765-4321");
  REQUIRE(p.ok());
  CHECK(p->brazilian());
  CHECK(p->ddd() == "21");
  CHECK(p->e164() == "+5521987654321");
  CHECK(to_whatsapp_jid(*p) == "5521987654321@s.whatsapp.net");

  auto intl = normalize_phone("+1 415 555 2671");
  REQUIRE(intl.ok());
  CHECK_FALSE(intl->brazilian());
  CHECK(intl->ddd().empty());
  CHECK(to_whatsapp_jid(*intl) == "14155552671@s.whatsapp.net");

  // A JID round-trips through normalization.
  auto again = normalize_phone(to_whatsapp_jid(*p));
  REQUIRE(again.ok());
  CHECK(*again == *p);
}

TEST_CASE("normalize_wa_id reads digits as carrying their country code") {
  struct Case {
    std::string_view input, digits;
    PhoneKind kind;
  };
  const Case cases[] = {
      {"14155552671", "14155552671", PhoneKind::international},    // US, 11 digits
      {"6591234567", "6591234567", PhoneKind::international},      // Singapore, 10 digits
      {"351912345678", "351912345678", PhoneKind::international},  // Portugal
      {"79991234567", "79991234567", PhoneKind::international},    // Russia, not DDD 79
      {"5511987654321", "5511987654321", PhoneKind::br_mobile},    // Brazil
      {"551187654321", "5511987654321", PhoneKind::br_mobile},     // its ninth digit added
      {"+551134567890", "551134567890", PhoneKind::br_landline},   // '+' allowed
      {"6591234567@s.whatsapp.net", "6591234567", PhoneKind::international},
      {"551187654321:3@s.whatsapp.net", "5511987654321", PhoneKind::br_mobile},
  };
  for (const auto& c : cases) {
    INFO(c.input);
    auto p = normalize_wa_id(c.input);
    REQUIRE(p.ok());
    CHECK(p->digits == c.digits);
    CHECK(p->kind == c.kind);
  }
  // normalize_phone reads the same 10 or 11 digits as a Brazilian DDD + number.
  CHECK(normalize_phone("6591234567")->digits == "5565991234567");
  CHECK_FALSE(normalize_phone("14155552671").ok());

  for (std::string_view bad : {"", "11 98765-4321", "0055119876", "abc", "1234567",
                               "120363000000000000@g.us", "123456789@lid", "5599187654321"}) {
    INFO(bad);
    auto p = normalize_wa_id(bad);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().message().rfind("phone: ", 0) == 0);
  }
}

TEST_CASE("jid_kind classifies JIDs by server") {
  CHECK(jid_kind("5511987654321@s.whatsapp.net") == JidKind::user);
  CHECK(jid_kind("5511987654321@c.us") == JidKind::user);
  CHECK(jid_kind("120363025246125244@g.us") == JidKind::group);
  CHECK(jid_kind("123456789@lid") == JidKind::lid);
  CHECK(jid_kind("status@broadcast") == JidKind::broadcast);
  CHECK(jid_kind("1203630@newsletter") == JidKind::newsletter);
  CHECK(jid_kind("5511987654321") == JidKind::not_a_jid);
  CHECK(jid_kind("x@y.z") == JidKind::unknown);
  CHECK(to_string(JidKind::lid) == "lid");
  CHECK(to_string(PhoneKind::br_landline) == "br_landline");
}

TEST_CASE(
    "chat_spellings: the chat first, then its number bare and as a JID, with and without "
    "a Brazilian mobile's ninth digit") {
  using lia::domain::chat_spellings;
  using V = std::vector<std::string>;
  CHECK(chat_spellings("551187654321") == V{"551187654321", "5511987654321",
                                            "5511987654321@s.whatsapp.net",
                                            "551187654321@s.whatsapp.net"});
  CHECK(chat_spellings("5511987654321@s.whatsapp.net") == V{"5511987654321@s.whatsapp.net",
                                                            "5511987654321", "551187654321",
                                                            "551187654321@s.whatsapp.net"});
  // A mobile whose number after the 9 starts 2 to 5 was never written without it: that form
  // is a landline, another person's.
  CHECK(chat_spellings("5511934567890") == V{"5511934567890", "5511934567890@s.whatsapp.net"});
  // A landline has one spelling; so has a number abroad.
  CHECK(chat_spellings("551140028922") == V{"551140028922", "551140028922@s.whatsapp.net"});
  CHECK(chat_spellings("14155552671") == V{"14155552671", "14155552671@s.whatsapp.net"});
  // No phone: itself only.
  CHECK(chat_spellings("103899771998284@lid") == V{"103899771998284@lid"});
  CHECK(chat_spellings("120363025246125486@g.us") == V{"120363025246125486@g.us"});
}
