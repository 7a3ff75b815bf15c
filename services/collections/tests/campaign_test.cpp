// Unit tests of collections' pure parts: campaign validation, template variables, hours
// decisions, recipients, settings, the produced data (validated against the schemas) and the
// API's guards.

#include <string>
#include <variant>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/collections/api.hpp>
#include <lia/collections/app.hpp>
#include <lia/collections/campaign.hpp>
#include <lia/collections/handlers.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>

using namespace lia;
using namespace lia::collections;
using namespace std::chrono_literals;

namespace {

// 2026-11-23 is a Monday.
core::SysTime utc(int y, unsigned m, unsigned d, int h, int min) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}} +
         std::chrono::hours{h} + std::chrono::minutes{min};
}

std::string body(const std::string& targets, const std::string& extra = "") {
  // `extra` (members and a trailing comma) takes the place of a default of the same name: a
  // body that repeats a name is refused as a whole.
  std::string fields;
  for (const std::string& member :
       {std::string(R"("name":"Cobrança novembro",)"),
        std::string(
            R"("template":"Olá {{name}}, sua fatura de {{valor}} vence em {{vencimento}}.",)"),
        std::string(R"("allowed_hours":{"start":"08:00","end":"20:00","days":"seg-sex"},)"),
        std::string(R"("max_attempts":2,)"), std::string(R"("spacing_minutes":60,)")}) {
    // (a member of `extra` itself: first, or after a comma; not one inside its objects)
    const std::string name = member.substr(0, member.find(':') + 1);
    if (extra.rfind(name, 0) != 0 && extra.find(',' + name) == std::string::npos) {
      fields += member;
    }
  }
  return "{" + extra + fields + R"("targets":[)" + targets + "]}";
}

const std::string kGood =
    R"({"name":"Maria Silva","phone":"+55 (11) 98765-4321","document":"529.982.247-25","debt_amount":1234.5,"due_date":"2026-11-30"})";

Invalid expect_invalid(const std::string& text) {
  auto r = parse_campaign(text, CampaignDefaults{});
  REQUIRE(std::holds_alternative<Invalid>(r));
  return std::get<Invalid>(r);
}

}  // namespace

TEST_CASE("a valid campaign is read with normalized targets") {
  auto r = parse_campaign(
      body(
          kGood + "," +
          R"({"name":"Loja X","phone":"21 3456-7890","document":"11.222.333/0001-81","debt_amount":99,"due_date":"2026-12-01"})"),
      CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(r));
  const auto& c = std::get<CampaignInput>(r);
  CHECK(c.name == "Cobrança novembro");
  CHECK(c.max_attempts == 2);
  CHECK(c.spacing_minutes == 60);
  CHECK(c.status == "active");
  CHECK(c.provider == "evolution");
  CHECK(c.instance == kDefaultInstance);
  CHECK(c.hours.days == domain::WeekdaySet::monday_to_friday());
  REQUIRE(c.targets.size() == 2);
  CHECK(c.targets[0].phone == "5511987654321");
  CHECK(c.targets[0].document == std::optional<std::string>("52998224725"));
  CHECK(c.targets[0].document_type == std::optional<std::string>("CPF"));
  CHECK(c.targets[0].debt_cents == 123450);
  CHECK(c.targets[1].phone == "552134567890");
  CHECK(c.targets[1].document_type == std::optional<std::string>("CNPJ"));
}

TEST_CASE("defaults fill what the request leaves out") {
  CampaignDefaults d;
  d.max_attempts = 5;
  d.spacing_minutes = 30;
  d.provider = "meta";
  d.instance = "106540352242922";
  auto r = parse_campaign(
      R"({"name":"n","template":"Oi {{name}}","meta_template":{"name":"cobranca","language":"pt_BR"},"targets":[{"name":"A","phone":"11987654321","debt_amount":10,"due_date":"2026-01-31"}]})",
      d);
  REQUIRE(std::holds_alternative<CampaignInput>(r));
  const auto& c = std::get<CampaignInput>(r);
  CHECK(c.max_attempts == 5);
  CHECK(c.spacing_minutes == 30);
  CHECK(c.provider == "meta");
  CHECK(c.hours.start == "08:00");
}

