// nps_gamification against the real PostgreSQL: the handlers and the API on a throwaway
// schema migrated like production, time driven by a ManualClock.

#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/core/page.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/json/json.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/nps_gamification/api.hpp>
#include <lia/nps_gamification/app.hpp>
#include <lia/nps_gamification/handlers.hpp>
#include <lia/nps_gamification/messages.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox_relay.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/runtime/events.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

using namespace lia;
using namespace lia::nps_gamification;
using namespace std::chrono_literals;
namespace types = lia::events::types;

namespace {

const std::string kSecret = "integration-secret";

core::SysTime at(const char* text) {
  auto t = parse_rfc3339(text);
  REQUIRE(t.ok());
  return *t;
}

json::Document parse(const std::string& text) {
  auto d = json::parse(text);
  if (!d) FAIL(d.error().message() + ": " + text);
  return std::move(*d);
}

struct OutboxEvent {
  std::string topic;
  std::string key;
  events::CloudEvent event;
  json::Document data;
  std::string str(const char* k) const { return data[k].GetString(); }
};

// A record as the outbox relay produces it: the CloudEvent and its lia.event_type header.
kafka::Message record(std::string_view topic, const events::CloudEvent& ev) {
  kafka::Message m;
  m.topic = std::string(topic);
  m.value = events::encode(ev);
  m.headers.push_back({"lia.event_type", ev.type});
  return m;
}

struct Chat {
  std::string conversation_id = core::Uuid::v7().str();
  std::string contact_id = core::Uuid::v7().str();
  std::string instance = "106540352242922";
  std::string chat_id;
};

// A migrated throwaway schema with the handlers and the API on a manual clock.
struct Fixture {
  std::shared_ptr<pg::Pool> pool;
  std::string schema = testing::unique_name("nps");
  core::ManualClock clock{at("2026-11-10T12:00:00Z")};
  Settings settings{.jwt_secret = kSecret,
                    .survey_text = kDefaultSurveyText,
                    .survey_window = std::chrono::hours{24}};
  std::unique_ptr<EventHandlers> handlers;
  std::unique_ptr<Api> api;
  int phone = 0;

  Fixture() {
    auto p =
        pg::Pool::create({.url = testing::pg_url(), .size = 4, .application_name = "nps-tests"});
    REQUIRE(p.ok());
    pool = *p;
    auto m = pg::migrate_service(pool, schema, "nps_gamification", migrations());
    if (!m) FAIL(m.error().message());
    handlers = std::make_unique<EventHandlers>(pool, schema, settings, clock);
    api = std::make_unique<Api>(pool, schema, settings, clock);
  }
  ~Fixture() { testing::drop_schema(*pool, schema); }

  std::int64_t count(const std::string& sql_after_from) {
    auto r = pool->exec("SELECT count(*) FROM " + pg::quote_ident(schema) + "." + sql_after_from);
    if (!r) FAIL(r.error().message());
    return (*r)[0].get<std::int64_t>(0);
  }

  // Every outbox event so far, decoded and validated against its schema.
  std::vector<OutboxEvent> outbox() {
    auto rows = pool->exec("SELECT topic, key, payload FROM " + pg::quote_ident(schema) +
                           ".outbox ORDER BY id");
    if (!rows) FAIL(rows.error().message());
    std::vector<OutboxEvent> out;
    for (const auto& r : *rows) {
      auto ev = events::decode(r.get<std::string>(2));
      REQUIRE(ev.ok());
      auto valid = events::SchemaRegistry::instance().validate(*ev);
      if (!valid) FAIL(valid.error().message());
      out.push_back({r.get<std::string>(0), r.get<std::string>(1), *ev, parse(ev->data)});
    }
    return out;
  }

  Chat new_chat() {
    Chat c;
    c.chat_id = "55119876" + std::to_string(10000 + ++phone);
    return c;
  }

  events::CloudEvent resolved(const Chat& c, const std::optional<std::string>& agent,
                              std::int64_t duration_ms = 600000, int messages = 10) {
    json::Writer w;
    w.begin_object()
        .field("conversation_id", c.conversation_id)
        .field("contact_id", c.contact_id)
        .field("provider", "meta")
        .field("instance", c.instance)
        .field("chat_id", c.chat_id)
        .field("resolved_by", "agent")
        .field("agent_user_id", agent)
        .field("duration_ms", duration_ms)
        .field("message_count", messages)
        .end_object();
    return events::make_event(types::conversation_resolved, 1, "/lia/conversation",
                              c.conversation_id, w.take(), clock);
  }

  events::CloudEvent reply(const Chat& c, const std::string& text, const char* route = "survey") {
    json::Writer w;
    w.begin_object()
        .field("conversation_id", c.conversation_id)
        .field("contact_id", c.contact_id)
        .field("provider", "meta")
        .field("instance", c.instance)
        .field("chat_id", c.chat_id)
        .field("message_id", core::Uuid::v7().str())
        .field("provider_message_id", "wamid." + core::Uuid::v4().str())
        .field("direction", "inbound")
        .field("author", "customer")
        .field("kind", "text")
        .field("text", text)
        .field("route", route)
        .field("timestamp", core::format_rfc3339(clock.now()))
        .end_object();
    return events::make_event(types::conversation_message_stored, 1, "/lia/conversation",
                              c.conversation_id, w.take(), clock);
  }

  // notification's outcome of `command` (the survey sent to `c`), a new event each time;
  // `extra` holds the type's own fields, each after a comma.
  events::CloudEvent outcome(std::string_view type, const Chat& c, const std::string& command,
                             const std::string& extra) {
    const std::string data = R"({"command_id":")" + command +
                             R"(","provider":"meta","instance":")" + c.instance + R"(","to":")" +
                             c.chat_id + R"(","attempts":1)" + extra + "}";
    return events::make_event(type, 1, "/lia/notification", "", data, clock);
  }

  events::CloudEvent reopened(const Chat& c) {
    json::Writer w;
    w.begin_object()
        .field("conversation_id", c.conversation_id)
        .field("contact_id", c.contact_id)
        .field("provider", "meta")
        .field("instance", c.instance)
        .field("chat_id", c.chat_id)
        .field("mode", "ai")
        .field("reason", "customer_message")
        .end_object();
    return events::make_event(types::conversation_reopened, 1, "/lia/conversation",
                              c.conversation_id, w.take(), clock);
  }

  void apply(const events::CloudEvent& ev) {
    auto st = handlers->on_event(ev);
    if (!st) FAIL(st.error().describe());
  }

  // Resolves a new conversation credited to `agent` and answers its survey with `score`.
  Chat resolve_and_score(const std::string& agent, const std::string& score,
                         std::int64_t duration_ms = 600000, int messages = 10) {
    Chat c = new_chat();
    apply(resolved(c, agent, duration_ms, messages));
    clock.advance(1min);
    apply(reply(c, score));
    return c;
  }

  // conversation's users.v1 says the fixture's desk user (the requests' default subject) now
  // has `role` and is active or not.
  void desk_user_is(const std::string& role, bool active) const {
    runtime::DeskUsers users(pool, schema);
    kafka::Message m;
    m.topic = "users.v1";
    m.value = events::encode(events::make_event(
        events::types::user_upserted, 1, "/lia/conversation", "",
        R"({"user_id":"0190e0a4-7b2c-7def-8123-00000000ad01","name":"Ana","email":"a@example.com",)"
        R"("role":")" +
            role + R"(","active":)" + (active ? "true" : "false") +
            R"(,"updated_at":"2026-11-23T12:00:00Z"})"));
    REQUIRE(users.apply(m).ok());
  }

  // users.v1's state of `user_id`, an agent, as nps_gamification keeps it (with its
  // participation in the ranking).
  void agent_participates(const std::string& user_id, bool participates,
                          const std::string& updated_at) const {
    runtime::DeskUsers users(pool, schema, {.gamification = true});
    kafka::Message m;
    m.topic = "users.v1";
    m.value = events::encode(events::make_event(
        events::types::user_upserted, 1, "/lia/conversation", "",
        R"({"user_id":")" + user_id +
            R"(","name":"Ana","email":"a@example.com","role":"AGENT","active":true,)"
            R"("participates_in_gamification":)" +
            (participates ? "true" : "false") + R"(,"updated_at":")" + updated_at + R"("})"));
    REQUIRE(users.apply(m).ok());
  }

  // A request with a token of `role`; its subject a desk user's id unless told otherwise.
  http::Request request(const std::string& method, auth::Role role,
                        const std::string& subject = "0190e0a4-7b2c-7def-8123-00000000ad01") const {
    auth::Claims claims;
    claims.subject = subject;
    claims.username = "tester";
    claims.role = role;
    claims.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    claims.expires_at = claims.issued_at + 600;
    http::Request req;
    req.method = method;
    req.headers.add("Authorization", "Bearer " + auth::sign_jwt(claims, kSecret));
    return req;
  }
};

