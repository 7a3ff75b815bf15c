// Unit tests of nps_gamification's pure parts: event parsing, the survey's command and
// events (validated against their schemas), time parsing, settings and the API's guards.

#include <string>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/core/config.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>
#include <lia/nps_gamification/api.hpp>
#include <lia/nps_gamification/app.hpp>
#include <lia/nps_gamification/handlers.hpp>
#include <lia/nps_gamification/messages.hpp>

using namespace lia;
using namespace lia::nps_gamification;
using namespace std::chrono_literals;

namespace {

const char* const kResolved = R"({
  "conversation_id": "0190e0a4-7b2c-7def-8123-0123456789ab",
  "contact_id": "0190e0a4-7b2c-7def-8123-00000000c0de",
  "provider": "evolution",
  "instance": "lia-suporte",
  "chat_id": "5511987654321@s.whatsapp.net",
  "resolved_by": "agent",
  "agent_user_id": "0190e0a4-7b2c-7def-8123-0000000a6e01",
  "duration_ms": 754000,
  "message_count": 14
})";

void require_valid(std::string_view type, const std::string& data) {
  auto st = events::SchemaRegistry::instance().validate(type, 1, data);
  INFO(data);
  if (!st) FAIL(st.error().message());
}

std::string field(const std::string& json_text, const char* key) {
  auto doc = json::parse(json_text);
  REQUIRE(doc.ok());
  auto o = json::Obj::root(*doc);
  REQUIRE(o.ok());
  auto v = o->str(key);
  REQUIRE(v.ok());
  return std::string(*v);
}

core::SysTime at(const char* rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  REQUIRE(t.ok());
  return *t;
}

}  // namespace

TEST_CASE("parse_resolved reads the chat, the agent and the metrics") {
  auto r = parse_resolved(kResolved);
  REQUIRE(r.ok());
  CHECK(r->chat.conversation_id == "0190e0a4-7b2c-7def-8123-0123456789ab");
  CHECK(r->chat.provider == "evolution");
  CHECK(r->chat.instance == "lia-suporte");
  CHECK(r->chat.chat_id == "5511987654321@s.whatsapp.net");
  CHECK(r->agent_id == std::optional<std::string>("0190e0a4-7b2c-7def-8123-0000000a6e01"));
  CHECK(r->duration_ms == std::optional<std::int64_t>(754000));
  CHECK(r->message_count == std::optional<std::int64_t>(14));

  auto missing = parse_resolved(R"({"conversation_id":"x"})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message().find("contact_id") != std::string::npos);
}

TEST_CASE("the survey's send_text and survey.sent match their schemas and each other") {
  auto r = parse_resolved(kResolved);
  REQUIRE(r.ok());
  core::ManualClock clock(at("2026-11-22T12:53:24Z"));
  const Survey s = make_survey(*r, clock.now(), std::chrono::hours{24}, clock);
  CHECK(s.survey_id != s.command_id);
  CHECK(core::Uuid::parse(s.survey_id)->version() == 7);
  CHECK(s.expires_at - s.sent_at == 24h);

  const std::string cmd = send_text_data(s.command_id, s.chat, kDefaultSurveyText, s.expires_at);
  require_valid(events::types::notification_send_text, cmd);
  CHECK(field(cmd, "to") == "5511987654321@s.whatsapp.net");
  CHECK(field(cmd, "instance") == "lia-suporte");
  CHECK(field(cmd, "provider") == "evolution");
  CHECK(field(cmd, "command_id") == s.command_id);
  CHECK(field(cmd, "text") == kDefaultSurveyText);
  CHECK(field(cmd, "not_after") == "2026-11-23T12:53:24.000Z");

  const std::string sent = survey_sent_data(s);
  require_valid(events::types::engagement_survey_sent, sent);
  CHECK(field(sent, "command_id") == s.command_id);
  CHECK(field(sent, "survey_id") == s.survey_id);
  CHECK(field(sent, "sent_at") == "2026-11-22T12:53:24.000Z");
  CHECK(field(sent, "expires_at") == "2026-11-23T12:53:24.000Z");
  CHECK(field(sent, "agent_user_id") == "0190e0a4-7b2c-7def-8123-0000000a6e01");

  Resolved no_agent = *r;
  no_agent.agent_id.reset();
  const std::string sent2 = survey_sent_data(make_survey(no_agent, clock.now(), 1h, clock));
  require_valid(events::types::engagement_survey_sent, sent2);
  CHECK(sent2.find("agent_user_id") == std::string::npos);
}

TEST_CASE("score.recorded and the thank-you match their schemas for every category") {
  auto r = parse_resolved(kResolved);
  REQUIRE(r.ok());
  core::ManualClock clock;
  const Survey s = make_survey(*r, clock.now(), 24h, clock);
  for (int score : {0, 6, 7, 8, 9, 10}) {
    auto cat = domain::nps_category(score);
    REQUIRE(cat.ok());
    const std::string data = score_recorded_data(s, score, *cat);
    require_valid(events::types::engagement_score_recorded, data);
    CHECK(field(data, "category") == domain::to_string(*cat));
    const std::string thanks =
        send_text_data(core::Uuid::v7().str(), s.chat, thank_you_text(*cat), std::nullopt);
    require_valid(events::types::notification_send_text, thanks);
    CHECK(thanks.find("not_after") == std::string::npos);
  }
  CHECK(thank_you_text(domain::NpsCategory::promoter) !=
        thank_you_text(domain::NpsCategory::detractor));
}

TEST_CASE("parse_stored recognizes a customer's survey reply") {
  const std::string base = R"({"conversation_id":"0190e0a4-7b2c-7def-8123-0123456789ab",
    "contact_id":"0190e0a4-7b2c-7def-8123-00000000c0de","provider":"meta","instance":"1065",
    "chat_id":"5511987654321","message_id":"0190e0a4-8000-7abc-9def-000000000001",
    "provider_message_id":"wamid.1","kind":"text","text":"9","timestamp":"2026-11-22T12:53:20Z",)";
  auto survey =
      parse_stored(base + R"("direction":"inbound","author":"customer","route":"survey"})");
  REQUIRE(survey.ok());
  CHECK(survey->is_survey_reply());
  CHECK(survey->text == std::optional<std::string>("9"));
  auto ai = parse_stored(base + R"("direction":"inbound","author":"customer","route":"ai"})");
  REQUIRE(ai.ok());
  CHECK_FALSE(ai->is_survey_reply());
  auto outbound = parse_stored(base + R"("direction":"outbound","author":"ai","route":"survey"})");
  REQUIRE(outbound.ok());
  CHECK_FALSE(outbound->is_survey_reply());
}