TEST_CASE("validation errors name the field and the target index") {
  auto bad_phone = expect_invalid(body(
      kGood + "," + R"({"name":"B","phone":"12345","debt_amount":1,"due_date":"2026-11-30"})"));
  CHECK(bad_phone.field == "targets[1].phone");
  CHECK(bad_phone.target == std::optional<std::size_t>(1));
  CHECK(bad_phone.message.find("12345") == std::string::npos);  // no number in errors

  auto bad_cpf = expect_invalid(body(
      R"({"name":"B","phone":"11987654321","document":"123.456.789-00","debt_amount":1,"due_date":"2026-11-30"})"));
  CHECK(bad_cpf.field == "targets[0].document");
  CHECK(bad_cpf.target == std::optional<std::size_t>(0));

  auto dup = expect_invalid(
      body(kGood + "," +
           R"({"name":"B","phone":"5511987654321","debt_amount":1,"due_date":"2026-11-30"})"));
  CHECK(dup.field == "targets[1].phone");
  CHECK(dup.message.find("targets[0]") != std::string::npos);

  CHECK(
      expect_invalid(
          body(R"({"name":"B","phone":"11987654321","debt_amount":1.234,"due_date":"2026-11-30"})"))
          .field == "targets[0].debt_amount");
  CHECK(expect_invalid(
            body(R"({"name":"B","phone":"11987654321","debt_amount":-1,"due_date":"2026-11-30"})"))
            .field == "targets[0].debt_amount");
  // Nothing owed is no debt to collect: a zero (or a fraction of a cent) is a mistake in the
  // file, not a message "você deve R$ 0,00" to send.
  for (const char* amount : {"0", "0.00", "0.001"}) {
    INFO(amount);
    auto zero =
        expect_invalid(body(std::string(R"({"name":"B","phone":"11987654321","debt_amount":)") +
                            amount + R"(,"due_date":"2026-11-30"})"));
    CHECK(zero.field == "targets[0].debt_amount");
    CHECK(zero.message.find("positive") != std::string::npos);
  }
  CHECK(std::holds_alternative<CampaignInput>(parse_campaign(
      body(R"({"name":"B","phone":"11987654321","debt_amount":0.01,"due_date":"2026-11-30"})"),
      CampaignDefaults{})));
  // Large amounts keep their cents exactly, and a third decimal is still refused there.
  for (const char* amount : {"269448086.10", "142179870.67", "594512727.45", "99999999999.01"}) {
    INFO(amount);
    auto r =
        parse_campaign(body(std::string(R"({"name":"B","phone":"11987654321","debt_amount":)") +
                            amount + R"(,"due_date":"2026-11-30"})"),
                       CampaignDefaults{});
    REQUIRE(std::holds_alternative<CampaignInput>(r));
    std::string digits = amount;
    std::erase(digits, '.');
    CHECK(std::get<CampaignInput>(r).targets[0].debt_cents == std::stoll(digits));
  }
  CHECK(
      expect_invalid(
          body(
              R"({"name":"B","phone":"11987654321","debt_amount":123456789.471,"due_date":"2026-11-30"})"))
          .field == "targets[0].debt_amount");
  CHECK(expect_invalid(body(kGood, R"("instance":"lia-cobranca ",)")).field == "instance");
  CHECK(expect_invalid(
            body(R"({"name":"B","phone":"11987654321","debt_amount":1,"due_date":"2026-02-30"})"))
            .field == "targets[0].due_date");
  CHECK(expect_invalid(body(R"({"phone":"11987654321","debt_amount":1,"due_date":"2026-02-03"})"))
            .field == "targets[0].name");
  CHECK(expect_invalid(body("")).field == "targets");
  CHECK(expect_invalid("{").field == "body");
  CHECK(expect_invalid(body(kGood, R"("max_attempts":0,)")).field == "max_attempts");
  CHECK(expect_invalid(body(kGood, R"("provider":"telegram",)")).field == "provider");
  // A typo would leave the default in place: refused, named.
  auto typo = expect_invalid(body(kGood, R"("max_attempt":5,)"));
  CHECK(typo.field == "body");
  CHECK(typo.message.find("unknown field 'max_attempt'") == 0);
}