const std::string kAgentA = "0190e0a4-7b2c-7def-8123-0000000a6e0a";
const std::string kAgentB = "0190e0a4-7b2c-7def-8123-0000000a6e0b";
const std::string kAgentC = "0190e0a4-7b2c-7def-8123-0000000a6e0c";

}  // namespace

TEST_CASE("a resolved conversation gets a survey row, its send_text and survey.sent, once") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const auto ev = fx.resolved(c, kAgentA);
  fx.apply(ev);

  auto rows = fx.pool->exec(
      "SELECT survey_id::text, command_id::text, chat_id, instance, "
      "(extract(epoch from expires_at - sent_at))::bigint, answered_at IS NULL "
      "FROM " +
      pg::quote_ident(fx.schema) + ".surveys");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  const std::string survey_id = (*rows)[0].get<std::string>(0);
  const std::string command_id = (*rows)[0].get<std::string>(1);
  CHECK((*rows)[0].get<std::string>(2) == c.chat_id);
  CHECK((*rows)[0].get<std::int64_t>(4) == std::int64_t{24} * 3600);
  CHECK((*rows)[0].get<bool>(5));

  auto out = fx.outbox();
  REQUIRE(out.size() == 2);
  const auto& cmd = out[0];
  CHECK(cmd.topic == "notification.commands.v1");
  CHECK(cmd.event.type == types::notification_send_text);
  CHECK(cmd.key == events::chat_key(c.instance, c.chat_id));
  CHECK(cmd.str("command_id") == command_id);
  CHECK(cmd.str("to") == c.chat_id);
  CHECK(cmd.str("provider") == "meta");
  CHECK(cmd.str("instance") == c.instance);
  CHECK(cmd.str("text") == kDefaultSurveyText);
  CHECK(cmd.str("conversation_id") == c.conversation_id);
  const auto& sent = out[1];
  CHECK(sent.topic == "engagement.events.v1");
  CHECK(sent.event.type == types::engagement_survey_sent);
  CHECK(sent.key == events::chat_key(c.instance, c.chat_id));
  CHECK(sent.event.subject == c.conversation_id);
  CHECK(sent.str("survey_id") == survey_id);
  CHECK(sent.str("command_id") == command_id);
  CHECK(sent.str("expires_at") == "2026-11-11T12:00:00.000Z");
  CHECK(sent.str("agent_user_id") == kAgentA);
  CHECK(fx.count("agent_resolutions") == 1);

  // Redelivery: no second survey, no second command.
  fx.apply(ev);
  CHECK(fx.count("surveys") == 1);
  CHECK(fx.outbox().size() == 2);
  CHECK(fx.count("agent_resolutions") == 1);
}

TEST_CASE("a reply of 9 records a promoter, publishes score.recorded and thanks the customer") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(2h);
  fx.apply(fx.reply(c, "9"));

  auto rows = fx.pool->exec("SELECT nps_score, category, handling_status, agent_id::text FROM " +
                            pg::quote_ident(fx.schema) + ".satisfaction_feedback");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].get<int>(0) == 9);
  CHECK((*rows)[0].get<std::string>(1) == "promoter");
  CHECK((*rows)[0].is_null(2));
  CHECK((*rows)[0].get<std::string>(3) == kAgentA);
  CHECK(fx.count("surveys WHERE answered_at IS NOT NULL") == 1);

  auto out = fx.outbox();
  REQUIRE(out.size() == 4);
  CHECK(out[2].event.type == types::engagement_score_recorded);
  CHECK(out[2].topic == "engagement.events.v1");
  CHECK(out[2].data["score"].GetInt() == 9);
  CHECK(out[2].str("category") == "promoter");
  CHECK(out[2].str("survey_id") == out[1].str("survey_id"));
  CHECK(out[2].key == events::chat_key(c.instance, c.chat_id));
  CHECK(out[3].event.type == types::notification_send_text);
  CHECK(out[3].str("text") == thank_you_text(domain::NpsCategory::promoter));
  CHECK(out[3].str("to") == c.chat_id);
  CHECK(out[3].str("command_id") != out[0].str("command_id"));
}

TEST_CASE("a reply of 3 records a detractor whose handling is pending") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentB));
  fx.clock.advance(30min);
  fx.apply(fx.reply(c, "nota 3"));
  auto rows = fx.pool->exec("SELECT nps_score, category, handling_status FROM " +
                            pg::quote_ident(fx.schema) + ".satisfaction_feedback");
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].get<int>(0) == 3);
  CHECK((*rows)[0].get<std::string>(1) == "detractor");
  CHECK((*rows)[0].get<std::string>(2) == "pending");
  auto out = fx.outbox();
  REQUIRE(out.size() == 4);
  CHECK(out[2].str("category") == "detractor");
  CHECK(out[3].str("text") == thank_you_text(domain::NpsCategory::detractor));
}

TEST_CASE("a score sent twice and a redelivered reply are recorded once") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(5min);
  const auto first = fx.reply(c, "10");
  fx.apply(first);
  fx.apply(first);  // redelivery
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "10"));  // the customer sends it again
  CHECK(fx.count("satisfaction_feedback") == 1);
  auto out = fx.outbox();
  int recorded = 0, sends = 0;
  for (const auto& e : out) {
    if (e.event.type == types::engagement_score_recorded) ++recorded;
    if (e.event.type == types::notification_send_text) ++sends;
  }
  CHECK(recorded == 1);
  CHECK(sends == 2);  // the survey and one thank-you
}

TEST_CASE("a resolution by no agent while the survey is open leaves its score to no agent") {
  // A resolves, the customer's "obrigado" reopens, a supervisor resolves it unassigned: a
  // score now is not A's (A did not close it), as a survey sent for that resolution would not be.
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(10min);
  fx.apply(fx.reply(c, "obrigado"));
  fx.apply(fx.reopened(c));
  fx.clock.advance(10min);
  fx.apply(fx.resolved(c, std::nullopt));
  CHECK(fx.count("surveys WHERE agent_id IS NULL") == 1);
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "2"));
  CHECK(fx.count("satisfaction_feedback") == 1);
  CHECK(fx.count("satisfaction_feedback WHERE agent_id IS NULL") == 1);
}