TEST_CASE("parse_rfc3339 reads UTC, fractions and offsets and refuses the rest") {
  CHECK(core::format_rfc3339(at("2026-11-22T12:53:24Z")) == "2026-11-22T12:53:24.000Z");
  CHECK(core::format_rfc3339(at("2026-11-22T12:53:24.5Z")) == "2026-11-22T12:53:24.500Z");
  CHECK(core::format_rfc3339(at("2026-11-22T09:53:24.123-03:00")) == "2026-11-22T12:53:24.123Z");
  CHECK(core::format_rfc3339(at("2026-11-22T14:53:24+02:00")) == "2026-11-22T12:53:24.000Z");
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T12:53:24", "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z",
        "2026-11-22T12:53:24.Z", "2026-11-22T12:53:24Zx", "2026-11-22T12:53:24+0300"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).ok());
  }
  constexpr std::chrono::minutes kSaoPaulo{-180};
  constexpr std::chrono::minutes kUtc{0};
  auto day = parse_time_bound("2026-11-01", kUtc);
  REQUIRE(day.ok());
  CHECK(core::format_rfc3339(*day) == "2026-11-01T00:00:00.000Z");
  // A bare date is local midnight; a date-time keeps its own offset.
  CHECK(core::format_rfc3339(parse_time_bound("2026-11-01", kSaoPaulo).value()) ==
        "2026-11-01T03:00:00.000Z");
  CHECK(core::format_rfc3339(parse_time_bound("2026-11-01", std::chrono::minutes{330}).value()) ==
        "2026-10-31T18:30:00.000Z");
  CHECK(core::format_rfc3339(parse_time_bound("2026-11-01T00:00:00Z", kSaoPaulo).value()) ==
        "2026-11-01T00:00:00.000Z");
  // Years the clock cannot hold are the edges of time (0029 once overflowed it).
  CHECK(parse_time_bound("0029-11-22T13:53:24.123-03:00", kSaoPaulo).value() ==
        core::SysTime::min());
  CHECK(parse_time_bound("9999-12-31", kSaoPaulo).value() == core::SysTime::max());
  CHECK(parse_time_bound("2261-12-31", kSaoPaulo).value() < core::SysTime::max());
  CHECK_FALSE(parse_time_bound("9999-12-31T00:00:00Zjunk", kSaoPaulo).ok());
  CHECK_FALSE(parse_time_bound("2026-11-31", kSaoPaulo).ok());
}

