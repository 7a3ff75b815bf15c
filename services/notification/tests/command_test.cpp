// Commands in, event data out: parsing, times, and every event validated against its schema.
#include <catch2/catch.hpp>

#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>
#include <lia/notification/command.hpp>

using namespace lia;
using namespace lia::notification;

namespace {

events::CloudEvent command_event(std::string_view type, std::string data) {
  auto ev = events::make_event(type, 1, "/lia/conversation", "", std::move(data));
  REQUIRE(events::SchemaRegistry::instance().validate(ev).ok());
  return ev;
}

const char* kText = R"({"command_id":"0190e0a4-8000-7abc-9def-0000000c0001","provider":"meta",)"
                    R"("instance":"106540352242922","to":"5511987654321",)"
                    R"("conversation_id":"0190e0a4-7b2c-7def-8123-0123456789ab",)"
                    R"("message_id":"0190e0a4-8000-7abc-9def-000000000002","text":"Olá",)"
                    R"("not_after":"2026-11-22T12:53:24.5-03:00","preview_url":true,)"
                    R"("reply_to_provider_message_id":"wamid.Q"})";

void valid(std::string_view type, const std::string& data) {
  INFO(data);
  auto st = events::SchemaRegistry::instance().validate(type, 1, data);
  if (!st.ok()) FAIL(st.error().message());
}

}  // namespace

TEST_CASE("a send_text command is read with every optional field") {
  auto ev = command_event(events::types::notification_send_text, kText);
  auto cmd = parse_command(ev);
  REQUIRE(cmd.ok());
  CHECK(cmd->kind == CommandKind::text);
  CHECK(cmd->event_id == ev.id);
  CHECK(cmd->command_id == "0190e0a4-8000-7abc-9def-0000000c0001");
  CHECK(cmd->provider == Provider::meta);
  CHECK(cmd->instance == "106540352242922");
  CHECK(cmd->to == "5511987654321");
  CHECK(cmd->conversation_id == "0190e0a4-7b2c-7def-8123-0123456789ab");
  CHECK(cmd->message_id == "0190e0a4-8000-7abc-9def-000000000002");
  CHECK(cmd->text == "Olá");
  CHECK(cmd->preview_url);
  CHECK(cmd->reply_to == "wamid.Q");
  REQUIRE(cmd->not_after);
  CHECK(core::format_rfc3339(*cmd->not_after) == "2026-11-22T15:53:24.500Z");
  CHECK(cmd->priority == "normal");
  CHECK(cmd->replayable);  // by default
}

TEST_CASE("a send_template command is read with its parameters") {
  auto ev = command_event(
      events::types::notification_send_template,
      R"({"command_id":"0190e0a4-8000-7abc-9def-0000000c0002","provider":"evolution",)"
      R"("instance":"lia-vendas","to":"5511987654321@s.whatsapp.net","priority":"bulk",)"
      R"("replayable":false,)"
      R"("template":{"name":"pesquisa_nps","language":"pt_BR","parameters":["Maria","7"]}})");
  auto cmd = parse_command(ev);
  REQUIRE(cmd.ok());
  CHECK(cmd->kind == CommandKind::template_message);
  CHECK(cmd->provider == Provider::evolution);
  CHECK(cmd->tmpl.name == "pesquisa_nps");
  CHECK(cmd->tmpl.language == "pt_BR");
  CHECK(cmd->tmpl.parameters == std::vector<std::string>{"Maria", "7"});
  CHECK(cmd->priority == "bulk");
  CHECK_FALSE(cmd->replayable);
  CHECK_FALSE(cmd->not_after);
  CHECK_FALSE(cmd->conversation_id);
}