TEST_CASE("a resolution while the conversation's survey is still open asks nothing more") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const auto surveys_sent = [&] {
    int n = 0;
    for (const auto& e : fx.outbox()) n += e.event.type == types::engagement_survey_sent ? 1 : 0;
    return n;
  };
  fx.apply(fx.resolved(c, kAgentA));  // survey 1
  fx.clock.advance(10min);
  fx.apply(fx.reply(c, "obrigado"));  // not a score: conversation reopened it
  fx.apply(fx.reopened(c));
  fx.clock.advance(10min);
  fx.apply(fx.resolved(c, kAgentB));  // resolved again: no second survey
  CHECK(fx.count("surveys") == 1);
  CHECK(surveys_sent() == 1);
  CHECK(fx.outbox().size() == 2);             // survey 1's send_text and survey.sent only
  CHECK(fx.count("agent_resolutions") == 2);  // both resolutions still count for the ranking
  // A score now answers survey 1, once, for B: the agent who resolved the conversation last.
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "10"));
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "10"));  // the customer sends it again
  CHECK(fx.count("satisfaction_feedback") == 1);
  CHECK(fx.count("satisfaction_feedback WHERE agent_id = '" + kAgentB + "'") == 1);
  CHECK(fx.count("surveys WHERE answered_at IS NOT NULL") == 1);
  // Answered but still within its window: a third resolution asks nothing either, and the
  // score stays B's.
  fx.apply(fx.reopened(c));
  fx.clock.advance(1h);
  fx.apply(fx.resolved(c, kAgentA));
  CHECK(fx.count("surveys") == 1);
  CHECK(fx.count("surveys WHERE agent_id = '" + kAgentB + "'") == 1);
  // Once survey 1 has expired, the next resolution asks again.
  fx.clock.advance(24h);
  fx.apply(fx.reopened(c));
  fx.apply(fx.resolved(c, kAgentA));
  CHECK(fx.count("surveys") == 2);
  CHECK(surveys_sent() == 2);
}

TEST_CASE("a resolution handled after its whole survey window asks nothing") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const auto late = fx.resolved(c, kAgentA);
  fx.clock.advance(25h);  // the service was that far behind
  fx.apply(late);
  CHECK(fx.count("surveys") == 0);
  CHECK(fx.outbox().empty());
  CHECK(fx.count("agent_resolutions") == 1);  // it still counts for the ranking
  // One inside its window still asks.
  const auto recent = fx.resolved(c, kAgentA);
  fx.clock.advance(23h);
  fx.apply(recent);
  CHECK(fx.count("surveys") == 1);
}

TEST_CASE("a survey that could not be sent does not stop the next resolution's") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  fx.apply(fx.outcome(types::notification_message_failed, c, command,
                      R"(,"reason":"recipient is not a WhatsApp user")"));
  fx.clock.advance(10min);
  fx.apply(fx.reopened(c));
  fx.apply(fx.resolved(c, kAgentA));
  CHECK(fx.count("surveys") == 2);
  CHECK(fx.count("surveys WHERE send_failed_at IS NULL") == 1);
  // The new survey is the one a score answers.
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "9"));
  CHECK(fx.count("satisfaction_feedback") == 1);
  CHECK(fx.count("surveys WHERE answered_at IS NOT NULL AND send_failed_at IS NULL") == 1);
}

// A resolves (survey 1, its send still retrying), the customer's thanks reopen the
// conversation, and B resolves it `later` on: that resolution asks nothing, survey 1 being
// open. Survey 1's command id, and B's resolution.
std::pair<std::string, events::CloudEvent> skipped_resolution(Fixture& fx, const Chat& c,
                                                              std::chrono::minutes later) {
  fx.apply(fx.resolved(c, kAgentA));
  std::string first = fx.outbox()[0].str("command_id");
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "obrigado"));
  fx.apply(fx.reopened(c));
  fx.clock.advance(later);
  auto second = fx.resolved(c, kAgentB);
  fx.apply(second);
  REQUIRE(fx.count("surveys") == 1);
  return {std::move(first), std::move(second)};
}

TEST_CASE("a resolution skipped for an open survey is surveyed when that survey's send fails") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const auto [first, second] = skipped_resolution(fx, c, 1min);
  // Then survey 1's send fails for good: the second resolution gets its survey.
  fx.clock.advance(1min);
  fx.apply(fx.outcome(types::notification_message_dead_lettered, c, first,
                      R"(,"reason":"gave up after 6 tries: HTTP 503",)"
                      R"("dlq_topic":"notification.commands.v1.dlq")"));
  CHECK(fx.count("surveys") == 2);
  CHECK(fx.count("surveys WHERE send_failed_at IS NULL AND resolved_event_id = '" + second.id +
                 "' AND agent_id = '" + kAgentB + "'") == 1);
  int sends = 0;
  for (const auto& e : fx.outbox()) sends += e.event.type == types::notification_send_text ? 1 : 0;
  CHECK(sends == 2);
  // The failure redelivered makes no third.
  fx.apply(fx.outcome(types::notification_message_dead_lettered, c, first,
                      R"(,"reason":"gave up after 6 tries: HTTP 503",)"
                      R"("dlq_topic":"notification.commands.v1.dlq")"));
  CHECK(fx.count("surveys") == 2);
  // A score answers the new survey, for B.
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "8"));
  CHECK(fx.count("satisfaction_feedback WHERE agent_id = '" + kAgentB + "'") == 1);
}

TEST_CASE("a failure that comes after a newer survey was sent surveys no skipped resolution") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const std::string first = skipped_resolution(fx, c, 10min).first;
  // Survey 1 expires unanswered; the next resolution gets survey 2 (the skipped one's window
  // has 5 minutes left).
  fx.clock.advance(24h - 5min);
  fx.apply(fx.reopened(c));
  fx.apply(fx.resolved(c, kAgentA));
  REQUIRE(fx.count("surveys") == 2);
  // Survey 1's failure, late (a backlog in notification): the skipped resolution's window is
  // still open, but survey 2 is the conversation's now, so nothing more is asked.
  fx.clock.advance(1min);
  fx.apply(fx.outcome(types::notification_message_failed, c, first,
                      R"(,"reason":"expired before it could be sent","code":"expired")"));
  CHECK(fx.count("surveys") == 2);
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 1);
  int sends = 0;
  for (const auto& e : fx.outbox()) sends += e.event.type == types::notification_send_text ? 1 : 0;
  CHECK(sends == 2);
  // A score answers survey 2, for A.
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "9"));
  CHECK(fx.count("satisfaction_feedback WHERE agent_id = '" + kAgentA + "'") == 1);
}

TEST_CASE("a score waits for the conversation's survey lock before its survey's row") {
  // As a resolution and a send's outcome do: taken in another order, a batch and a record
  // alone could each hold what the other waits for.
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(1min);
  testing::HeldTransaction other(*fx.pool, [&](pg::Tx& tx) -> core::Status {
    auto l = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                     survey_lock_key(fx.schema, c.conversation_id));
    if (!l) return l.error();
    return {};
  });
  const auto score = fx.reply(c, "9");
  core::Status scored;
  std::thread answer([&] { scored = fx.handlers->on_event(score); });
  const bool waits = testing::wait_until([&] { return other.waiters() == 1; }, 10s, 10ms);
  CHECK(other.release().ok());
  answer.join();
  CHECK(waits);
  CHECK(scored.ok());
  CHECK(fx.count("satisfaction_feedback") == 1);
}