TEST_CASE("every invalid target is counted and the first hundred listed in one answer") {
  std::string targets = kGood;
  // 150 bad phones, a bad document, and a number already taken by targets[0].
  for (int i = 0; i < 150; ++i) {
    targets += R"(,{"name":"X","phone":"123","debt_amount":1,"due_date":"2026-11-30"})";
  }
  targets +=
      R"(,{"name":"C","phone":"21998765432","document":"111.111.111-11","debt_amount":1,"due_date":"2026-11-30"})"
      R"(,{"name":"D","phone":"11 98765-4321","debt_amount":1,"due_date":"2026-11-30"})"
      R"(,{"name":"E","phone":"31987651234","debt_amount":1,"due_date":"2026-11-30"})";
  auto bad = expect_invalid(body(targets));
  CHECK(bad.field == "targets[1].phone");  // the first one, as before
  CHECK(bad.target == std::optional<std::size_t>(1));
  CHECK(bad.invalid_targets == 152);
  REQUIRE(bad.targets.size() == kMaxListedTargetProblems);
  CHECK(bad.targets.front().index == 1);
  CHECK(bad.targets.back().index == 100);
  CHECK(bad.targets.back().field == "targets[100].phone");

  // The same request skipping them: the two valid targets, the rest counted and listed.
  auto r = parse_campaign(body(targets, R"("skip_invalid_targets":true,)"), CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(r));
  const auto& c = std::get<CampaignInput>(r);
  REQUIRE(c.targets.size() == 2);
  CHECK(c.targets[0].phone == "5511987654321");
  CHECK(c.targets[1].phone == "5531987651234");
  CHECK(c.skipped_count == 152);
  CHECK(c.skipped.size() == kMaxListedTargetProblems);

  // Few enough to list them all: the bad document and the repeated number, with their reasons.
  auto few = parse_campaign(
      body(
          kGood +
              R"(,{"name":"C","phone":"21998765432","document":"111.111.111-11","debt_amount":1,"due_date":"2026-11-30"})"
              R"(,{"name":"D","phone":"11 98765-4321","debt_amount":1,"due_date":"2026-11-30"})",
          R"("skip_invalid_targets":true,)"),
      CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(few));
  const auto& f = std::get<CampaignInput>(few);
  CHECK(f.targets.size() == 1);
  REQUIRE(f.skipped.size() == 2);
  CHECK(f.skipped[0].index == 1);
  CHECK(f.skipped[0].field == "targets[1].document");
  CHECK(f.skipped[1].index == 2);
  CHECK(f.skipped[1].message.find("the same number as targets[0]") != std::string::npos);

  // Nothing valid left: still a 400, naming every target.
  auto none =
      expect_invalid(body(R"({"name":"X","phone":"123","debt_amount":1,"due_date":"2026-11-30"})",
                          R"("skip_invalid_targets":true,)"));
  CHECK(none.field == "targets");
  CHECK(none.message == "no valid target among the 1 given");
  CHECK_FALSE(none.target.has_value());
  CHECK(none.invalid_targets == 1);
  CHECK(expect_invalid(body(kGood, R"("skip_invalid_targets":"yes",)")).field ==
        "skip_invalid_targets");
}

TEST_CASE("a repeated number is the later target's fault, even after an invalid one") {
  // targets[0] has a bad due date; targets[1] repeats its number: both are named at once.
  const std::string targets =
      R"({"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-02-30"},)"
      R"({"name":"B","phone":"+55 11 98765-4321","document":"111.111.111-11","debt_amount":1,"due_date":"2026-11-30"},)"
      R"({"name":"C","phone":"21998765432","debt_amount":1,"due_date":"2026-11-30"})";
  auto bad = expect_invalid(body(targets));
  CHECK(bad.field == "targets[0].due_date");
  CHECK(bad.invalid_targets == 2);
  REQUIRE(bad.targets.size() == 2);
  // The repeat is found before the bad document, as it always was.
  CHECK(bad.targets[1].field == "targets[1].phone");
  CHECK(bad.targets[1].message.find("the same number as targets[0]") != std::string::npos);

  // Whatever is wrong with the earlier one: here its name.
  const std::string nameless =
      R"({"name":"","phone":"11987654321","debt_amount":1,"due_date":"2026-11-30"},)"
      R"({"name":"B","phone":"+55 11 98765-4321","debt_amount":1,"due_date":"2026-11-30"})";
  auto both = expect_invalid(body(nameless));
  CHECK(both.field == "targets[0].name");
  CHECK(both.invalid_targets == 2);
  REQUIRE(both.targets.size() == 2);
  CHECK(both.targets[1].message.find("the same number as targets[0]") != std::string::npos);
}

TEST_CASE("a problem every target shares is listed cut short, the first one whole") {
  // A hundred variables no target fills: each target's message names them all (~1.5 KB).
  std::string tmpl = "Olá {{name}},";
  for (int k = 0; k < 100; ++k) tmpl += " {{protocolo_" + std::to_string(k) + "}}";
  std::string targets;
  for (int i = 0; i < 150; ++i) {
    if (i > 0) targets += ",";
    targets += R"({"name":"N","phone":"5511987)" + std::to_string(650000 + i) +
               R"(","debt_amount":1,"due_date":"2026-11-30"})";
  }
  const std::string request =
      R"({"name":"C","template":")" + tmpl +
      R"(","allowed_hours":{"start":"08:00","end":"20:00","days":"seg-sex"},"targets":[)" +
      targets + "]}";
  auto bad = expect_invalid(request);
  CHECK(bad.field == "template");
  CHECK(bad.invalid_targets == 150);
  REQUIRE(bad.targets.size() == kMaxListedTargetProblems);
  std::size_t listed_bytes = 0;
  for (const auto& p : bad.targets) {
    CHECK(p.message.size() <= kMaxProblemBytes);
    listed_bytes += p.message.size();
  }
  CHECK(listed_bytes <= kMaxListedTargetProblems * kMaxProblemBytes);
  CHECK(bad.message.size() > 1000);  // the error's own message is whole
  CHECK(bad.message.find("protocolo_99") != std::string::npos);
  CHECK(bad.targets[0].message.size() == kMaxProblemBytes);
  CHECK(bad.targets[0].message == bad.message.substr(0, bad.targets[0].message.size()));
}