TEST_CASE("a replayable that is not a boolean is refused, naming it") {
  // Past the schema (an older producer's, a hand-made record): the command's own check.
  auto ev = events::make_event(
      events::types::notification_send_text, 1, "/lia/x", "",
      R"({"command_id":"0190e0a4-8000-7abc-9def-0000000c0003","provider":"meta",)"
      R"("instance":"106540352242922","to":"5511987654321","text":"x","replayable":"no"})");
  auto cmd = parse_command(ev);
  REQUIRE_FALSE(cmd.ok());
  CHECK_FALSE(cmd.error().retryable());
  CHECK(cmd.error().message().find("replayable") != std::string::npos);
}

TEST_CASE("an event that is not a send command is refused without retry") {
  auto ev = events::make_event(events::types::notification_message_sent, 1, "/lia/x", "", "{}");
  auto cmd = parse_command(ev);
  REQUIRE_FALSE(cmd.ok());
  CHECK(cmd.error().code() == core::Errc::invalid_argument);
  CHECK_FALSE(cmd.error().retryable());
  CHECK(cmd.error().message().find("unknown command type") != std::string::npos);
}

TEST_CASE("RFC 3339 times are read with fractions and offsets, and garbage is refused") {
  auto z = parse_rfc3339("2026-11-22T12:53:24Z");
  REQUIRE(z.ok());
  CHECK(core::format_rfc3339(*z) == "2026-11-22T12:53:24.000Z");
  auto plus = parse_rfc3339("2026-01-01T01:30:00.123456789+02:00");
  REQUIRE(plus.ok());
  CHECK(core::format_rfc3339(*plus) == "2025-12-31T23:30:00.123Z");
  // Far dates stay in order instead of overflowing the clock.
  auto far = parse_rfc3339("2999-01-01T00:00:00Z");
  REQUIRE(far.ok());
  CHECK(*far > *plus);
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22 12:53:24Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-22T12:53:24", "2026-11-22T12:53:24.Z", "2026-11-22T12:53:24+0300",
        "2026-11-22T25:00:00Z", "2026-11-22T12:53:24Zjunk", "2999-01-01T00:00:00Zjunk",
        "1600-01-01T00:00:00"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad).ok());
  }
}

TEST_CASE("the outcome events match their schemas") {
  auto cmd = parse_command(command_event(events::types::notification_send_text, kText));
  REQUIRE(cmd.ok());
  valid(events::types::notification_message_sent, sent_data(*cmd, 3, "wamid.HBgN"));
  valid(events::types::notification_message_failed,
        failed_data(*cmd, 1, "provider answered HTTP 400: (#131026) undeliverable",
                    std::string("131026"), 400));
  valid(events::types::notification_message_failed,
        failed_data(*cmd, 0, "expired", std::nullopt, std::nullopt));
  valid(events::types::notification_message_dead_lettered,
        dead_lettered_data(*cmd, 4, "gave up after 4 tries", "notification.commands.v1.dlq"));

  auto doc = json::parse(sent_data(*cmd, 3, "wamid.HBgN"));
  REQUIRE(doc.ok());
  CHECK(std::string((*doc)["provider_message_id"].GetString()) == "wamid.HBgN");
  CHECK((*doc)["attempts"].GetInt() == 3);
  CHECK(std::string((*doc)["conversation_id"].GetString()) ==
        "0190e0a4-7b2c-7def-8123-0123456789ab");
}

TEST_CASE("long reasons and codes are cut to the schema's limits without breaking UTF-8") {
  auto cmd = parse_command(command_event(events::types::notification_send_text, kText));
  REQUIRE(cmd.ok());
  std::string reason;
  while (reason.size() < 5000) reason += "ção ";
  const auto data = failed_data(*cmd, 2, reason, std::string(100, '9'), 503);
  valid(events::types::notification_message_failed, data);
  valid(events::types::notification_message_dead_lettered,
        dead_lettered_data(*cmd, 2, reason, "t.dlq"));
  // An empty reason still satisfies minLength 1.
  valid(events::types::notification_message_failed, failed_data(*cmd, 1, "", std::nullopt, 42));
}