TEST_CASE("another service's send failures are skipped on their header, unread") {
  // Every failed reply and campaign message of the suite comes through this topic.
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  const auto dead = fx.outcome(types::notification_message_dead_lettered, c, command,
                               R"(,"reason":"provider answered 500 6 times",)"
                               R"("dlq_topic":"notification.commands.v1.dlq")");
  auto foreign = record(events::topics::notification_events, dead);
  foreign.headers.push_back({std::string(events::headers::command_source), "/lia/collections"});
  REQUIRE(fx.handlers->handle(foreign).ok());
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 0);  // (a forged match: unread)
  // Ours, or from a producer before the header: read.
  REQUIRE(fx.handlers->handle(record(events::topics::notification_events, dead)).ok());
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 1);
}

TEST_CASE(
    "a replayed survey send and a new resolution of its conversation wait for each other: one "
    "survey stays open") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  fx.apply(fx.outcome(types::notification_message_dead_lettered, c, command,
                      R"(,"reason":"provider answered 500 6 times",)"
                      R"("dlq_topic":"notification.commands.v1.dlq")"));
  REQUIRE(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 1);
  fx.clock.advance(10min);
  fx.apply(fx.reopened(c));

  // Another pod decides on this conversation's surveys meanwhile.
  testing::HeldTransaction other(*fx.pool, [&](pg::Tx& tx) -> core::Status {
    auto l = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                     survey_lock_key(fx.schema, c.conversation_id));
    if (!l) return l.error();
    return {};
  });
  const auto waiting = [&] { return other.waiters(); };
  // The replayed dead letter's send (it revives the survey) and the new resolution (it asks
  // only when no survey is open), in this order, each in its own transaction.
  auto sent = record(events::topics::notification_events,
                     fx.outcome(types::notification_message_sent, c, command,
                                R"(,"provider_message_id":"wamid.R")"));
  sent.headers.push_back(
      {std::string(events::headers::command_source), events::source_for("nps_gamification")});
  // (Catch2 asserts on this thread only: the others keep their outcomes.)
  core::Status replayed;
  core::Status resolved;
  std::thread replay([&] { replayed = fx.handlers->handle(sent); });
  const bool replay_waits = testing::wait_until([&] { return waiting() == 1; }, 10s, 10ms);
  const auto resolution_event = fx.resolved(c, kAgentB);
  std::thread resolution([&] { resolved = fx.handlers->on_event(resolution_event); });
  const bool both_wait = testing::wait_until([&] { return waiting() == 2; }, 10s, 10ms);
  CHECK(other.release().ok());
  replay.join();
  resolution.join();
  CHECK(replayed.ok());
  CHECK(resolved.ok());
  CHECK(replay_waits);
  CHECK(both_wait);
  // The send went first: the old survey is open again, so the resolution asked nothing more.
  CHECK(fx.count("surveys") == 1);
  CHECK(fx.count("surveys WHERE send_failed_at IS NULL AND agent_id = '" + kAgentB + "'") == 1);
}

TEST_CASE("a reply 25 hours after the survey is not recorded") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(25h);
  fx.apply(fx.reply(c, "10"));
  CHECK(fx.count("satisfaction_feedback") == 0);
  CHECK(fx.count("surveys WHERE answered_at IS NULL") == 1);
  CHECK(fx.outbox().size() == 2);

  // Just inside the window it counts.
  const Chat d = fx.new_chat();
  fx.apply(fx.resolved(d, kAgentA));
  fx.clock.advance(23h + 59min);
  fx.apply(fx.reply(d, "8"));
  CHECK(fx.count("satisfaction_feedback WHERE category = 'neutral'") == 1);
}

TEST_CASE("a number written after the resolution counts even before this service made the survey") {
  Fixture fx;
  const Chat c = fx.new_chat();
  const auto resolution = fx.resolved(c, kAgentA);  // resolved at 12:00
  fx.clock.advance(5min);
  const auto early = fx.reply(c, "2");  // 12:05: conversation routes it to the survey
  fx.clock.advance(25min);              // this service only now creates the survey (12:30)
  fx.apply(resolution);
  fx.apply(early);
  CHECK(fx.count("satisfaction_feedback WHERE nps_score = 2 AND category = 'detractor'") == 1);
  CHECK(fx.count("surveys WHERE answered_at IS NOT NULL") == 1);
  // The window runs from the resolution: 24 h after 12:00, not after 12:30.
  CHECK(fx.count("surveys WHERE expires_at - sent_at = interval '24 hours' AND sent_at = "
                 "timestamptz '" +
                 std::string(resolution.time) + "'") == 1);

  // A number written before the resolution answered something else.
  const Chat d = fx.new_chat();
  const auto before = fx.reply(d, "9");
  fx.clock.advance(1min);
  fx.apply(fx.resolved(d, kAgentA));
  fx.apply(before);
  CHECK(fx.count("satisfaction_feedback WHERE conversation_id = '" + d.conversation_id + "'") == 0);
  fx.clock.advance(1min);
  fx.apply(fx.reply(d, "10"));
  CHECK(fx.count("satisfaction_feedback WHERE nps_score = 10 AND category = 'promoter'") == 1);
}

TEST_CASE("a score counts when the customer wrote it, not when it was processed") {
  Fixture fx;
  fx.clock.set(at("2026-12-01T02:40:00Z"));  // 23:40 of November 30th in São Paulo
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(10min);
  const auto answer = fx.reply(c, "10");  // written at 23:50, São Paulo
  fx.clock.advance(20min);                // handled at 00:10 of December 1st
  fx.apply(answer);
  auto req = fx.request("GET", auth::Role::supervisor);
  req.query = {{"from", "2026-11-01"}, {"to", "2026-12-01"}};
  CHECK(parse(fx.api->nps(req).body)["responses"].GetInt() == 1);
  req.query = {{"from", "2026-12-01"}};
  CHECK(parse(fx.api->nps(req).body)["responses"].GetInt() == 0);
}

TEST_CASE(
    "a survey reply that is not a score, or a message not routed to the survey, records nothing") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "quero falar com um atendente"));
  fx.apply(fx.reply(c, "10", "ai"));
  CHECK(fx.count("satisfaction_feedback") == 0);
  CHECK(fx.outbox().size() == 2);
  // Without any survey for the conversation a score is ignored too.
  const Chat lone = fx.new_chat();
  fx.apply(fx.reply(lone, "9"));
  CHECK(fx.count("satisfaction_feedback") == 0);
}

TEST_CASE(
    "a survey the notification service could not send is flagged, published as failed and "
    "takes no score") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  const auto failure = fx.outcome(types::notification_message_failed, c, command,
                                  R"(,"reason":"recipient is not a WhatsApp user")");
  fx.apply(failure);
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL AND send_error LIKE 'recipient%'") == 1);
  // conversation hears of it after the survey.sent, on the same key (outbox() checks schemas).
  const auto published = fx.outbox();
  REQUIRE(published.size() == 3);
  CHECK(published[1].event.type == types::engagement_survey_sent);
  CHECK(published[2].event.type == types::engagement_survey_failed);
  CHECK(published[2].key == published[1].key);
  CHECK(published[2].str("survey_id") == published[1].str("survey_id"));
  CHECK(published[2].str("reason") == "recipient is not a WhatsApp user");
  // The failure again (a redelivery, or the dead letter after the failure): nothing more.
  fx.apply(fx.outcome(types::notification_message_failed, c, command,
                      R"(,"reason":"recipient is not a WhatsApp user")"));
  CHECK(fx.outbox().size() == 3);
  // A number that still reached the survey (before conversation heard) is not its score.
  fx.clock.advance(1min);
  fx.apply(fx.reply(c, "2"));
  CHECK(fx.count("satisfaction_feedback") == 0);
  CHECK(fx.outbox().size() == 3);
}