TEST_CASE("template problems: malformed, or a variable a target cannot fill") {
  auto malformed = expect_invalid(
      R"({"name":"n","template":"Oi {{name","targets":[{"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-01-31"}]})");
  CHECK(malformed.field == "template");
  CHECK_FALSE(malformed.target);

  const std::string tmpl =
      R"({"name":"n","template":"Oi {{name}}, contrato {{contrato}}","targets":[)";
  auto ok = parse_campaign(
      tmpl +
          R"({"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-01-31","vars":{"contrato":"C-9"}}]})",
      CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(ok));
  CHECK(std::get<CampaignInput>(ok).targets[0].vars.at("contrato") == "C-9");

  auto missing = expect_invalid(
      tmpl +
      R"({"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-01-31","vars":{"contrato":"C-9"}},)"
      R"({"name":"B","phone":"11987654322","debt_amount":1,"due_date":"2026-01-31"}]})");
  CHECK(missing.field == "template");
  CHECK(missing.target == std::optional<std::size_t>(1));
  CHECK(missing.message.find("contrato") != std::string::npos);

  // A message that renders to nothing could only fail at its first send.
  auto blank = expect_invalid(
      R"({"name":"n","template":"{{msg}}","targets":[)"
      R"({"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-01-31","vars":{"msg":"x"}},)"
      R"({"name":"B","phone":"11987654322","debt_amount":1,"due_date":"2026-01-31","vars":{"msg":" "}}]})");
  CHECK(blank.field == "template");
  CHECK(blank.target == std::optional<std::size_t>(1));
  CHECK(blank.message == "targets[1]: the rendered message is empty");
}

TEST_CASE("allowed hours are validated") {
  auto reversed = expect_invalid(
      R"({"name":"n","template":"x","allowed_hours":{"start":"20:00","end":"08:00"},"targets":[)" +
      kGood + "]}");
  CHECK(reversed.field == "allowed_hours");
  auto bad_days = expect_invalid(
      R"({"name":"n","template":"x","allowed_hours":{"start":"08:00","end":"18:00","days":"someday"},"targets":[)" +
      kGood + "]}");
  CHECK(bad_days.field == "allowed_hours.days");
  // A misspelt "days" would send on the default days.
  auto typo = expect_invalid(
      R"({"name":"n","template":"x","allowed_hours":{"start":"09:00","end":"12:00","dias":"sab"},"targets":[)" +
      kGood + "]}");
  CHECK(typo.field == "allowed_hours");
  CHECK(typo.message.find("unknown field 'allowed_hours.dias'") == 0);
  auto arr = parse_campaign(
      R"({"name":"n","template":"x","allowed_hours":{"start":"8:00","end":"14:00","days":["sab",0]},"targets":[)" +
          kGood + "]}",
      CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(arr));
  const auto& c = std::get<CampaignInput>(arr);
  CHECK(c.hours.start == "08:00");
  CHECK(weekday_names(c.hours.days) == std::vector<std::string>{"dom", "sab"});

  // What is left out keeps its default: only the days, or only the end.
  CampaignDefaults d;
  d.hours.start = "09:00";
  d.hours.end = "18:00";
  auto days_only = parse_campaign(
      R"({"name":"n","template":"x","allowed_hours":{"days":"seg-sab"},"targets":[)" + kGood + "]}",
      d);
  REQUIRE(std::holds_alternative<CampaignInput>(days_only));
  CHECK(std::get<CampaignInput>(days_only).hours.start == "09:00");
  CHECK(std::get<CampaignInput>(days_only).hours.end == "18:00");
  CHECK(weekday_names(std::get<CampaignInput>(days_only).hours.days).size() == 6);
  auto end_only = parse_campaign(
      R"({"name":"n","template":"x","allowed_hours":{"end":"12:00"},"targets":[)" + kGood + "]}",
      d);
  REQUIRE(std::holds_alternative<CampaignInput>(end_only));
  CHECK(std::get<CampaignInput>(end_only).hours.start == "09:00");
  CHECK(std::get<CampaignInput>(end_only).hours.end == "12:00");
  auto empty_start = expect_invalid(
      R"({"name":"n","template":"x","allowed_hours":{"start":""},"targets":[)" + kGood + "]}");
  CHECK(empty_start.field == "allowed_hours.start");
}

TEST_CASE("template variables: name, valor in reais, vencimento as dd/mm/yyyy") {
  CHECK(format_brl(0) == "R$ 0,00");
  CHECK(format_brl(5) == "R$ 0,05");
  CHECK(format_brl(123450) == "R$ 1.234,50");
  CHECK(format_brl(123456789) == "R$ 1.234.567,89");
  CHECK(format_due_date("2026-11-30") == "30/11/2026");
  auto text = domain::render_template(
      "Olá {{name}}, {{valor}} vence em {{vencimento}} ({{extra}})",
      template_vars("Maria", 9990, "2026-12-05", {{"extra", "x"}, {"name", "no"}}));
  REQUIRE(text.ok());
  CHECK(*text == "Olá Maria, R$ 99,90 vence em 05/12/2026 (x)");
}

TEST_CASE("hours decisions, the window end and the next allowed instant") {
  AllowedHours h{"08:00", "20:00", domain::WeekdaySet::monday_to_friday()};
  auto hours = contact_hours(h, std::chrono::minutes{-180});
  REQUIRE(hours.ok());
  // Monday 10:00 local = 13:00 UTC: allowed, the window ends 20:00 local = 23:00 UTC.
  const auto monday = utc(2026, 11, 23, 13, 0);
  CHECK(hours->allowed_at(monday));
  auto end = window_end(*hours, monday);
  REQUIRE(end);
  CHECK(core::format_rfc3339(*end) == "2026-11-23T23:00:00.000Z");
  // Monday 21:00 local: closed until Tuesday 08:00 local (11:00 UTC).
  auto late = hours->check(utc(2026, 11, 24, 0, 0));
  CHECK_FALSE(late.allowed);
  REQUIRE(late.next_allowed);
  CHECK(core::format_rfc3339(*late.next_allowed) == "2026-11-24T11:00:00.000Z");
  CHECK(local_time_text(*late.next_allowed, std::chrono::minutes{-180}) ==
        "2026-11-24 08:00 (UTC-03:00)");
  CHECK_FALSE(window_end(*hours, utc(2026, 11, 24, 0, 0)));
  // A window to midnight goes on when the next day's starts at midnight, up to 12 hours from
  // now: an all-day window on Monday 23:59:50 local does not end 10 s later.
  auto all_day = contact_hours({"00:00", "24:00", domain::WeekdaySet::monday_to_friday()},
                               std::chrono::minutes{-180});
  REQUIRE(all_day.ok());
  const auto before_midnight = utc(2026, 11, 24, 2, 59) + std::chrono::seconds{50};
  CHECK(core::format_rfc3339(*window_end(*all_day, before_midnight)) == "2026-11-24T14:59:50.000Z");
  // Earlier in the day, midnight is more than 12 hours away: the window's own end.
  CHECK(core::format_rfc3339(*window_end(*all_day, monday)) == "2026-11-24T03:00:00.000Z");
  // Friday 20:00 local: Saturday is not allowed, so the window ends at midnight.
  CHECK(core::format_rfc3339(*window_end(*all_day, utc(2026, 11, 27, 23, 0))) ==
        "2026-11-28T03:00:00.000Z");
  // A window to midnight whose next day starts later ends at midnight.
  auto evening = contact_hours({"18:00", "24:00", domain::WeekdaySet::monday_to_friday()},
                               std::chrono::minutes{-180});
  REQUIRE(evening.ok());
  CHECK(core::format_rfc3339(*window_end(*evening, utc(2026, 11, 24, 1, 0))) ==
        "2026-11-24T03:00:00.000Z");
  // Saturday noon: next is Monday 08:00 local.
  auto saturday = hours->check(utc(2026, 11, 28, 15, 0));
  CHECK_FALSE(saturday.allowed);
  CHECK(core::format_rfc3339(*saturday.next_allowed) == "2026-11-30T11:00:00.000Z");
  CHECK_FALSE(
      contact_hours({"08:00", "20:00", domain::WeekdaySet::none()}, std::chrono::minutes{-180})
          .ok());
}

TEST_CASE("recipients follow the provider's chat naming") {
  CHECK(recipient("meta", "5511987654321") == "5511987654321");
  CHECK(recipient("evolution", "5511987654321") == "5511987654321@s.whatsapp.net");
}

TEST_CASE("each attempt's send_text and message.requested match their schemas") {
  for (const char* provider : {"meta", "evolution"}) {
    Attempt a;
    a.campaign_id = core::Uuid::v7().str();
    a.target_id = core::Uuid::v7().str();
    a.attempt = 1;
    a.command_id = core::Uuid::v7().str();
    a.provider = provider;
    a.instance = "lia-cobranca";
    a.to = recipient(provider, "5511987654321");
    a.text = "Olá Maria, sua fatura vence amanhã.";
    a.not_after = utc(2026, 11, 23, 23, 0);
    auto cmd = events::SchemaRegistry::instance().validate(events::types::notification_send_text, 1,
                                                           send_text_data(a));
    if (!cmd) FAIL(cmd.error().message());
    auto ev = events::SchemaRegistry::instance().validate(
        events::types::collections_message_requested, 1, message_requested_data(a));
    if (!ev) FAIL(ev.error().message());
    CHECK(send_text_data(a).find(R"("priority":"bulk")") != std::string::npos);
    CHECK(send_text_data(a).find(R"("replayable":false)") != std::string::npos);
    CHECK(send_text_data(a).find(R"("not_after":"2026-11-23T23:00:00.000Z")") != std::string::npos);
    // What was sent rides along, for the conversation the debtor's answer opens.
    CHECK(message_requested_data(a).find(R"("text":"Olá Maria, sua fatura vence amanhã.")") !=
          std::string::npos);
  }
  Attempt t;
  t.campaign_id = t.target_id = t.command_id = core::Uuid::v7().str();
  t.provider = "meta";
  t.instance = "106540352242922";
  t.to = "5511987654321";
  t.meta_template = MetaTemplate{"cobranca_fatura", "pt_BR", {"Maria", "R$ 150,50"}};
  const auto requested = message_requested_data(t);
  auto ev = events::SchemaRegistry::instance().validate(
      events::types::collections_message_requested, 1, requested);
  if (!ev) FAIL(ev.error().message());
  CHECK(requested.find(R"("template":"cobranca_fatura","parameters":["Maria","R$ 150,50"])") !=
        std::string::npos);
  CHECK(requested.find(R"("text")") == std::string::npos);
}

TEST_CASE("a Meta campaign needs its approved template, and an Evolution one takes none") {
  const std::string meta =
      R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"cobranca_fatura","language":"pt_BR",)"
      R"("parameters":["{{name}}","{{valor}}","{{vencimento}}"]},)";
  auto ok = parse_campaign(body(kGood, meta), CampaignDefaults{});
  REQUIRE(std::holds_alternative<CampaignInput>(ok));
  const auto& c = std::get<CampaignInput>(ok);
  REQUIRE(c.meta_template.has_value());
  CHECK(c.meta_template->name == "cobranca_fatura");
  CHECK(c.meta_template->language == "pt_BR");
  CHECK(c.meta_template->parameters.size() == 3);
  // Stored and read back the same.
  auto back = parse_meta_template_json(meta_template_json(*c.meta_template));
  REQUIRE(back.has_value());
  CHECK(back->parameters == c.meta_template->parameters);
  auto rendered = render_meta_template(*c.meta_template,
                                       template_vars("Maria Silva", 123450, "2026-11-30", {}));
  REQUIRE(rendered.ok());
  CHECK(rendered->parameters ==
        std::vector<std::string>{"Maria Silva", "R$ 1.234,50", "30/11/2026"});

  // Without it, Meta would refuse (or silently not deliver) a message the business starts.
  auto none = expect_invalid(body(kGood, R"("provider":"meta","instance":"106540352242922",)"));
  CHECK(none.field == "meta_template");
  CHECK(none.message.find("approved") != std::string::npos);
  CHECK(expect_invalid(body(kGood, R"("meta_template":{"name":"x","language":"pt_BR"},)")).field ==
        "meta_template");  // the default provider is evolution
  CHECK(
      expect_invalid(
          body(
              kGood,
              R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"Cobrança",)"
              R"("language":"pt_BR"},)"))
          .field == "meta_template.name");
  CHECK(expect_invalid(
            body(kGood,
                 R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"x",)"
                 R"("language":"portuguese"},)"))
            .field == "meta_template.language");
  CHECK(expect_invalid(
            body(kGood,
                 R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"x",)"
                 R"("language":"pt_BR","parameters":["{{name"]},)"))
            .field == "meta_template.parameters[0]");
  CHECK(expect_invalid(
            body(kGood,
                 R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"x",)"
                 R"("language":"pt_BR","header":"y"},)"))
            .field == "meta_template");
  // A parameter a target cannot fill is that target's problem, as with the template.
  auto unfilled = expect_invalid(
      body(kGood, R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"x",)"
                  R"("language":"pt_BR","parameters":["{{contrato}}"]},)"));
  CHECK(unfilled.field == "meta_template");
  CHECK(unfilled.target == std::optional<std::size_t>(0));
}

