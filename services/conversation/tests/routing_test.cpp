#include <catch2/catch.hpp>

#include <lia/conversation/model.hpp>
#include <lia/conversation/routing.hpp>

using namespace lia;
using namespace lia::conversation;
using domain::ConversationMode;
using domain::ConversationState;
using domain::ConversationStatus;
using std::chrono::hours;
using std::chrono::minutes;

namespace {
constexpr core::SysTime t0{std::chrono::seconds{1'800'000'000}};
const ConversationState active{ConversationStatus::active, ConversationMode::ai};
const ConversationState transferred{ConversationStatus::transferred, ConversationMode::human};
const ConversationState hybrid{ConversationStatus::transferred, ConversationMode::hybrid};
const ConversationState resolved{ConversationStatus::resolved, ConversationMode::human};
}  // namespace

TEST_CASE("an active conversation routes every customer message to the AI") {
  auto p = plan_inbound(active, "text", "oi, minha internet caiu", std::nullopt, t0);
  CHECK(p.route == "ai");
  CHECK_FALSE(p.reopen);
  CHECK(p.next == active);
  // A bare digit is not a survey answer while the conversation is open.
  CHECK(plan_inbound(active, "text", "9", t0 - minutes{5}, t0).route == "ai");
}

TEST_CASE("a transferred conversation routes to the human, or to hybrid suggestions") {
  CHECK(plan_inbound(transferred, "text", "alô?", std::nullopt, t0).route == "human");
  CHECK(plan_inbound(transferred, "image", "", std::nullopt, t0).route == "human");
  CHECK(plan_inbound(hybrid, "text", "alô?", std::nullopt, t0).route == "hybrid");
  CHECK(plan_inbound(transferred, "text", "x", std::nullopt, t0).next == transferred);
}

TEST_CASE("a bare score within 24 h of the survey answers it and keeps the conversation resolved") {
  auto p = plan_inbound(resolved, "text", "9", t0 - hours{2}, t0);
  CHECK(p.route == "survey");
  CHECK(p.score == 9);
  CHECK_FALSE(p.reopen);
  CHECK(p.next == resolved);
  CHECK(plan_inbound(resolved, "text", "nota 10!", t0 - hours{23}, t0).score == 10);
  // An interactive reply's title reads like text.
  CHECK(plan_inbound(resolved, "interactive", "8", t0 - hours{1}, t0).route == "survey");
}

TEST_CASE("anything else after resolution reopens the conversation to the AI") {
  const auto after = [](std::string_view kind, std::string_view text,
                        std::optional<core::SysTime> sent) {
    return plan_inbound(resolved, kind, text, sent, t0);
  };
  for (const auto& p : {after("text", "quero falar com alguém", t0 - hours{1}),
                        after("text", "9", t0 - hours{25}),  // window closed
                        after("text", "9", std::nullopt),    // no survey pending
                        after("text", "10 reais", t0 - hours{1}),
                        after("image", "9", t0 - hours{1})}) {  // a caption is not a reply
    CHECK(p.route == "ai");
    CHECK(p.reopen);
    CHECK(p.next == ConversationState{ConversationStatus::active, ConversationMode::ai});
    CHECK_FALSE(p.score);
  }
}

TEST_CASE("a survey whose send failed is no longer pending, an answered one still is") {
  CHECK_FALSE(pending_survey(t0, true));
  CHECK(pending_survey(t0, false) == t0);
  // A reply stamped in the same second as the survey (providers use whole seconds) answers it.
  const auto sent = t0 + std::chrono::milliseconds{700};
  CHECK(pending_survey(sent, false) == t0);
  CHECK(plan_inbound(resolved, "text", "9", pending_survey(sent, false), t0).route == "survey");
  CHECK_FALSE(pending_survey(std::nullopt, false));
  // Its send failed: a digit reopens.
  auto p = plan_inbound(resolved, "text", "10", pending_survey(t0 - hours{1}, true), t0);
  CHECK(p.reopen);
  CHECK(p.route == "ai");
}

TEST_CASE("a reaction routes nowhere and changes nothing, even on a resolved conversation") {
  auto p = plan_inbound(resolved, "reaction", "👍", t0 - hours{1}, t0);
  CHECK(p.route == "none");
  CHECK_FALSE(p.reopen);
  CHECK(p.next == resolved);
}

TEST_CASE("routing reads the text of text, interactive and button messages only") {
  CHECK(routing_text("text", "9") == "9");
  CHECK(routing_text("button", "9") == "9");
  CHECK(routing_text("interactive", "9") == "9");
  CHECK(routing_text("image", "9").empty());
  CHECK(routing_text("location", "9").empty());
  CHECK(route_name(domain::Route::ai_suggestion) == "hybrid");
  CHECK(route_name(domain::Route::nps_survey) == "survey");
}

TEST_CASE("departments fold into one vocabulary") {
  CHECK(canonical_department("Suporte") == "support");
  CHECK(canonical_department(" support ") == "support");
  CHECK(canonical_department("financeiro") == "financial");
  CHECK(canonical_department("vendas") == "commercial");
  CHECK(canonical_department("") == "general");
  // Accents do not matter; an unknown name stays itself, folded (the API refuses it).
  CHECK(canonical_department("Cobrança") == "collections");
  CHECK(canonical_department("Técnico") == "support");
  CHECK(canonical_department("Retenção") == "retencao");
  CHECK_FALSE(is_department(canonical_department("Retenção")));
  CHECK(department_for_assistant("suporte") == "support");
  CHECK(department_for_assistant(" Financeiro") == "financial");
  // as ai_orchestration's handoffs name them (lia::domain::department_for_assistant)
  CHECK(department_for_assistant("ouvidoria") == "general");
  CHECK(department_for_assistant("cobranca") == "financial");
  CHECK(department_for_assistant("apresentacao") == "general");
  CHECK(department_for_assistant("unknown") == "general");
}

TEST_CASE("RFC 3339 times parse with fractions and offsets, and nothing else") {
  const auto t = parse_time("2026-11-22T12:53:20Z");
  REQUIRE(t);
  CHECK(core::format_rfc3339(*t) == "2026-11-22T12:53:20.000Z");
  CHECK(parse_time("2026-11-22T09:53:20.5-03:00") == *t + std::chrono::milliseconds{500});
  CHECK(core::format_rfc3339(*parse_time("2026-11-22T12:53:20.123456789Z")) ==
        "2026-11-22T12:53:20.123Z");
  CHECK_FALSE(parse_time("2026-11-22 12:53"));
  CHECK_FALSE(parse_time("2026-02-30T00:00:00Z"));
  CHECK_FALSE(parse_time("2026-11-22T12:53:20"));
  CHECK_FALSE(parse_time("2026-11-22T12:53:20Zjunk"));
  CHECK_FALSE(parse_time(""));
}

TEST_CASE("text helpers: text[] literals round trip") {
  const std::vector<std::string> items{"support", "a b", "quote\"d", "back\\slash", ""};
  CHECK(parse_text_array(text_array_literal(items)) == items);
  CHECK(parse_text_array("{general,support}") == std::vector<std::string>{"general", "support"});
  CHECK(parse_text_array("{}").empty());
}