TEST_CASE(
    "a survey the provider accepted and then could not deliver is closed, unless already "
    "answered") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  fx.apply(fx.outcome(types::notification_message_sent, c, command,
                      R"(,"provider_message_id":"wamid.S1")"));
  CHECK(fx.outbox().size() == 2);
  // Meta's failed tick, reported by notification after the sent.
  // (as the relay publishes it: the type header; without the command source header)
  REQUIRE(fx.handlers
              ->handle(record(events::topics::notification_events,
                              fx.outcome(types::notification_message_undelivered, c, command,
                                         R"(,"provider_message_id":"wamid.S1",)"
                                         R"("reason":"not delivered: Message undeliverable",)"
                                         R"("code":"131026")")))
              .ok());
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL AND send_error LIKE 'not delivered%'") ==
        1);
  auto published = fx.outbox();
  REQUIRE(published.size() == 3);
  CHECK(published[2].event.type == types::engagement_survey_failed);

  // Another survey, answered before such a report (a late or wrong one): it keeps its score.
  const Chat d = fx.new_chat();
  fx.apply(fx.resolved(d, kAgentA));
  published = fx.outbox();
  REQUIRE(published.size() == 5);
  const std::string second = published[3].str("command_id");
  fx.clock.advance(1min);
  fx.apply(fx.reply(d, "9"));
  REQUIRE(fx.count("satisfaction_feedback WHERE nps_score = 9") == 1);
  const auto after_score = fx.outbox().size();
  fx.apply(fx.outcome(types::notification_message_undelivered, d, second,
                      R"(,"provider_message_id":"wamid.S2",)"
                      R"("reason":"not delivered: Message undeliverable","code":"131026")"));
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 1);
  CHECK(fx.outbox().size() == after_score);
}

TEST_CASE(
    "a survey whose send outcome is unknown stays open, and one sent after its failure (a "
    "replayed dead letter) is announced again and takes its score") {
  Fixture fx;
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentA));
  const std::string command = fx.outbox()[0].str("command_id");
  const auto outcome = [&](std::string_view type, const std::string& extra) {
    return fx.outcome(type, c, command, extra);
  };
  // No answer after the request went out: it may have been delivered.
  fx.apply(outcome(types::notification_message_failed,
                   R"(,"reason":"no answer from the provider","code":"outcome_unknown")"));
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 0);
  CHECK(fx.outbox().size() == 2);

  const auto dead = outcome(
      types::notification_message_dead_lettered,
      R"(,"reason":"provider answered 500 4 times","dlq_topic":"notification.commands.v1.dlq")");
  fx.apply(dead);
  REQUIRE(fx.outbox().size() == 3);  // survey.failed
  // The dead letter replayed, the survey goes out: a message.sent of nps_gamification's
  // command reaches the handler (others' are skipped by their lia.command_source header).
  fx.clock.advance(2h);
  auto sent =
      record(events::topics::notification_events,
             outcome(types::notification_message_sent, R"(,"provider_message_id":"wamid.X")"));
  auto others = sent;
  others.headers.push_back({std::string(events::headers::command_source), "/lia/conversation"});
  REQUIRE(fx.handlers->handle(others).ok());
  CHECK(fx.outbox().size() == 3);
  sent.headers.push_back(
      {std::string(events::headers::command_source), events::source_for("nps_gamification")});
  REQUIRE(fx.handlers->handle(sent).ok());
  const auto published = fx.outbox();
  REQUIRE(published.size() == 4);
  CHECK(published[3].event.type == types::engagement_survey_sent);
  CHECK(published[3].str("survey_id") == published[1].str("survey_id"));
  CHECK(published[3].str("expires_at") == published[1].str("expires_at"));
  CHECK(fx.count("surveys WHERE send_failed_at IS NULL") == 1);
  REQUIRE(fx.handlers->handle(sent).ok());  // again: nothing more
  CHECK(fx.outbox().size() == 4);
  // Both redelivered, in their order (a restart before the offsets were committed): each was
  // handled once already.
  fx.apply(dead);
  REQUIRE(fx.handlers->handle(sent).ok());
  CHECK(fx.outbox().size() == 4);
  CHECK(fx.count("surveys WHERE send_failed_at IS NULL") == 1);
  fx.apply(fx.reply(c, "9"));
  CHECK(fx.count("satisfaction_feedback WHERE nps_score = 9") == 1);
}

TEST_CASE(
    "database trouble is a retryable error that publishes nothing, and each record applies once "
    "when the database is back") {
  Fixture fx;
  const Chat a = fx.new_chat();
  fx.apply(fx.resolved(a, kAgentA));  // its survey sent
  const Chat c = fx.new_chat();
  fx.apply(fx.resolved(c, kAgentB));  // and this one's
  const auto before = fx.outbox();
  REQUIRE(before.size() == 4);
  fx.clock.advance(10min);
  const Chat b = fx.new_chat();

  // Every kind of record that writes: a resolution (a survey to send), a score, a reopening
  // and a survey's failed send.
  const std::vector<kafka::Message> records = {
      record(events::topics::conversation_events, fx.resolved(b, kAgentB)),
      record(events::topics::conversation_events, fx.reply(a, "9")),
      record(events::topics::conversation_events, fx.reopened(a)),
      record(events::topics::notification_events,
             fx.outcome(types::notification_message_failed, c, before[2].str("command_id"),
                        R"(,"reason":"recipient is not a WhatsApp user")"))};

  // The partition must wait and retry in place: a non-retryable error would dead-letter the
  // record and let the chat's next records overtake it.
  EventHandlers down(lia::testing::unreachable_pool(), fx.schema, fx.settings, fx.clock);
  for (const auto& m : records) {
    INFO(*m.header("lia.event_type"));
    auto st = down.handle(m);
    REQUIRE_FALSE(st.ok());
    INFO(st.error().describe());
    CHECK(st.error().retryable());
  }
  CHECK(fx.outbox().size() == 4);
  CHECK(fx.count("surveys") == 2);
  CHECK(fx.count("satisfaction_feedback") == 0);
  CHECK(fx.count("agent_resolutions WHERE reopened") == 0);
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 0);

  // The database back: each record applies, and handled once more, changes nothing.
  for (const auto& m : records) {
    INFO(*m.header("lia.event_type"));
    auto st = fx.handlers->handle(m);
    if (!st) FAIL(st.error().describe());
  }
  for (const auto& m : records) CHECK(fx.handlers->handle(m).ok());
  const auto after = fx.outbox();
  // B's survey and survey.sent, A's score and thank-you, C's survey.failed
  REQUIRE(after.size() == 9);
  int surveys_sent = 0, scores = 0, surveys_failed = 0;
  for (const auto& e : after) {
    if (e.event.type == types::engagement_survey_sent) ++surveys_sent;
    if (e.event.type == types::engagement_score_recorded) ++scores;
    if (e.event.type == types::engagement_survey_failed) ++surveys_failed;
  }
  CHECK(surveys_sent == 3);
  CHECK(scores == 1);
  CHECK(surveys_failed == 1);
  CHECK(fx.count("surveys") == 3);
  CHECK(fx.count("satisfaction_feedback WHERE nps_score = 9") == 1);
  CHECK(fx.count("agent_resolutions WHERE reopened") == 1);
  CHECK(fx.count("surveys WHERE send_failed_at IS NOT NULL") == 1);

  // users.v1 (runtime::DeskUsers), the same: retryable while the database is down.
  const auto user = record(
      "users.v1",
      events::make_event(
          events::types::user_upserted, 1, "/lia/conversation", "",
          R"({"user_id":"0190e0a4-7b2c-7def-8123-00000000ad02","name":"Ana","email":"ana@example.com",)"
          R"("role":"SUPERVISOR","active":true,"updated_at":"2026-11-23T12:00:00Z"})"));
  runtime::DeskUsers users_down(lia::testing::unreachable_pool(), fx.schema);
  auto st = users_down.apply(user);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().retryable());
  CHECK(fx.count("desk_users") == 0);
  runtime::DeskUsers users(fx.pool, fx.schema);
  REQUIRE(users.apply(user).ok());
  CHECK(fx.count("desk_users WHERE role = 'SUPERVISOR' AND active") == 1);
}