TEST_CASE("a campaign on the other provider than the default names its instance") {
  CampaignDefaults d;  // evolution, lia-cobranca
  const std::string meta = R"("provider":"meta","meta_template":{"name":"x","language":"pt_BR"},)";
  auto missing = expect_invalid(body(kGood, meta));
  CHECK(missing.field == "instance");
  CHECK(missing.message.find("'instance' is required when 'provider' is meta") !=
        std::string::npos);
  auto named = parse_campaign(body(kGood, meta + R"("instance":"106540352242922",)"), d);
  REQUIRE(std::holds_alternative<CampaignInput>(named));
  CHECK(std::get<CampaignInput>(named).instance == "106540352242922");
  // A Meta instance is a phone number id: an Evolution instance's name is refused at once.
  auto named_wrong = expect_invalid(body(kGood, meta + R"("instance":"lia-meta",)"));
  CHECK(named_wrong.field == "instance");
  CHECK(named_wrong.message.find("phone number id") != std::string::npos);
  // The default provider keeps its default instance.
  auto same = parse_campaign(body(kGood, R"("provider":"evolution",)"), d);
  REQUIRE(std::holds_alternative<CampaignInput>(same));
  CHECK(std::get<CampaignInput>(same).instance == d.instance);
}

TEST_CASE("a Meta parameter Meta would refuse is the target's problem at creation") {
  const std::string meta =
      R"("provider":"meta","instance":"106540352242922","meta_template":{"name":"x",)"
      R"("language":"pt_BR","parameters":["{{name}}","{{contrato}}"]},)";
  const auto with_contract = [&](const std::string& contract) {
    return body(
        R"({"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-01-31","vars":{"contrato":")" +
            contract + R"("}})",
        meta);
  };
  for (const std::string bad : {"   ", "C-9\\nlinha 2", "C-9\\tx", "C-9     x"}) {
    INFO(bad);
    auto invalid = expect_invalid(with_contract(bad));
    CHECK(invalid.field == "meta_template");
    CHECK(invalid.target == std::optional<std::size_t>(0));
    CHECK(invalid.message.find("parameters[1]") != std::string::npos);
  }
  auto ok = parse_campaign(with_contract("C-9    x"), CampaignDefaults{});  // four spaces: fine
  CHECK(std::holds_alternative<CampaignInput>(ok));
}