TEST_CASE("period_bounds covers one local calendar month") {
  constexpr std::chrono::minutes kSaoPaulo{-180};
  constexpr std::chrono::minutes kUtc{0};
  auto b = period_bounds("2026-12", kUtc);
  REQUIRE(b.ok());
  CHECK(core::format_rfc3339(b->first) == "2026-12-01T00:00:00.000Z");
  CHECK(core::format_rfc3339(b->second) == "2027-01-01T00:00:00.000Z");
  auto sp = period_bounds("2026-12", kSaoPaulo);
  REQUIRE(sp.ok());
  CHECK(core::format_rfc3339(sp->first) == "2026-12-01T03:00:00.000Z");
  CHECK(core::format_rfc3339(sp->second) == "2027-01-01T03:00:00.000Z");
  // 2262 on is past what the clock holds (it overflowed into 1678 once).
  for (const char* bad :
       {"2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "1969-12", "2262-01", "9999-01"}) {
    INFO(bad);
    auto refused = period_bounds(bad, kSaoPaulo);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message() == "period must be YYYY-MM, from 1970-01 to 2261-12");
  }
  auto last = period_bounds("2261-12", kSaoPaulo);
  REQUIRE(last.ok());
  CHECK(core::format_rfc3339(last->second) == "2262-01-01T03:00:00.000Z");
  CHECK(period_of(at("2026-02-28T23:59:59Z"), kUtc) == "2026-02");
  // 21:00 on the month's last day in São Paulo is the next month in UTC.
  CHECK(period_of(at("2026-12-01T02:59:59Z"), kSaoPaulo) == "2026-11");
  CHECK(period_of(at("2026-12-01T03:00:00Z"), kSaoPaulo) == "2026-12");
  CHECK(period_of(at("2026-11-30T23:00:00Z"), std::chrono::minutes{60}) == "2026-12");
}