TEST_CASE("with the database unreachable the API answers 503 JSON") {
  Fixture fx;
  const Api down(lia::testing::unreachable_pool(), fx.schema, fx.settings, fx.clock);
  // A desk user's token (its user looked up first), and one the desk users do not cover
  // (the route's own query).
  for (const auto& req : {fx.request("GET", auth::Role::supervisor),
                          fx.request("GET", auth::Role::supervisor, "service-token")}) {
    auto res = down.nps(req);
    INFO(res.body);
    CHECK(res.status == 503);
    CHECK(res.content_type == "application/json");
    auto body = parse(res.body);
    REQUIRE(body.IsObject());
    REQUIRE(body.HasMember("error"));
    CHECK(std::string(body["error"]["code"].GetString()) == "unavailable");
  }
}

TEST_CASE("GET /api/nps computes the NPS of ten feedback rows") {
  Fixture fx;
  for (const char* score : {"10", "10", "9", "9", "9", "8", "7", "6", "3", "0"}) {
    fx.resolve_and_score(kAgentA, score);
  }
  REQUIRE(fx.count("satisfaction_feedback") == 10);
  auto req = fx.request("GET", auth::Role::supervisor);
  auto res = fx.api->nps(req);
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  CHECK(body["responses"].GetInt() == 10);
  CHECK(body["promoters"].GetInt() == 5);
  CHECK(body["neutrals"].GetInt() == 2);
  CHECK(body["detractors"].GetInt() == 3);
  CHECK(body["nps"].GetInt() == 20);

  req.query = {{"from", "2026-11-11"}};
  auto later = parse(fx.api->nps(req).body);
  CHECK(later["responses"].GetInt() == 0);
  CHECK(later["nps"].GetInt() == 0);
  req.query = {{"from", "2026-11-10"}, {"to", "2026-11-11T00:00:00Z"}};
  CHECK(parse(fx.api->nps(req).body)["responses"].GetInt() == 10);

  // An agent asks for their own figures only; a supervisor for anyone's.
  fx.resolve_and_score(kAgentB, "10");
  auto own = fx.request("GET", auth::Role::agent, kAgentB);
  own.query = {{"agent_id", kAgentB}};
  auto mine = fx.api->nps(own);
  REQUIRE(mine.status == 200);
  CHECK(parse(mine.body)["responses"].GetInt() == 1);
  own.query = {{"from", "2026-11-01"}};  // no agent_id: still their own, not the team's
  auto implied = fx.api->nps(own);
  REQUIRE(implied.status == 200);
  CHECK(parse(implied.body)["responses"].GetInt() == 1);
  own.query = {{"agent_id", kAgentA}};
  auto theirs = fx.api->nps(own);
  CHECK(theirs.status == 403);
  CHECK(theirs.body.find("\"forbidden\"") != std::string::npos);
  auto sup = fx.request("GET", auth::Role::supervisor);
  sup.query = {{"agent_id", kAgentA}};
  auto by_supervisor = fx.api->nps(sup);
  REQUIRE(by_supervisor.status == 200);
  CHECK(parse(by_supervisor.body)["responses"].GetInt() == 10);

  // That supervisor demoted to AGENT in conversation (users.v1): their token, still valid and
  // still saying SUPERVISOR, gets an agent's answers, their own only.
  fx.desk_user_is("AGENT", true);
  CHECK(fx.api->nps(sup).status == 403);
  sup.query = {};
  auto now_own = fx.api->nps(sup);
  REQUIRE(now_own.status == 200);
  CHECK(parse(now_own.body)["responses"].GetInt() == 0);
}

TEST_CASE("supervisors list and handle detractor feedback") {
  Fixture fx;
  fx.resolve_and_score(kAgentA, "2");
  fx.resolve_and_score(kAgentA, "10");
  auto list = fx.request("GET", auth::Role::supervisor);
  list.query = {{"handling_status", "pending"}};
  auto pending = parse(fx.api->list_feedback(list).body);
  REQUIRE(pending["feedback"].Size() == 1);
  const std::string id = pending["feedback"][0]["id"].GetString();
  CHECK(std::string(pending["feedback"][0]["category"].GetString()) == "detractor");

  auto patch = fx.request("PATCH", auth::Role::supervisor);
  patch.params = {{"id", id}};
  patch.body =
      R"({"handling_status":"resolved","handling_notes":"Cliente recontatado","handling_score":4})";
  auto res = fx.api->patch_feedback(patch);
  REQUIRE(res.status == 200);
  auto row = parse(res.body);
  CHECK(std::string(row["handling_status"].GetString()) == "resolved");
  CHECK(std::string(row["handling_notes"].GetString()) == "Cliente recontatado");
  CHECK(row["handling_score"].GetInt() == 4);
  CHECK(std::string(row["handled_by"].GetString()) == "0190e0a4-7b2c-7def-8123-00000000ad01");
  CHECK(row["handled_at"].IsString());
  CHECK(parse(fx.api->list_feedback(list).body)["feedback"].Size() == 0);

  // A null status is refused, and records nobody as having handled it.
  patch.body = R"({"handling_status":null})";
  auto null_status = fx.api->patch_feedback(patch);
  CHECK(null_status.status == 400);
  CHECK(null_status.body.find("cannot be null") != std::string::npos);

  patch.params = {{"id", core::Uuid::v7().str()}};
  patch.body = R"({"handling_status":"resolved"})";
  CHECK(fx.api->patch_feedback(patch).status == 404);
  auto all = fx.request("GET", auth::Role::admin);
  CHECK(parse(fx.api->list_feedback(all).body)["feedback"].Size() == 2);
}