TEST_CASE("a Meta attempt's send_template matches its schema") {
  Attempt a;
  a.campaign_id = core::Uuid::v7().str();
  a.target_id = core::Uuid::v7().str();
  a.command_id = core::Uuid::v7().str();
  a.provider = "meta";
  a.instance = "106540352242922";
  a.to = recipient("meta", "5511987654321");
  a.text = "Olá Maria";
  a.meta_template = MetaTemplate{"cobranca_fatura", "pt_BR", {"Maria", "R$ 10,00"}};
  a.not_after = utc(2026, 11, 23, 23, 0);
  const auto data = send_template_data(a);
  auto cmd = events::SchemaRegistry::instance().validate(events::types::notification_send_template,
                                                         1, data);
  if (!cmd) FAIL(cmd.error().message());
  CHECK(data.find(R"("template":{"name":"cobranca_fatura","language":"pt_BR","parameters":)"
                  R"(["Maria","R$ 10,00"]})") != std::string::npos);
  CHECK(data.find(R"("priority":"bulk")") != std::string::npos);
}

TEST_CASE("settings: defaults and bad values named") {
  auto env = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"}});
  const Settings s = read_settings(env);
  CHECK(env.problems().empty());
  CHECK(s.tick == 5000ms);
  CHECK(s.provider == "evolution");
  CHECK(s.instance == kDefaultInstance);
  CHECK(s.utc_offset == -180min);
  CHECK(s.max_in_flight == 200);

  auto bad = core::Env::from_map({{"LIA_COLLECTIONS_PROVIDER", "telegram"},
                                  {"LIA_COLLECTIONS_TICK_MS", "abc"},
                                  {"LIA_COLLECTIONS_UTC_OFFSET_MINUTES", "-9999"},
                                  {"LIA_COLLECTIONS_MAX_IN_FLIGHT", "0"}});
  (void)read_settings(bad);
  std::string all;
  for (const auto& p : bad.problems()) all += p + "\n";
  CHECK(all.find("LIA_JWT_SECRET") != std::string::npos);
  CHECK(all.find("LIA_COLLECTIONS_PROVIDER") != std::string::npos);
  CHECK(all.find("LIA_COLLECTIONS_TICK_MS") != std::string::npos);
  CHECK(all.find("LIA_COLLECTIONS_UTC_OFFSET_MINUTES") != std::string::npos);
  CHECK(all.find("LIA_COLLECTIONS_MAX_IN_FLIGHT") != std::string::npos);

  auto long_instance =
      core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                           {"LIA_COLLECTIONS_INSTANCE", std::string(129, 'i')}});
  (void)read_settings(long_instance);
  REQUIRE(long_instance.problems().size() == 1);
  CHECK(long_instance.problems()[0] == "LIA_COLLECTIONS_INSTANCE: must be at most 128 characters");

  // Meta without its phone_number_id: the Evolution default would fail every send.
  auto meta = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                   {"LIA_COLLECTIONS_PROVIDER", "meta"}});
  (void)read_settings(meta);
  REQUIRE(meta.problems().size() == 1);
  CHECK(meta.problems()[0].rfind("LIA_COLLECTIONS_INSTANCE: must be set", 0) == 0);
  auto meta_with_id = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                           {"LIA_COLLECTIONS_PROVIDER", "meta"},
                                           {"LIA_COLLECTIONS_INSTANCE", "106540352242922"}});
  CHECK(read_settings(meta_with_id).instance == "106540352242922");
  CHECK(meta_with_id.problems().empty());
  auto meta_with_name =
      core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                           {"LIA_COLLECTIONS_PROVIDER", "meta"},
                           {"LIA_COLLECTIONS_INSTANCE", "lia-meta"}});
  (void)read_settings(meta_with_name);
  REQUIRE(meta_with_name.problems().size() == 1);
  CHECK(meta_with_name.problems()[0].find("phone_number_id (digits only)") != std::string::npos);
}