TEST_CASE("settings: defaults, the window range and the required JWT secret") {
  auto env = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"}});
  const Settings s = read_settings(env);
  CHECK(env.problems().empty());
  CHECK(s.survey_text == kDefaultSurveyText);
  CHECK(s.survey_window == 24h);
  CHECK(s.jwt_secret == "s3cret-0123456789-0123456789abcdef");
  CHECK(s.utc_offset == std::chrono::minutes{-180});

  auto custom = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                     {"LIA_NPS_SURVEY_TEXT", "Nota de 0 a 10?"},
                                     {"LIA_NPS_WINDOW_HOURS", "48"},
                                     {"LIA_NPS_UTC_OFFSET_MINUTES", "0"}});
  const Settings c = read_settings(custom);
  CHECK(c.survey_text == "Nota de 0 a 10?");
  CHECK(c.survey_window == 48h);
  CHECK(c.utc_offset == std::chrono::minutes{0});

  auto bad =
      core::Env::from_map({{"LIA_NPS_WINDOW_HOURS", "0"}, {"LIA_NPS_UTC_OFFSET_MINUTES", "-9999"}});
  (void)read_settings(bad);
  REQUIRE(bad.problems().size() == 3);
  CHECK(bad.problems()[0].find("LIA_JWT_SECRET") != std::string::npos);
  CHECK(bad.problems()[1].find("LIA_NPS_WINDOW_HOURS") != std::string::npos);
  CHECK(bad.problems()[2].find("LIA_NPS_UTC_OFFSET_MINUTES") != std::string::npos);

  auto too_long = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                       {"LIA_NPS_SURVEY_TEXT", std::string(4097, 'a')}});
  (void)read_settings(too_long);
  REQUIRE(too_long.problems().size() == 1);
  CHECK(too_long.problems()[0] == "LIA_NPS_SURVEY_TEXT: must be at most 4096 bytes");

  auto blank = core::Env::from_map(
      {{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"}, {"LIA_NPS_SURVEY_TEXT", "  "}});
  (void)read_settings(blank);
  REQUIRE(blank.problems().size() == 1);
  CHECK(blank.problems()[0].find("LIA_NPS_SURVEY_TEXT: is blank") == 0);
}

TEST_CASE("spec: port 8083, schema engagement, outbox on, migrations embedded") {
  const auto s = spec();
  CHECK(s.name == "nps_gamification");
  CHECK(s.default_port == 8083);
  CHECK(s.schema == "engagement");
  CHECK(s.outbox);
  REQUIRE_FALSE(s.migrations.empty());
  CHECK(s.migrations[0].up.find("satisfaction_feedback") != std::string::npos);
}

TEST_CASE("the consumer skips unrelated records and dead-letters broken ones without a database") {
  EventHandlers h(nullptr, "engagement", Settings{});
  kafka::Message reply;
  reply.topic = "ai.events.v1";
  reply.value = "not even json";
  reply.headers = {{"lia.event_type", std::string(events::types::ai_reply_generated)}};
  CHECK(h.handle(reply).ok());

  kafka::Message stored;
  stored.topic = "conversation.events.v1";
  stored.value = R"({"data":{"route":"ai"}})";
  stored.headers = {{"lia.event_type", std::string(events::types::conversation_message_stored)}};
  CHECK(h.handle(stored).ok());

  kafka::Message broken;
  broken.topic = "conversation.events.v1";
  broken.value = "{broken";
  broken.headers = {{"lia.event_type", std::string(events::types::conversation_resolved)}};
  auto st = h.handle(broken);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());

  kafka::Message no_header;
  no_header.value = R"({"specversion":"1.0"})";
  auto st2 = h.handle(no_header);
  REQUIRE_FALSE(st2.ok());
  CHECK_FALSE(st2.error().retryable());
}

TEST_CASE("the API refuses missing tokens, low roles and bad parameters before the database") {
  const std::string secret = "unit-secret";
  const Api api(nullptr, "engagement", Settings{.jwt_secret = secret});
  auto token = [&](auth::Role role) {
    auth::Claims c;
    c.subject = "0190e0a4-7b2c-7def-8123-0000000a6e01";
    c.username = "u";
    c.role = role;
    c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    c.expires_at = c.issued_at + 3600;
    return "Bearer " + auth::sign_jwt(c, secret);
  };
  http::Request req;
  req.method = "GET";
  CHECK(api.nps(req).status == 401);
  req.headers.add("Authorization", "Bearer not-a-token");
  CHECK(api.nps(req).status == 401);

  req.headers.set("Authorization", token(auth::Role::agent));
  CHECK(api.list_feedback(req).status == 403);
  CHECK(api.calculate(req).status == 403);
  CHECK(api.get_settings(req).status == 403);
  req.query["from"] = "yesterday";
  auto bad_from = api.nps(req);
  CHECK(bad_from.status == 400);
  CHECK(bad_from.body.find("from") != std::string::npos);
  CHECK(bad_from.body.find("%2B") == std::string::npos);
  // "+00:00" sent unencoded: the query string made the '+' a space. The answer says so.
  req.query["from"] = "2026-11-01T00:00:00 00:00";
  auto plus = api.nps(req);
  CHECK(plus.status == 400);
  CHECK(plus.body.find("write a '+' offset as %2B") != std::string::npos);
  // An empty or inverted range is an error, not an NPS of 0 over no responses.
  for (const char* to : {"2026-11-01", "2026-11-30T23:00:00Z"}) {
    req.query = {{"from", "2026-12-01"}, {"to", to}};
    auto inverted = api.nps(req);
    CHECK(inverted.status == 400);
    CHECK(inverted.body.find("'from' must be before 'to'") != std::string::npos);
  }

  req.headers.set("Authorization", token(auth::Role::supervisor));
  CHECK(api.put_settings(req).status == 403);
  req.query = {{"period", "2026-13"}};
  CHECK(api.calculate(req).status == 400);
  CHECK(api.ranking(req).status == 400);
  req.query = {{"category", "angry"}};
  CHECK(api.list_feedback(req).status == 400);
  req.query.clear();
  req.params = {{"id", "nope"}};
  req.body = R"({"handling_status":"resolved"})";
  CHECK(api.patch_feedback(req).status == 400);
  req.params = {{"id", "0190e0a4-7b2c-7def-8123-0000000a6e01"}};
  req.body = R"({"handling_status":"closed"})";
  CHECK(api.patch_feedback(req).status == 400);
  req.body = R"({"status":"resolved"})";
  CHECK(api.patch_feedback(req).status == 400);
  req.body = R"({"handling_score":9})";
  CHECK(api.patch_feedback(req).status == 400);

  req.headers.set("Authorization", token(auth::Role::admin));
  req.body = "[1]";  // (settings validation itself needs the stored row: integration tests)
  CHECK(api.put_settings(req).status == 400);
}