TEST_CASE("feedback pages follow each other by next_before, as the offset pages do") {
  Fixture fx;
  for (const char* score : {"1", "2", "3", "4", "5"}) {
    fx.resolve_and_score(kAgentA, score);
    fx.clock.advance(std::chrono::hours{1});
  }
  auto req = fx.request("GET", auth::Role::supervisor);
  req.query = {{"limit", "5"}};
  auto whole = parse(fx.api->list_feedback(req).body);
  REQUIRE(whole["feedback"].Size() == 5);
  CHECK(whole.HasMember("next_before"));  // a full page: maybe more

  std::vector<std::string> paged;
  req.query = {{"limit", "2"}};
  for (int page = 0; page < 3; ++page) {
    auto res = fx.api->list_feedback(req);
    REQUIRE(res.status == 200);
    auto body = parse(res.body);
    for (const auto& f : body["feedback"].GetArray()) paged.emplace_back(f["id"].GetString());
    CHECK(body.HasMember("next_before") == (page < 2));
    if (body.HasMember("next_before")) {
      req.query = {{"limit", "2"}, {"before", body["next_before"].GetString()}};
    }
  }
  REQUIRE(paged.size() == 5);
  for (rapidjson::SizeType i = 0; i < 5; ++i) {
    CHECK(paged[i] == whole["feedback"][i]["id"].GetString());
  }

  req.query = {{"before", "12_not-a-uuid"}};
  auto bad = fx.api->list_feedback(req);
  CHECK(bad.status == 400);
  CHECK(bad.body.find("next_before of an earlier page") != std::string::npos);
  req.query = {{"offset", "2"}, {"before", core::page_cursor(1, core::Uuid::v7().str())}};
  CHECK(fx.api->list_feedback(req).status == 400);
}

TEST_CASE("a reopen counts against a recent resolution only, not one from weeks before") {
  Fixture fx;  // LIA_NPS_REOPEN_WINDOW_HOURS: 72 by default
  const Chat recent = fx.new_chat();
  fx.apply(fx.resolved(recent, kAgentA));
  fx.clock.advance(71h);
  fx.apply(fx.reopened(recent));
  CHECK(fx.count("agent_resolutions WHERE reopened") == 1);

  const Chat old = fx.new_chat();
  fx.apply(fx.resolved(old, kAgentB));
  fx.clock.advance(20 * 24h);  // the customer writes about something new
  fx.apply(fx.reopened(old));
  CHECK(fx.count("agent_resolutions WHERE reopened") == 1);
  CHECK(fx.count("agent_resolutions WHERE NOT reopened AND agent_id = '" + kAgentB + "'") == 1);
}

TEST_CASE("the ranking of three agents with their badges and hall of fame") {
  Fixture fx;
  // A: 4 resolutions, 10 s per message, scores averaging 9.5.
  for (const char* s : {"10", "10", "9", "9"}) fx.resolve_and_score(kAgentA, s, 60000, 6);
  // B: 2 resolutions, 5 s per message, average 7.5, one reopened afterwards (50 %).
  fx.resolve_and_score(kAgentB, "8", 40000, 8);
  const Chat b2 = fx.resolve_and_score(kAgentB, "7", 40000, 8);
  fx.apply(fx.reopened(b2));
  // C: 1 resolution, 100 s per message, a detractor.
  fx.resolve_and_score(kAgentC, "3", 300000, 3);

  auto req = fx.request("POST", auth::Role::supervisor);
  req.query = {{"period", "2026-11"}};
  auto res = fx.api->calculate(req);
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  const auto& agents = body["agents"];
  REQUIRE(agents.Size() == 3);
  CHECK(std::string(agents[0]["agent_id"].GetString()) == kAgentA);
  CHECK(agents[0]["total_score"].GetInt() == 70);
  CHECK(agents[0]["total_conversations"].GetInt() == 4);
  CHECK(agents[0]["success_rate"].GetInt() == 100);
  CHECK(agents[0]["avg_response_time"].GetInt() == 10);
  CHECK(std::string(agents[1]["agent_id"].GetString()) == kAgentB);
  CHECK(agents[1]["total_score"].GetInt() == 59);
  CHECK(agents[1]["success_rate"].GetInt() == 50);
  CHECK(std::string(agents[2]["agent_id"].GetString()) == kAgentC);
  CHECK(agents[2]["total_score"].GetInt() == 45);
  CHECK(agents[2]["rank"].GetInt() == 3);

  auto badges_of = [&](rapidjson::SizeType i) {
    std::vector<std::string> out;
    for (const auto& b : agents[i]["badges"].GetArray()) out.emplace_back(b["type"].GetString());
    return out;
  };
  CHECK(badges_of(0) == std::vector<std::string>{"solucionador", "campeao_volume"});
  CHECK(badges_of(1) == std::vector<std::string>{"velocista"});
  CHECK(badges_of(2).empty());
  CHECK(agents[1]["badges"][0]["metric"].GetInt() == 5);

  REQUIRE(body["hall_of_fame"].Size() == 3);
  CHECK(body["hall_of_fame"][0]["badges"].Size() == 2);
  CHECK(fx.count("gamification_scores WHERE period = '2026-11'") == 3);
  CHECK(fx.count("gamification_badges WHERE period = '2026-11'") == 3);
  CHECK(fx.count("gamification_history WHERE period = '2026-11'") == 3);

  // Recalculating replaces the period; reading the ranking gives the same answer.
  REQUIRE(fx.api->calculate(req).status == 200);
  CHECK(fx.count("gamification_scores") == 3);
  auto read = fx.request("GET", auth::Role::agent);
  read.query = {{"period", "2026-11"}};
  auto ranking = fx.api->ranking(read);
  REQUIRE(ranking.status == 200);
  CHECK(parse(ranking.body)["agents"][0]["total_score"].GetInt() == 70);
  read.query = {{"period", "2026-10"}};
  CHECK(parse(fx.api->ranking(read).body)["agents"].Size() == 0);
}

TEST_CASE("a conversation resolved again after a reopen counts once in the agent's volume") {
  Fixture fx;
  const Chat chat = fx.new_chat();
  fx.apply(fx.resolved(chat, kAgentA));
  fx.clock.advance(1h);
  fx.apply(fx.reopened(chat));
  fx.clock.advance(1h);
  fx.apply(fx.resolved(chat, kAgentA));
  REQUIRE(fx.count("agent_resolutions WHERE agent_id = '" + kAgentA + "'") == 2);

  auto req = fx.request("POST", auth::Role::supervisor);
  req.query = {{"period", "2026-11"}};
  auto res = fx.api->calculate(req);
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  REQUIRE(body["agents"].Size() == 1);
  CHECK(body["agents"][0]["total_conversations"].GetInt() == 1);
  CHECK(body["agents"][0]["success_rate"].GetInt() == 50);  // one of its two resolutions held
}

TEST_CASE("months and bare dates are São Paulo's, not UTC's") {
  Fixture fx;
  // 23:30 on 30 November in São Paulo is already 1 December in UTC.
  fx.clock.set(at("2026-12-01T02:29:00Z"));
  fx.resolve_and_score(kAgentA, "10");
  auto calc = fx.request("POST", auth::Role::supervisor);
  auto res = fx.api->calculate(calc);  // no period: the current month, São Paulo's
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  CHECK(std::string(body["period"].GetString()) == "2026-11");
  REQUIRE(body["agents"].Size() == 1);
  CHECK(std::string(body["agents"][0]["agent_id"].GetString()) == kAgentA);
  calc.query = {{"period", "2026-12"}};
  CHECK(parse(fx.api->calculate(calc).body)["agents"].Size() == 0);

  // A bare date is local midnight: 1 December starts at 03:00 UTC.
  auto nps = fx.request("GET", auth::Role::supervisor);
  nps.query = {{"from", "2026-12-01"}};
  auto from_december = parse(fx.api->nps(nps).body);
  CHECK(from_december["responses"].GetInt() == 0);
  CHECK(std::string(from_december["from"].GetString()) == "2026-12-01T03:00:00.000Z");
  nps.query = {{"to", "2026-12-01"}};
  CHECK(parse(fx.api->nps(nps).body)["responses"].GetInt() == 1);

  // Another offset, another calendar: in UTC the same score is December's.
  Settings utc = fx.settings;
  utc.utc_offset = std::chrono::minutes{0};
  const Api utc_api(fx.pool, fx.schema, utc, fx.clock);
  calc.query = {};
  auto in_utc = parse(utc_api.calculate(calc).body);
  CHECK(std::string(in_utc["period"].GetString()) == "2026-12");
  CHECK(in_utc["agents"].Size() == 1);
}