TEST_CASE("spec: port 8084, schema collections, outbox on") {
  const auto s = spec();
  CHECK(s.name == "collections");
  CHECK(s.default_port == 8084);
  CHECK(s.schema == "collections");
  CHECK(s.outbox);
  REQUIRE_FALSE(s.migrations.empty());
}

TEST_CASE("the API refuses missing tokens, agents and bad ids before the database") {
  Settings settings;
  settings.jwt_secret = "unit";
  Api api(nullptr, "collections", settings);
  auto token = [&](auth::Role role) {
    auth::Claims c;
    c.subject = "u1";
    c.role = role;
    c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    c.expires_at = c.issued_at + 60;
    return "Bearer " + auth::sign_jwt(c, "unit");
  };
  http::Request req;
  req.method = "POST";
  CHECK(api.create(req).status == 401);
  req.headers.add("Authorization", token(auth::Role::agent));
  CHECK(api.create(req).status == 403);
  CHECK(api.list(req).status == 403);
  req.headers.set("Authorization", token(auth::Role::supervisor));
  req.params = {{"id", "42"}};
  CHECK(api.get(req).status == 400);
  CHECK(api.pause(req).status == 400);
  req.query = {{"limit", "0"}};
  CHECK(api.list(req).status == 400);
  // A bad Idempotency-Key (here bytes the HTTP parser would already refuse) is a 400 too.
  for (const std::string& key : {std::string(), std::string(201, 'k'), std::string("a\x7f"),
                                 std::string("a\x01b"), std::string("\xc3\xa9")}) {
    req.headers.set("Idempotency-Key", key);
    auto res = api.create(req);
    CHECK(res.status == 400);
    CHECK(res.body.find(R"("field":"Idempotency-Key")") != std::string::npos);
  }
}

TEST_CASE(
    "the consumer acknowledges other event types and other services' outcomes, and dead-letters "
    "garbage") {
  NotificationHandler h(nullptr, "collections");
  kafka::Message other;
  other.value = "whatever";
  other.headers = {{"lia.event_type", "lia.whatsapp.message.status"}};
  CHECK(h.handle(other).ok());
  kafka::Message garbage;
  garbage.value = "{";
  garbage.headers = {{"lia.event_type", std::string(events::types::notification_message_sent)}};
  auto st = h.handle(garbage);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
  // The outcome of another service's command is skipped unread; of ours, read.
  garbage.headers.push_back({std::string(events::headers::command_source), "/lia/conversation"});
  CHECK(h.handle(garbage).ok());
  garbage.headers.back().value = events::source_for("collections");
  CHECK_FALSE(h.handle(garbage).ok());
}