TEST_CASE("an agent whose customers gave no score is ranked without the NPS, not at NPS 0") {
  Fixture fx;
  // One resolution each, 60 s per message, none reopened: volume 0, resolution and time 100.
  const Chat unscored = fx.new_chat();
  fx.apply(fx.resolved(unscored, kAgentA, 600000, 10));  // the customer never answered
  fx.resolve_and_score(kAgentB, "0", 600000, 10);        // the customer gave 0
  auto req = fx.request("POST", auth::Role::supervisor);
  req.query = {{"period", "2026-11"}};
  auto res = fx.api->calculate(req);
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  const auto& agents = body["agents"];
  REQUIRE(agents.Size() == 2);
  CHECK(std::string(agents[0]["agent_id"].GetString()) == kAgentA);
  CHECK(agents[0]["nps_score"].GetInt() == 0);
  CHECK(agents[0]["total_score"].GetInt() == 50);  // (100*20 + 100*10) / 60
  CHECK(std::string(agents[1]["agent_id"].GetString()) == kAgentB);
  CHECK(agents[1]["total_score"].GetInt() == 30);  // (100*20 + 100*10) / 100
}

TEST_CASE("an agent who does not take part in gamification is left out of the ranking") {
  Fixture fx;
  fx.resolve_and_score(kAgentA, "10");
  fx.resolve_and_score(kAgentB, "9");
  fx.agent_participates(kAgentA, false, "2026-11-20T12:00:00Z");
  auto req = fx.request("POST", auth::Role::supervisor);
  req.query = {{"period", "2026-11"}};
  auto res = fx.api->calculate(req);
  REQUIRE(res.status == 200);
  auto body = parse(res.body);
  REQUIRE(body["agents"].Size() == 1);
  CHECK(std::string(body["agents"][0]["agent_id"].GetString()) == kAgentB);
  CHECK(body["agents"][0]["rank"].GetInt() == 1);
  // An older update changes nothing; a newer one brings A back.
  fx.agent_participates(kAgentA, true, "2026-11-19T12:00:00Z");
  CHECK(parse(fx.api->calculate(req).body)["agents"].Size() == 1);
  fx.agent_participates(kAgentA, true, "2026-11-21T12:00:00Z");
  CHECK(parse(fx.api->calculate(req).body)["agents"].Size() == 2);
}

TEST_CASE("gamification settings are read by supervisors and changed by admins, validated") {
  Fixture fx;
  auto get = fx.request("GET", auth::Role::supervisor);
  auto current = parse(fx.api->get_settings(get).body);
  CHECK(current["nps_weight"].GetInt() == 40);
  CHECK(current["target_volume"].GetInt() == 500);
  CHECK(std::string(current["calculation_period"].GetString()) == "monthly");

  auto put = fx.request("PUT", auth::Role::admin);
  put.body = R"({"nps_weight":50})";
  auto bad = fx.api->put_settings(put);
  CHECK(bad.status == 400);
  CHECK(bad.body.find("the weights (nps_weight, volume_weight, resolution_weight, "
                      "response_time_weight) must sum to 100, they sum to 110") !=
        std::string::npos);
  // Named as this API names them.
  put.body = R"({"target_nps":11})";
  auto target = fx.api->put_settings(put);
  CHECK(target.status == 400);
  CHECK(target.body.find("field 'target_nps' must be within 1..10") != std::string::npos);
  put.body = R"({"target_response_time":0})";
  CHECK(fx.api->put_settings(put).body.find("field 'target_response_time' must be positive") !=
        std::string::npos);
  put.body = R"({"colour":"blue"})";
  CHECK(fx.api->put_settings(put).status == 400);
  put.body = R"({"calculation_time":"25:00"})";
  CHECK(fx.api->put_settings(put).status == 400);

  put.body =
      R"({"nps_weight":50,"volume_weight":20,"target_volume":100,"calculation_time":"6:30"})";
  auto ok = fx.api->put_settings(put);
  REQUIRE(ok.status == 200);
  auto after = parse(fx.api->get_settings(get).body);
  CHECK(after["nps_weight"].GetInt() == 50);
  CHECK(after["volume_weight"].GetInt() == 20);
  CHECK(after["target_volume"].GetInt() == 100);
  CHECK(std::string(after["calculation_time"].GetString()) == "06:30");
  CHECK(std::string(after["updated_by"].GetString()) == "0190e0a4-7b2c-7def-8123-00000000ad01");

  auto by_supervisor = fx.request("PUT", auth::Role::supervisor);
  by_supervisor.body = R"({"target_nps":9})";
  CHECK(fx.api->put_settings(by_supervisor).status == 403);

  // The admin deactivated in conversation (users.v1): the same token is refused at once.
  fx.desk_user_is("ADMIN", false);
  put.body = R"({"target_nps":9})";
  CHECK(fx.api->put_settings(put).status == 401);
  CHECK(fx.api->get_settings(get).status == 401);
}

TEST_CASE("the engagement migrations can be reverted and applied again") {
  Fixture fx;
  pg::Migrator m(fx.pool, fx.schema, "nps_gamification", migrations());
  auto down = m.down(0);
  REQUIRE(down.ok());
  CHECK(*down == static_cast<int>(migrations().size()));
  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(fx.count("gamification_settings") == 1);
}

TEST_CASE(
    "through the broker: records with the relay's headers reach the handler, the outbox is "
    "published") {
  Fixture fx;
  auto producer =
      kafka::Producer::create({.bootstrap = testing::kafka_bootstrap(), .client_id = "nps-test"});
  REQUIRE(producer.ok());
  std::shared_ptr<kafka::Producer> prod = std::move(*producer);
  const std::string topic = testing::unique_name("nps_conv");

  // An unrelated event, a stored message not for the survey, and a resolution.
  const Chat c = fx.new_chat();
  const Chat other = fx.new_chat();
  auto reply_ai = fx.reply(other, "oi", "ai");
  const events::CloudEvent records[] = {reply_ai, fx.resolved(c, kAgentA)};
  for (const auto& ev : records) {
    auto rec = runtime::make_record("conversation", {.topic = topic,
                                                     .key = events::chat_key(c.instance, c.chat_id),
                                                     .type = ev.type,
                                                     .subject = c.conversation_id,
                                                     .data = ev.data});
    REQUIRE(rec.ok());
    auto done = prod->produce(*rec).get();
    REQUIRE(done.ok());
  }
  auto consumer = kafka::Consumer::create(
      {.bootstrap = testing::kafka_bootstrap(),
       .group_id = testing::unique_name("nps_group"),
       .topics = {topic}},
      [&](const kafka::Message& m) { return fx.handlers->handle(m); }, nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  CHECK(testing::wait_until([&] { return fx.count("surveys") == 1; }, std::chrono::seconds{30}));
  CHECK(testing::wait_until([&] { return (*consumer)->handled() >= 2; }, std::chrono::seconds{10}));
  (*consumer)->close();

  pg::OutboxRelay relay(fx.pool, prod, fx.schema);
  auto published = relay.publish_once();
  REQUIRE(published.ok());
  CHECK(*published == 2);  // the survey's send_text and survey.sent
  CHECK(fx.count("outbox WHERE published_at IS NULL") == 0);
}
