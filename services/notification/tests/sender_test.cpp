// The command and status consumers against PostgreSQL, the broker and the provider sandbox.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>
#include <lia/events/names.hpp>
#include <lia/http/server.hpp>
#include <lia/json/json.hpp>
#include <lia/notification/app.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox_relay.hpp>
#include <lia/testing/log_lines.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::notification;
using namespace lia::notification::test;
using namespace std::chrono_literals;

namespace {

const std::string kTo = "5511987654321";
const auto kSentType = std::string(events::types::notification_message_sent);
const auto kFailedType = std::string(events::types::notification_message_failed);
const auto kDeadType = std::string(events::types::notification_message_dead_lettered);

json::Document data_of(const events::CloudEvent& ev) {
  auto d = json::parse(ev.data);
  REQUIRE(d.ok());
  return std::move(d).value();
}

std::string str(const json::Value& v) {
  return std::string(json::view(v));
}

void require_ok(const core::Status& st) {
  INFO((st.ok() ? "" : st.error().describe()));
  REQUIRE(st.ok());
}

// A handler of the fixture's store and producer with `options` (and `limiter`: no rate by
// default).
std::unique_ptr<CommandHandler> handler_with(
    const Fixture& fx, const SenderOptions& options,
    std::shared_ptr<RateLimiter> limiter = std::make_shared<RateLimiter>(0)) {
  return std::make_unique<CommandHandler>(
      fx.store, std::make_shared<http::Client>(), std::move(limiter),
      std::make_shared<kafka::DeadLetter>(fx.producer), options);
}

// Another handler on the fixture's store, as another process (a partition's previous or next
// owner) runs one, waiting at most `backoff_max` between tries.
std::unique_ptr<CommandHandler> another_handler(
    const Fixture& fx, std::chrono::milliseconds backoff_max = std::chrono::milliseconds{30000}) {
  auto options = fx.options;
  options.backoff_max = backoff_max;
  return handler_with(fx, options);
}

// What a first handler leaves once it claimed `msg` (text "x"): try 1 counted, in flight.
void claim_first_try(const Fixture& fx, const kafka::Message& msg) {
  auto parsed = parse_command(*events::decode(msg.value));
  REQUIRE(parsed.ok());
  REQUIRE(fx.store->claim(*parsed, std::string("x"), true, core::Uuid::v7().str()).ok());
}

// Waits until the command's first try was noted failed with a 503 (its handler now waits).
void wait_for_noted_503(const Fixture& fx, const std::string& id) {
  REQUIRE(testing::wait_until(
      [&] {
        auto row = fx.row(id);
        return row && row->last_error && row->last_error->find("503") != std::string::npos;
      },
      std::chrono::seconds{10}));
}

// `stale` takes `msg` and waits out a 503; meanwhile `owner`, the partition's new owner,
// resumes the command. Both end without an error (a stale handler that finds the owner's try
// in flight waits for its outcome, and finds the command finished).
void stale_then_owner(const Fixture& fx, CommandHandler& stale, CommandHandler& owner,
                      const kafka::Message& msg, const std::string& id) {
  std::optional<core::Status> stale_result;
  std::thread waiting([&] { stale_result = stale.handle(msg); });
  wait_for_noted_503(fx, id);
  std::optional<core::Status> owner_result;
  std::thread sending([&] { owner_result = owner.handle(msg); });
  waiting.join();
  sending.join();
  REQUIRE(owner_result.has_value());
  CHECK(owner_result->ok());
  REQUIRE(stale_result.has_value());
  CHECK(stale_result->ok());
}

// The database refusing updates of outbound rows for which `when` holds (a trigger's WHEN, on
// OLD and NEW), as when it stops answering at that very write; until allow().
void refuse_writes(Fixture& fx, const std::string& name, const std::string& when) {
  REQUIRE(fx.pool
              ->exec("CREATE FUNCTION " + fx.schema + "." + name +
                     "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '" + name +
                     "'; END $$")
              .ok());
  REQUIRE(fx.pool
              ->exec("CREATE TRIGGER " + name + " BEFORE UPDATE ON " + fx.schema +
                     ".outbound_messages FOR EACH ROW WHEN (" + when + ") EXECUTE FUNCTION " +
                     fx.schema + "." + name + "()")
              .ok());
}

void allow_writes(Fixture& fx, const std::string& name) {
  REQUIRE(fx.pool->exec("DROP TRIGGER " + name + " ON " + fx.schema + ".outbound_messages").ok());
  REQUIRE(fx.pool->exec("DROP FUNCTION " + fx.schema + "." + name + "()").ok());
}

using testing::LogLines;

// The per-number rate's bucket of a send from `instance` (the fixture's Meta number) to `to`.
std::string pair_key(const std::string& to, const std::string& instance = kMetaInstance) {
  SendCommand cmd;
  cmd.instance = instance;
  cmd.to = to;
  return rate_key(cmd);
}

}  // namespace

TEST_CASE("a Meta text command is sent once and reported as sent with the provider's id") {
  Fixture fx;
  const auto id = new_id();
  auto msg = fx.command(events::types::notification_send_text,
                        Fixture::text_data(id, "meta", kTo, "Olá, Maria!"));
  require_ok(fx.handler->handle(msg));

  auto sends = fx.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].provider == "meta");
  CHECK(sends[0].instance == kMetaInstance);
  CHECK(sends[0].to == kTo);
  CHECK(sends[0].text == "Olá, Maria!");

  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(evs[0].subject == std::optional<std::string>("0190e0a4-7b2c-7def-8123-0123456789ab"));
  auto d = data_of(evs[0]);
  CHECK(str(d["command_id"]) == id);
  CHECK(str(d["provider_message_id"]) == sends[0].provider_message_id);
  CHECK(d["attempts"].GetInt() == 1);
  CHECK(fx.outbox(fx.events_topic)[0].key == std::string(kMetaInstance) + ":" + kTo);
  // Names the service that asked, for consumers that only want their own outcomes.
  CHECK(fx.outbox(fx.events_topic)[0].headers.find(
            R"("lia.command_source": "/lia/conversation")") != std::string::npos);

  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->attempts == 1);
  CHECK(row->provider_message_id == sends[0].provider_message_id);
  CHECK(row->delivery_status == "SERVER_ACK");
  CHECK(row->http_status == 200);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
}

TEST_CASE("an Evolution text command is sent with the apikey and reported with key.id") {
  Fixture fx;
  const auto id = new_id();
  const std::string jid = kTo + "@s.whatsapp.net";
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(id, "evolution", jid, "Oi"))));
  auto sends = fx.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].provider == "evolution");
  CHECK(sends[0].instance == kEvolutionInstance);
  CHECK(sends[0].to == jid);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == sends[0].provider_message_id);
  CHECK(str(data_of(evs[0])["provider"]) == "evolution");
}

TEST_CASE("an Evolution template command sends the template rendered from message_templates") {
  Fixture fx;
  const auto id = new_id();
  const std::string data =
      R"({"command_id":")" + id +
      R"(","provider":"evolution","instance":"lia-vendas",)"
      R"("to":"5511987654321","template":{"name":"pesquisa_nps","language":"pt_BR",)"
      R"("parameters":["Maria"]}})";
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_template, data)));
  auto sends = fx.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].text.rfind("Olá Maria! De 0 a 10", 0) == 0);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->template_name == "pesquisa_nps");
  CHECK(row->body == sends[0].text);

  // A template that is not there fails the command for good (and dead-letters it).
  const auto missing = new_id();
  const std::string data2 =
      R"({"command_id":")" + missing +
      R"(","provider":"evolution","instance":"lia-vendas",)"
      R"("to":"5511987654321","template":{"name":"nao_existe","language":"pt_BR"}})";
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_template, data2, 1)));
  CHECK(fx.sandbox.counts().requests == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[1].type == kFailedType);
  CHECK(str(data_of(evs[1])["reason"]).find("nao_existe") != std::string::npos);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").size() == 1);
}

TEST_CASE("a Meta template command goes as Meta's template message") {
  Fixture fx;
  const auto id = new_id();
  const std::string data =
      R"({"command_id":")" + id +
      R"(","provider":"meta","instance":"106540352242922",)"
      R"("to":"5511987654321","template":{"name":"pesquisa_nps","language":"pt_BR",)"
      R"("parameters":["Maria"]}})";
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_template, data)));
  auto sends = fx.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].type == "template");
  CHECK(sends[0].template_name == "pesquisa_nps");
  CHECK(sends[0].template_parameters == std::vector<std::string>{"Maria"});
  REQUIRE(fx.events().size() == 1);
  CHECK(fx.events()[0].type == kSentType);
}

TEST_CASE("500 twice then 200: one message accepted, one sent event, three attempts") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":2,"status":500})").ok());
  const auto id = new_id();
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  const auto c = fx.sandbox.counts();
  CHECK(c.requests == 3);
  CHECK(c.faulted == 2);
  CHECK(c.accepted == 1);
  REQUIRE(fx.sandbox.sends().size() == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 3);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == fx.sandbox.sends()[0].provider_message_id);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->attempts == 3);
  CHECK(row->status == "sent");
}

TEST_CASE("a provider that always fails: dead letter with the reason, and a dead_lettered event") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"always_fail":true,"status":500})").ok());
  const auto id = new_id();
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(id, "meta", kTo, "x"), 41);
  // The handler finishes the command itself: the partition moves on.
  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 4);
  CHECK(fx.sandbox.sends().empty());

  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kDeadType);
  auto d = data_of(evs[0]);
  CHECK(d["attempts"].GetInt() == 4);
  CHECK(str(d["dlq_topic"]) == fx.commands_topic + ".dlq");
  CHECK(str(d["reason"]).find("HTTP 500") != std::string::npos);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "dead_lettered");
  CHECK(row->attempts == 4);

  // The relay publishes the dead letter: the original record plus lia.dlq.* headers.
  pg::OutboxRelay relay(fx.pool, fx.producer, fx.schema);
  std::size_t published = 0;
  REQUIRE(testing::wait_until(
      [&] {
        auto n = relay.publish_once();
        if (n.ok()) published += *n;
        return published >= 2;
      },
      30s, 100ms));
  std::mutex mu;
  std::vector<kafka::Message> got;
  auto consumer = kafka::Consumer::create(
      consumer_config(fx.commands_topic + ".dlq"),
      [&](const kafka::Message& m) {
        std::lock_guard lock(mu);
        got.push_back(m);
        return core::ok();
      },
      nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  REQUIRE(testing::wait_until(
      [&] {
        std::lock_guard lock(mu);
        return !got.empty();
      },
      60s, 50ms));
  (*consumer)->close();
  const auto& dlq = got[0];
  CHECK(dlq.value == msg.value);
  CHECK(dlq.key == msg.key);
  REQUIRE(dlq.header("lia.dlq.error") != nullptr);
  CHECK(dlq.header("lia.dlq.error")->find("HTTP 500") != std::string::npos);
  REQUIRE(dlq.header("lia.dlq.origin.topic") != nullptr);
  CHECK(*dlq.header("lia.dlq.origin.topic") == fx.commands_topic);
  REQUIRE(dlq.header("lia.dlq.origin.offset") != nullptr);
  CHECK(*dlq.header("lia.dlq.origin.offset") == "41");
  REQUIRE(dlq.header("lia.dlq.attempts") != nullptr);
  CHECK(*dlq.header("lia.dlq.attempts") == "4");
  REQUIRE(dlq.header("lia.event_type") != nullptr);
  CHECK(*dlq.header("lia.event_type") == std::string(events::types::notification_send_text));
}

TEST_CASE("a 400 fails the command at once: not retried, failed event with the provider's code") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":400,"code":"131026"})").ok());
  const auto id = new_id();
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  CHECK(fx.sandbox.counts().requests == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kFailedType);
  auto d = data_of(evs[0]);
  CHECK(d["attempts"].GetInt() == 1);
  CHECK(d["http_status"].GetInt() == 400);
  CHECK(str(d["code"]) == "131026");
  CHECK(str(d["reason"]).find("HTTP 400") != std::string::npos);
  CHECK(fx.outbox(fx.events_topic)[0].headers.find(
            R"("lia.command_source": "/lia/conversation")") != std::string::npos);
  // Also dead-lettered, so ops can replay it once the cause is fixed.
  auto dlq = fx.outbox(fx.commands_topic + ".dlq");
  REQUIRE(dlq.size() == 1);
  CHECK(dlq[0].headers.find("\"lia.dlq.retryable\": \"false\"") != std::string::npos);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "failed");
  CHECK(row->error_code == "131026");
}

TEST_CASE("no answer after the provider took the message: failed as unknown, never sent twice") {
  Fixture fx;
  // The sandbox takes the message (the customer has it) and answers after our timeout.
  REQUIRE(fx.sandbox.apply_faults(R"({"slow_next":1,"delay_ms":1500})").ok());
  auto& unknown = core::metrics().counter("lia_notification_sends_total", "",
                                          {{"provider", "meta"}, {"outcome", "unknown"}});
  const auto unknown_before = unknown.value();
  auto options = fx.options;
  options.provider.timeout = std::chrono::milliseconds{300};
  auto handler_owned = handler_with(fx, options);
  CommandHandler& handler = *handler_owned;
  const auto id = new_id();
  require_ok(handler.handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  CHECK(fx.sandbox.sends().size() == 1);  // not tried again
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kFailedType);
  CHECK(str(data_of(evs[0])["reason"]).rfind("outcome unknown", 0) == 0);
  CHECK(unknown.value() == unknown_before + 1);  // LiaSendsWaitingForReplay counts it
  // Dead-lettered: ops decide, after checking, whether to send it again.
  CHECK(fx.outbox(fx.commands_topic + ".dlq").size() == 1);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "failed");
  // The command again (a redelivery) sends nothing more.
  require_ok(handler.handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  CHECK(fx.sandbox.sends().size() == 1);
  // Past the sandbox's late answer (1.5 s): still the one request, the row still failed, and
  // no event more.
  std::this_thread::sleep_for(2s);
  CHECK(fx.sandbox.counts().requests == 1);
  CHECK(fx.row(id)->status == "failed");
  CHECK(fx.events().size() == 1);
}

TEST_CASE("the same command twice is sent once and reported once") {
  Fixture fx;
  const auto id = new_id();
  const auto data = Fixture::text_data(id, "meta", kTo, "uma vez");
  const auto first = fx.command(events::types::notification_send_text, data, 1);
  require_ok(fx.handler->handle(first));
  require_ok(fx.handler->handle(first));  // redelivery of the record
  // The same command id in another event (a producer that re-sent it).
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text, data, 2)));
  CHECK(fx.sandbox.counts().requests == 1);
  CHECK(fx.sandbox.sends().size() == 1);
  CHECK(fx.events().size() == 1);
}

TEST_CASE("a failed command redelivered is not retried, but a replayed dead letter is") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  const auto id = new_id();
  auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  require_ok(fx.handler->handle(msg));
  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 1);
  CHECK(fx.events().size() == 1);

  // What kafka::DeadLetter wrote, put back on the commands topic by a replay.
  auto replayed = msg;
  replayed.headers.push_back({"lia.dlq.origin.topic", fx.commands_topic});
  require_ok(fx.handler->handle(replayed));
  CHECK(fx.sandbox.sends().size() == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[1].type == kSentType);
  CHECK(data_of(evs[1])["attempts"].GetInt() == 1);
}

TEST_CASE("a row reopened for a replay no longer shows the failure it comes back from") {
  // GET /api/outbound/{id} while the replay's send is on its way: `sending`, not the old
  // outcome_unknown or its reason, which would read as a fresh failure.
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  const auto id = new_id();
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  auto failed = fx.row(id);
  REQUIRE(failed);
  REQUIRE(failed->status == "failed");
  REQUIRE(failed->last_error);
  REQUIRE(failed->http_status == 403);
  auto reopened = fx.store->reopen(id, "notification.commands.v1.dlq/0/7");
  REQUIRE(reopened.ok());
  REQUIRE(*reopened);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sending");
  CHECK(row->attempts == 0);
  CHECK_FALSE(row->last_error);
  CHECK_FALSE(row->error_code);
  CHECK_FALSE(row->http_status);
}

TEST_CASE("a replayed dead letter of a command its sender makes again sends nothing") {
  // collections gives a failed attempt back and sends it again as a new command: replaying
  // the first one's dead letter would give the debtor the same message twice.
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  const auto id = new_id();
  auto msg = fx.command(events::types::notification_send_text,
                        Fixture::text_data(id, "meta", kTo, "x", R"(,"replayable":false)"));
  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 1);
  auto replayed = msg;
  replayed.headers.push_back({"lia.dlq.origin.topic", fx.commands_topic});
  require_ok(fx.handler->handle(replayed));
  CHECK(fx.sandbox.counts().requests == 1);
  CHECK(fx.sandbox.sends().empty());
  CHECK(fx.events().size() == 1);  // the failure alone
}

TEST_CASE("each failure is replayed once, however often its dead letter comes back") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":2,"status":403})").ok());
  const auto id = new_id();
  auto msg = fx.command(events::types::notification_send_text,
                        Fixture::text_data(id, "meta", kTo, "x"), 40);
  require_ok(fx.handler->handle(msg));  // refused: failed, dead-lettered
  // A dead letter of `failed` (written at `dlq_offset`) put back by lia-dlq-replay at `at`.
  const auto replayed = [&](const kafka::Message& failed, std::int64_t dlq_offset,
                            std::int64_t at) {
    kafka::Message m = failed;
    m.offset = at;
    m.headers = {{"lia.dlq.origin.topic", failed.topic},
                 {"lia.dlq.origin.partition", std::to_string(failed.partition)},
                 {"lia.dlq.origin.offset", std::to_string(failed.offset)},
                 {"lia.replayed_from", fx.commands_topic + ".dlq/0/" + std::to_string(dlq_offset)}};
    return m;
  };
  const auto first = replayed(msg, 5, 70);
  require_ok(fx.handler->handle(first));  // refused again
  CHECK(fx.sandbox.counts().requests == 2);
  // That replayed record again (a restart before its offset was committed), the same dead
  // letter re-published (a replay that could not commit), or a second copy of it (written
  // twice by a stop before its ack): not sent again.
  require_ok(fx.handler->handle(first));
  require_ok(fx.handler->handle(replayed(msg, 5, 71)));
  require_ok(fx.handler->handle(replayed(msg, 6, 72)));
  CHECK(fx.sandbox.counts().requests == 2);
  CHECK(fx.row(id)->status == "failed");
  // The dead letter of the second refusal, replayed: a new round, sent.
  require_ok(fx.handler->handle(replayed(first, 9, 73)));
  CHECK(fx.sandbox.counts().requests == 3);
  CHECK(fx.row(id)->status == "sent");
  // A record put back by other means (no place of its failure): once per record.
  const auto other = new_id();
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  auto plain = fx.command(events::types::notification_send_text,
                          Fixture::text_data(other, "meta", kTo, "y"), 80);
  require_ok(fx.handler->handle(plain));
  plain.headers.push_back({"lia.dlq.origin.topic", fx.commands_topic});
  plain.offset = 81;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  require_ok(fx.handler->handle(plain));
  require_ok(fx.handler->handle(plain));
  CHECK(fx.sandbox.counts().requests == 5);
}

TEST_CASE("a definite failure whose outcome could not be written is not reported unknown") {
  Fixture fx(0, /*max_attempts=*/2);
  // The outcome's write fails (as with the database gone after the provider answered).
  const auto block = [&](bool on) {
    if (on) {
      refuse_writes(fx, "refuse_final", "NEW.status <> 'sending'");
    } else {
      allow_writes(fx, "refuse_final");
    }
  };

  // A refusal (403): asked again on redelivery, and refused (or, here, taken) then.
  block(true);
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":403})").ok());
  const auto refused = new_id();
  const auto first = fx.command(events::types::notification_send_text,
                                Fixture::text_data(refused, "meta", kTo, "x"), 1);
  CHECK_FALSE(fx.handler->handle(first).ok());
  CHECK(fx.row(refused)->status == "sending");
  // The last try failing (500 twice, max 2): dead-lettered on redelivery with its reason,
  // without another request.
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":2,"status":500})").ok());
  const auto exhausted = new_id();
  const auto second = fx.command(events::types::notification_send_text,
                                 Fixture::text_data(exhausted, "meta", kTo, "y"), 2);
  CHECK_FALSE(fx.handler->handle(second).ok());
  CHECK(fx.sandbox.counts().requests == 3);
  block(false);

  // Another process (the one that saw the answers is gone): the rows alone decide.
  CommandHandler fresh(fx.store, std::make_shared<http::Client>(), std::make_shared<RateLimiter>(0),
                       std::make_shared<kafka::DeadLetter>(fx.producer), fx.options);
  require_ok(fresh.handle(first));
  require_ok(fresh.handle(second));
  CHECK(fx.sandbox.counts().requests == 4);
  CHECK(fx.row(refused)->status == "sent");
  auto row = fx.row(exhausted);
  CHECK(row->status == "dead_lettered");
  REQUIRE(row->last_error);
  CHECK(row->last_error->find("HTTP 500") != std::string::npos);
  for (const auto& ev : fx.events()) CHECK(str(data_of(ev)["code"]) != "outcome_unknown");
}

TEST_CASE("a send the provider took whose record failed is recorded on its redelivery here") {
  Fixture fx;
  // The send's record fails (the database gone just after the provider answered).
  refuse_writes(fx, "refuse_sent", "NEW.status = 'sent'");
  const auto id = new_id();
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(id, "meta", kTo, "Olá, Maria!"));
  CHECK_FALSE(fx.handler->handle(msg).ok());
  CHECK(fx.row(id)->status == "sending");
  allow_writes(fx, "refuse_sent");

  // Redelivered to the same process: recorded with the provider's id, not sent again, and
  // reported sent (not unknown).
  require_ok(fx.handler->handle(msg));
  const auto sends = fx.sandbox.sends();
  REQUIRE(sends.size() == 1);
  auto row = fx.row(id);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id == sends[0].provider_message_id);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == sends[0].provider_message_id);
  // Delivered once more: already sent, nothing more.
  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.sends().size() == 1);
  CHECK(fx.events().size() == 1);
}

// A store one of whose claims (the `lose_at`th) has its answer lost: after the claim committed
// (`committed`), as when the connection drops as the commit is answered, or before it was made.
class LosingClaim : public OutboundStore {
 public:
  LosingClaim(const Fixture& fx, bool committed, int lose_at = 1)
      : OutboundStore(fx.pool, fx.schema), committed_(committed), lose_at_(lose_at) {}
  core::Result<Claim> claim(const SendCommand& cmd, const std::optional<std::string>& body,
                            bool sending_now, const std::string& row_id) override {
    if (++calls_ != lose_at_) return OutboundStore::claim(cmd, body, sending_now, row_id);
    if (committed_) REQUIRE(OutboundStore::claim(cmd, body, sending_now, row_id).ok());
    return core::Error(core::Errc::unavailable, "server closed the connection unexpectedly");
  }

 private:
  bool committed_;
  int lose_at_;
  int calls_ = 0;
};

std::unique_ptr<CommandHandler> handler_on(const Fixture& fx,
                                           std::shared_ptr<OutboundStore> store) {
  return std::make_unique<CommandHandler>(
      std::move(store), std::make_shared<http::Client>(), std::make_shared<RateLimiter>(0),
      std::make_shared<kafka::DeadLetter>(fx.producer), fx.options);
}

TEST_CASE("a claim whose answer was lost after it committed is sent on its redelivery here") {
  Fixture fx;
  auto handler = handler_on(fx, std::make_shared<LosingClaim>(fx, /*committed=*/true));
  const auto id = new_id();
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(id, "meta", kTo, "Olá, Maria!"));
  CHECK_FALSE(handler->handle(msg).ok());
  // The row says try 1 is with the provider; this process knows no request went.
  REQUIRE(fx.row(id));
  CHECK(fx.row(id)->status == "sending");
  CHECK(fx.sandbox.counts().requests == 0);

  // Redelivered here: sent once, not reported unknown.
  require_ok(handler->handle(msg));
  CHECK(fx.sandbox.sends().size() == 1);
  CHECK(fx.row(id)->status == "sent");
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
}

TEST_CASE("a lost claim's answer does not make this process forget a send it saw go") {
  Fixture fx;
  // Try 1 goes, and its record fails; the redelivery's claim then loses its answer.
  refuse_writes(fx, "refuse_sent", "NEW.status = 'sent'");
  auto handler = handler_on(fx, std::make_shared<LosingClaim>(fx, /*committed=*/true, 2));
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  CHECK_FALSE(handler->handle(msg).ok());
  allow_writes(fx, "refuse_sent");
  CHECK_FALSE(handler->handle(msg).ok());
  // The next redelivery still records the send it saw, with its provider id.
  require_ok(handler->handle(msg));
  REQUIRE(fx.sandbox.sends().size() == 1);
  CHECK(fx.row(id)->status == "sent");
  CHECK(fx.row(id)->provider_message_id == fx.sandbox.sends()[0].provider_message_id);
  for (const auto& ev : fx.events()) CHECK(str(data_of(ev)["code"]) != "outcome_unknown");
}

TEST_CASE("a lost claim remembered here does not resume its row once a replay reopened it") {
  Fixture fx;
  auto handler = handler_on(fx, std::make_shared<LosingClaim>(fx, /*committed=*/true));
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  CHECK_FALSE(handler->handle(msg).ok());  // its row made, try 1 in flight, nothing sent
  // Meanwhile, elsewhere (the partition moved): reported unknown, then its dead letter
  // replayed, and that replay's try is with the provider (its record fails).
  auto other = another_handler(fx);
  require_ok(other->handle(msg));
  REQUIRE(fx.row(id)->status == "failed");
  kafka::Message replay = msg;
  replay.offset = 90;
  replay.headers = {{"lia.dlq.origin.topic", msg.topic},
                    {"lia.dlq.origin.partition", std::to_string(msg.partition)},
                    {"lia.dlq.origin.offset", std::to_string(msg.offset)},
                    {"lia.replayed_from", fx.commands_topic + ".dlq/0/1"}};
  refuse_writes(fx, "refuse_sent", "NEW.status = 'sent'");
  CHECK_FALSE(other->handle(replay).ok());
  allow_writes(fx, "refuse_sent");
  REQUIRE(fx.sandbox.sends().size() == 1);
  // The record comes back here: the row is the claim's, but the try in flight is the replay's.
  require_ok(handler->handle(msg));
  CHECK(fx.sandbox.sends().size() == 1);
}

TEST_CASE("a claim lost before it committed leaves another handler's try in flight alone") {
  Fixture fx;
  auto handler = handler_on(fx, std::make_shared<LosingClaim>(fx, /*committed=*/false));
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  CHECK_FALSE(handler->handle(msg).ok());
  CHECK_FALSE(fx.row(id));
  // Meanwhile another handler (the partition moved) claimed it: its request may be out.
  claim_first_try(fx, msg);

  // The redelivery here finds a row its claim did not make: not sent beside that try.
  require_ok(handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 0);
  auto row = fx.row(id);
  CHECK(row->status == "failed");
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(str(data_of(evs[0])["code"]) == "outcome_unknown");
}

TEST_CASE("Meta's pair rate spaces that customer's next sends instead of each meeting it") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":400,"code":"131056"})").ok());
  auto options = fx.options;
  // The retry's own wait is cut to 50 ms; the slowed bucket still holds it about 6 s.
  options.backoff_max = std::chrono::milliseconds{50};
  auto limiter = std::make_shared<RateLimiter>(10);
  auto handler = handler_with(fx, options, limiter);
  const auto before = std::chrono::steady_clock::now();
  require_ok(handler->handle(fx.command(events::types::notification_send_text,
                                        Fixture::text_data(new_id(), "meta", kTo, "Oi"))));
  REQUIRE(fx.sandbox.sends().size() == 1);  // sent on its second try
  // The second try came at least 6 s (the pair rate's interval) after the refusal, and that
  // customer's next send is 6 s after it: 12 s or more after the first try, however long the
  // tries themselves took (11 s leaves room for the clock's resolution).
  // Another customer's does not wait, nor that customer's from another business number (the
  // limit is the pair's).
  const auto now = std::chrono::steady_clock::now();
  CHECK(now + limiter->reserve(pair_key(kTo), now) >= before + 11s);
  CHECK(limiter->reserve(pair_key("5511912345678"), now) == 0ns);
  CHECK(limiter->reserve(pair_key(kTo, "209876543210987"), now) == 0ns);
}

TEST_CASE("a 429 with Retry-After waits that long before the next try") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":429,"retry_after":1})").ok());
  const auto id = new_id();
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  auto reqs = fx.sandbox.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].status == 429);
  CHECK(reqs[1].status == 200);
  // The backoff alone would be 10 ms; the provider asked for a second.
  CHECK(reqs[1].at_ms - reqs[0].at_ms >= 950);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 2);
}

TEST_CASE("a failed try whose note could not be written is resumed no sooner than it asked") {
  Fixture fx;
  // The note of a failed try (in flight no more, still sending) is refused once.
  refuse_writes(fx, "refuse_note",
                "OLD.in_flight AND NOT NEW.in_flight AND NEW.status = 'sending'");
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":429,"retry_after":1})").ok());
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  CHECK_FALSE(fx.handler->handle(msg).ok());
  allow_writes(fx, "refuse_note");
  // Redelivered at once to the same process: the provider asked for a second, and gets it.
  require_ok(fx.handler->handle(msg));
  auto reqs = fx.sandbox.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].status == 429);
  CHECK(reqs[1].status == 200);
  CHECK(reqs[1].at_ms - reqs[0].at_ms >= 950);
  CHECK(fx.row(id)->status == "sent");
}

TEST_CASE("a failed try remembered here is noted on its redelivery, before the next try") {
  Fixture fx;
  refuse_writes(fx, "refuse_note",
                "OLD.in_flight AND NOT NEW.in_flight AND NEW.status = 'sending'");
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":503})").ok());
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  CHECK_FALSE(fx.handler->handle(msg).ok());
  allow_writes(fx, "refuse_note");
  // Redelivered, and the database fails again at the next try's count.
  refuse_writes(fx, "refuse_count", "NEW.attempts > OLD.attempts");
  CHECK_FALSE(fx.handler->handle(msg).ok());
  allow_writes(fx, "refuse_count");
  // Nothing is remembered now, and nothing needs to be: the failure was written down, so the
  // command is resumed, not reported unknown.
  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 2);
  CHECK(fx.row(id)->status == "sent");
  for (const auto& ev : fx.events()) CHECK(str(data_of(ev)["code"]) != "outcome_unknown");
}

TEST_CASE("a command past its not_after is not sent and fails as expired") {
  Fixture fx;
  const auto id = new_id();
  require_ok(
      fx.handler->handle(fx.command(events::types::notification_send_text,
                                    Fixture::text_data(id, "meta", kTo, "tarde demais",
                                                       R"(,"not_after":"2020-01-01T00:00:00Z")"))));
  CHECK(fx.sandbox.counts().requests == 0);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kFailedType);
  CHECK(str(data_of(evs[0])["reason"]).rfind("expired:", 0) == 0);
  CHECK(str(data_of(evs[0])["code"]) == "expired");      // how collections tells it from a refusal
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());  // a business outcome, not a fault
  // A future not_after is sent normally.
  const auto later = new_id();
  require_ok(fx.handler->handle(fx.command(
      events::types::notification_send_text,
      Fixture::text_data(later, "meta", kTo, "a tempo", R"(,"not_after":"2999-01-01T00:00:00Z")"),
      1)));
  CHECK(fx.sandbox.sends().size() == 1);
}

TEST_CASE("a Meta command without a configured token fails naming the setting") {
  Fixture fx;
  fx.options.provider.meta_access_token.clear();
  auto handler_owned = handler_with(fx, fx.options);
  CommandHandler& handler = *handler_owned;
  const auto id = new_id();
  require_ok(handler.handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  CHECK(fx.sandbox.counts().requests == 0);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kFailedType);
  CHECK(str(data_of(evs[0])["reason"]).find("LIA_META_ACCESS_TOKEN") != std::string::npos);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").size() == 1);
}

TEST_CASE("a command stopped while its request was with the provider is not sent again") {
  Fixture fx;
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  // What a process killed during its first provider call leaves behind: the try in flight.
  auto parsed = parse_command(*events::decode(msg.value));
  REQUIRE(parsed.ok());
  auto claim =
      fx.store->claim(*parsed, std::string("x"), /*sending_now=*/true, core::Uuid::v7().str());
  REQUIRE(claim.ok());
  REQUIRE(claim->inserted);
  CHECK(claim->in_flight);

  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 0);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kFailedType);
  CHECK(str(data_of(evs[0])["code"]) == "outcome_unknown");
  CHECK(str(data_of(evs[0])["reason"]).rfind("outcome unknown", 0) == 0);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 1);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").size() == 1);  // for ops to replay, or not
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "failed");
  CHECK(row->error_code == "outcome_unknown");
}

TEST_CASE("a command stopped between two tries is resumed, counting the earlier try") {
  Fixture fx;
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  // Killed in the backoff after a 502: that try is noted failed, nothing is in flight.
  claim_first_try(fx, msg);
  auto noted = fx.store->try_failed(id, 1, "provider answered HTTP 502");
  REQUIRE(noted.ok());
  CHECK(*noted);

  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.sends().size() == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 2);
}

TEST_CASE("a crash after the last try dead-letters the command without another send") {
  Fixture fx(0, /*max_attempts=*/2);
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  claim_first_try(fx, msg);
  REQUIRE(fx.store->try_failed(id, 1, "provider answered HTTP 500").ok());
  REQUIRE(fx.store->next_attempt(id, 1).ok());
  REQUIRE(fx.store->try_failed(id, 2, "provider answered HTTP 502").ok());

  require_ok(fx.handler->handle(msg));
  CHECK(fx.sandbox.counts().requests == 0);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kDeadType);
  CHECK(str(data_of(evs[0])["reason"]).find("HTTP 502") != std::string::npos);
}

TEST_CASE(
    "a handler whose command was taken over while it waited never sends beside the new owner") {
  Fixture fx;
  // Try 1 gets a 503 asking for 5 s; the next request is answered 4 s late (within the
  // client's 5 s timeout). The new owner waits at most its backoff_max (3 s), so its try is
  // with the provider (from 3 s to 7 s) when the first handler's 5 s are over.
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":503,"retry_after":5})").ok());
  REQUIRE(fx.sandbox.apply_faults(R"({"slow_next":1,"delay_ms":4000})").ok());
  const auto stale = another_handler(fx);
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  // Its partition moves while it waits out the 503 (a session lost, a poll interval passed):
  // the new owner resumes the command with try 2, still with the provider when the first
  // handler's wait ends.
  stale_then_owner(fx, *stale, *fx.handler, msg, id);
  CHECK(fx.sandbox.counts().requests == 2);  // the 503 and the owner's try: no third
  CHECK(fx.sandbox.sends().size() == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 2);
  CHECK(fx.row(id)->status == "sent");
}

TEST_CASE(
    "a handler that wakes past not_after does not expire a command the new owner is sending") {
  Fixture fx;
  // Try 1 gets a 503 asking for 4 s, past the command's not_after (2.5 s from now). The new
  // owner waits at most 1 s, sends before not_after, and the provider answers 4 s later:
  // the first handler wakes (at 4 s) while that try is with the provider.
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":503,"retry_after":4})").ok());
  REQUIRE(fx.sandbox.apply_faults(R"({"slow_next":1,"delay_ms":4000})").ok());
  const auto stale = another_handler(fx);
  const auto owner = another_handler(fx, std::chrono::milliseconds{1000});
  const auto id = new_id();
  const auto not_after = core::format_rfc3339(core::SystemClock::instance().now() + 2500ms);
  const auto msg = fx.command(
      events::types::notification_send_text,
      Fixture::text_data(id, "meta", kTo, "x", R"(,"not_after":")" + not_after + R"(")"));
  stale_then_owner(fx, *stale, *owner, msg, id);
  CHECK(fx.sandbox.sends().size() == 1);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);  // no message.failed "expired" beside the send
  CHECK(evs[0].type == kSentType);
}

TEST_CASE("a new owner whose next try the old owner counted first waits, then carries it on") {
  Fixture fx;
  const LogLines lines;
  // Its requests time out after 1 s: it waits 2 s for each try of the other handler.
  auto options = fx.options;
  options.provider.timeout = 1s;
  auto handler_owned = handler_with(fx, options);
  CommandHandler& handler = *handler_owned;
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  // The old owner's try 1 got a 503 asking for 2 s, noted; then the partition moved.
  claim_first_try(fx, msg);
  REQUIRE(fx.store
              ->try_failed(id, 1, "provider answered HTTP 503",
                           core::SystemClock::instance().now() + 2s)
              .ok());
  std::optional<core::Status> first;
  std::atomic<bool> returned{false};
  std::thread owner([&] {
    first = handler.handle(msg);
    returned = true;
  });
  // The new owner resumes it and waits out the 2 s, while the old owner, still running,
  // counts try 2 first: the new owner waits for that try.
  REQUIRE(testing::wait_until(
      [&] { return lines.has("resuming a command left between two tries"); }, 10s));
  REQUIRE(fx.store->next_attempt(id, 1).ok());
  REQUIRE(testing::wait_until(
      [&] { return lines.has("counted by another handler; waiting for its outcome"); }, 10s));
  // Try 2 fails and the old owner counts try 3 at once: the new owner waits for that one
  // too. It fails as well, and the old owner is stopped before its next.
  REQUIRE(fx.store->try_failed(id, 2, "provider answered HTTP 502").ok());
  REQUIRE(fx.store->next_attempt(id, 2).ok());
  std::this_thread::sleep_for(2500ms);  // past the wait for try 2: still waiting, for try 3
  CHECK_FALSE(returned.load());
  REQUIRE(fx.store->try_failed(id, 3, "provider answered HTTP 502").ok());
  owner.join();
  // The new owner did not leave the command (its offset would be committed, and nobody
  // would ever send it): the record is handed back, and nothing was sent meanwhile.
  REQUIRE(first.has_value());
  REQUIRE_FALSE(first->ok());
  CHECK(first->error().retryable());
  CHECK(fx.sandbox.counts().requests == 0);
  CHECK(fx.row(id)->status == "sending");
  // Handled again: try 4 goes.
  require_ok(handler.handle(msg));
  CHECK(fx.sandbox.sends().size() == 1);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 4);
}

TEST_CASE("a send the provider took after another handler reported it unknown is recorded sent") {
  Fixture fx;
  REQUIRE(fx.sandbox.apply_faults(R"({"slow_next":1,"delay_ms":3000})").ok());
  const auto stale = another_handler(fx, fx.options.backoff_max);
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  std::optional<core::Status> stale_result;
  std::thread sending([&] { stale_result = stale->handle(msg); });
  // The sandbox records a send as it takes it, then answers 3 s late.
  REQUIRE(testing::wait_until([&] { return fx.sandbox.sends().size() == 1; }, 10s));
  // The new owner finds the try in flight, as after a crash: outcome unknown, not sent again.
  require_ok(fx.handler->handle(msg));
  CHECK(fx.row(id)->error_code == "outcome_unknown");
  sending.join();
  REQUIRE(stale_result.has_value());
  CHECK(stale_result->ok());
  // Then the provider's answer arrives: the row and the events say it went.
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id.has_value());
  CHECK_FALSE(row->error_code.has_value());
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].type == kFailedType);
  CHECK(evs[1].type == kSentType);
  CHECK(fx.sandbox.sends().size() == 1);
}

// Evolution's echo of a send through its API (send.message), as ingestion publishes it;
// without `via_api`, a message written on the business phone.
// Stamped `at`, or now (as the echo of a send just made is).
kafka::Message echo_record(const std::string& chat, const std::string& provider_id,
                           const std::string& text, bool via_api = true,
                           const std::string& at = {}) {
  const std::string stamp =
      at.empty() ? core::format_rfc3339(core::SystemClock::instance().now()) : at;
  const std::string data =
      R"({"provider":"evolution","instance":")" + std::string(kEvolutionInstance) +
      R"(","chat_id":")" + chat + R"(","message_id":")" + provider_id +
      R"(","from":"5511999990000","kind":"text","text":")" + text + R"(","timestamp":")" + stamp +
      R"(","from_me":true)" + (via_api ? R"(,"via_api":true)" : "") + "}";
  kafka::Message m;
  m.topic = "whatsapp.inbound.test";
  m.value = events::encode(
      events::make_event(events::types::whatsapp_message_received, 1, "/lia/ingestion", "", data));
  return m;
}

// The send ended `sent`, recorded with the echo's provider id, and was reported once.
void check_sent_by_echo(Fixture& fx, const std::string& id, const std::string& provider_id) {
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id == std::optional<std::string>(provider_id));
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
}

// An Evolution text to kTo's JID whose request the sandbox takes and answers after the
// handler's timeout: its outcome unknown unless an echo says otherwise. `during` runs while
// the request is with the provider.
std::string send_without_answer(Fixture& fx, const std::string& text,
                                const std::function<void(const std::string&)>& during = {},
                                const std::string& extra = {}) {
  REQUIRE(fx.sandbox.apply_faults(R"({"slow_next":1,"delay_ms":1500})").ok());
  auto options = fx.options;
  options.provider.timeout = std::chrono::milliseconds{800};
  auto handler = handler_with(fx, options);
  auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text,
                 Fixture::text_data(id, "evolution", kTo + "@s.whatsapp.net", text, extra));
  std::optional<core::Status> result;
  const auto before = fx.sandbox.sends().size();
  std::thread sending([&] { result = handler->handle(msg); });
  REQUIRE(testing::wait_until([&] { return fx.sandbox.sends().size() == before + 1; }, 10s));
  if (during) during(id);
  sending.join();
  REQUIRE(result.has_value());
  require_ok(*result);
  return id;
}

TEST_CASE("an echo of a send whose answer never came records it sent, not outcome_unknown") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  auto& noted =
      core::metrics().counter("lia_notification_echoes_total", "", {{"outcome", "noted"}});
  const auto noted_before = noted.value();
  EchoHandler another(fx.store, fx.options);  // a handler made counts nothing
  CHECK(noted.value() == noted_before);
  // The echo names the chat without Brazil's ninth digit, as WhatsApp may: the same number.
  const auto id = send_without_answer(fx, "Seu boleto foi enviado.", [&](const std::string&) {
    require_ok(echoes.handle(
        echo_record("551187654321@s.whatsapp.net", "3EB0ECHO01", "Seu boleto foi enviado.")));
  });
  CHECK(noted.value() == noted_before + 1);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id == std::optional<std::string>("3EB0ECHO01"));
  CHECK_FALSE(row->error_code.has_value());
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == "3EB0ECHO01");
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());  // nothing for ops to replay
  CHECK(fx.sandbox.sends().size() == 1);
}

TEST_CASE("an echo written while the send's timeout is being reported still makes it sent") {
  Fixture fx;
  std::thread noting;
  std::atomic<bool> kept{false};
  std::atomic<bool> committed{false};
  // The echo's transaction holds the row, not committed yet, when the timeout comes: the
  // outcome waits for it and reads its id. (Assertions after the join: Catch2's are not for
  // other threads.)
  const auto id = send_without_answer(fx, "Boa tarde!", [&](const std::string& command_id) {
    noting = std::thread([&fx, &kept, &committed, command_id] {
      auto st = pg::transact(*fx.pool, [&](pg::Tx& tx) -> core::Status {
        auto noted = fx.store->note_echo(tx, command_id, 1, "3EB0LATE01");
        if (!noted) return noted.error();
        kept = *noted;
        std::this_thread::sleep_for(1500ms);  // past the handler's 800 ms timeout
        return core::ok();
      });
      committed = st.ok();
    });
  });
  noting.join();
  REQUIRE(kept);
  REQUIRE(committed);
  check_sent_by_echo(fx, id, "3EB0LATE01");
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
}

// The echo id kept on a send's row (note_echo), if any.
std::optional<std::string> echo_of(Fixture& fx, const std::string& command_id) {
  auto rows = fx.pool->exec(
      "SELECT echo_message_id FROM " + fx.schema + ".outbound_messages WHERE command_id = $1",
      command_id);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  return (*rows)[0].get<std::optional<std::string>>(0);
}

// An Evolution send of `text` to `jid`, claimed with its first try in flight; its command id.
std::string claim_in_flight(Fixture& fx, const std::string& jid, const std::string& text) {
  auto id = new_id();
  auto cmd =
      parse_command(*events::decode(fx.command(events::types::notification_send_text,
                                               Fixture::text_data(id, "evolution", jid, text))
                                        .value));
  REQUIRE(cmd.ok());
  auto claim = fx.store->claim(*cmd, text, /*sending_now=*/true, core::Uuid::v7().str());
  REQUIRE(claim.ok());
  REQUIRE(claim->inserted);
  return id;
}

TEST_CASE("an echo is kept only for the one send of its text in flight, and only for its try") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const std::string jid = kTo + "@s.whatsapp.net";
  // Two sends of one text to one chat in flight at once (a handler that lost its partition
  // beside the new owner): an echo can't tell whose it is, and is given to neither.
  const auto a = claim_in_flight(fx, jid, "Ok");
  const auto b = claim_in_flight(fx, jid, "Ok");
  require_ok(echoes.handle(echo_record(jid, "3EB0TWICE1", "Ok")));
  CHECK_FALSE(echo_of(fx, a).has_value());
  CHECK_FALSE(echo_of(fx, b).has_value());
  // One in flight: kept for its try. The next try is not counted while it is: that try went,
  // whatever the provider answered (the handler records it sent instead).
  const auto c = claim_in_flight(fx, jid, "Certo");
  require_ok(echoes.handle(echo_record(jid, "3EB0ONCE01", "Certo")));
  CHECK(echo_of(fx, c) == std::optional<std::string>("3EB0ONCE01"));
  auto n = fx.store->next_attempt(c, 1);
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().code() == core::Errc::conflict);
  // An answer with another id than the echo's drops the echo's.
  auto marked = pg::transact(*fx.pool, [&](pg::Tx& tx) -> core::Status {
    auto m = fx.store->mark_sent(tx, c, 1, "3EB0ANSWER", 201);
    if (!m) return m.error();
    REQUIRE(*m);
    return core::ok();
  });
  REQUIRE(marked.ok());
  CHECK_FALSE(echo_of(fx, c).has_value());

  // A try answered 429 (or refused, or never sent) sent nothing: an echo kept while it waited
  // was another send's, and goes; the next try is counted. After a 5xx it stays.
  const auto throttled = claim_in_flight(fx, jid, "Beleza");
  require_ok(echoes.handle(echo_record(jid, "3EB0THROT1", "Beleza")));
  REQUIRE(echo_of(fx, throttled) == std::optional<std::string>("3EB0THROT1"));
  auto failed = fx.store->try_failed(throttled, 1, "provider answered 429", std::nullopt, 429);
  REQUIRE(failed.ok());
  REQUIRE(*failed);
  CHECK_FALSE(echo_of(fx, throttled).has_value());
  auto next = fx.store->next_attempt(throttled, 1);
  REQUIRE(next.ok());
  CHECK(*next == 2);
  const auto erred = claim_in_flight(fx, jid, "Perfeito");
  require_ok(echoes.handle(echo_record(jid, "3EB0ERR500", "Perfeito")));
  failed = fx.store->try_failed(erred, 1, "provider answered 500", std::nullopt, 500);
  REQUIRE(failed.ok());
  CHECK(echo_of(fx, erred) == std::optional<std::string>("3EB0ERR500"));
  CHECK_FALSE(fx.store->next_attempt(erred, 1).ok());
}

TEST_CASE("a late echo goes to the send of its text that ended unknown, not one tried after it") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const std::string jid = kTo + "@s.whatsapp.net";
  const std::string text = "Ok";
  // An earlier send whose answer never came; its echo is late (a consumer's lag).
  const auto earlier = send_without_answer(fx, text);
  REQUIRE(fx.row(earlier)->error_code == "outcome_unknown");
  const auto earlier_at = fx.row(earlier)->last_attempt_at;
  REQUIRE(earlier_at);
  std::this_thread::sleep_for(2500ms);  // past the clocks' 2 s
  // Another send of the same text to the same chat, in flight now.
  const auto now_id = claim_in_flight(fx, jid, text);
  // An echo stamped before both (a provider's clock far behind): whose? Not the oldest's by
  // default beside a send in flight it might be of.
  const auto before_both = core::parse_rfc3339(*earlier_at);
  REQUIRE(before_both);
  require_ok(echoes.handle(
      echo_record(jid, "3EB0EARLY1", text, true, core::format_rfc3339(*before_both - 1h))));
  CHECK(fx.row(earlier)->status == "failed");
  // The echo, stamped when the earlier one went: the earlier send's.
  require_ok(echoes.handle(echo_record(jid, "3EB0LATE01", text, true, *earlier_at)));
  auto row = fx.row(earlier);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id == std::optional<std::string>("3EB0LATE01"));
  CHECK_FALSE(echo_of(fx, now_id).has_value());

  // A send in flight whose try before was answered 5xx (Evolution may have sent that one):
  // an echo stamped before this try is that try's, late, and is kept for it.
  auto noted = fx.store->try_failed(now_id, 1, "provider answered 500", std::nullopt, 500);
  REQUIRE(noted.ok());
  REQUIRE(*noted);
  auto second = fx.store->next_attempt(now_id, 1);
  REQUIRE(second.ok());
  const auto three_s_ago = core::SystemClock::instance().now() - 3s;
  require_ok(
      echoes.handle(echo_record(jid, "3EB0FIRST1", text, true, core::format_rfc3339(three_s_ago))));
  CHECK(echo_of(fx, now_id) == std::optional<std::string>("3EB0FIRST1"));
}

// An Evolution text to kTo's JID whose first try the sandbox answers `status` (500: as
// Evolution may after sending it, its own write failing); `between` runs once that failure is
// noted, the next try (or the dead letter, with `max_attempts` 1) waiting. Returns the command
// id.
std::string send_answered_500(Fixture& fx, const std::string& text,
                              const std::function<void(const std::string&)>& between,
                              int status = 500, int max_attempts = 4) {
  REQUIRE(
      fx.sandbox.apply_faults(R"({"fail_next":1,"status":)" + std::to_string(status) + "}").ok());
  auto options = fx.options;
  options.echo_wait = std::chrono::seconds{3};
  options.max_attempts = max_attempts;
  auto handler = handler_with(fx, options);
  auto id = new_id();
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(id, "evolution", kTo + "@s.whatsapp.net", text));
  std::optional<core::Status> result;
  std::thread sending([&] { result = handler->handle(msg); });
  REQUIRE(testing::wait_until(
      [&] {
        auto p = fx.store->progress(id);
        return p.ok() && p->has_value() && (*p)->status == "sending" && (*p)->attempts == 1 &&
               !(*p)->in_flight;
      },
      10s));
  between(id);
  sending.join();
  REQUIRE(result.has_value());
  require_ok(*result);
  return id;
}

TEST_CASE("Evolution's echo after a 500 records the send sent: no second try") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  auto& after_error =
      core::metrics().counter("lia_notification_echoes_total", "", {{"outcome", "after_error"}});
  const auto after_error_before = after_error.value();
  const auto now = core::format_rfc3339(core::SystemClock::instance().now());
  const auto id = send_answered_500(fx, "Seu boleto vence hoje.", [&](const std::string&) {
    require_ok(echoes.handle(
        echo_record(kTo + "@s.whatsapp.net", "3EB0AFTER500", "Seu boleto vence hoje.", true, now)));
  });
  CHECK(fx.sandbox.counts().requests == 1);
  CHECK(fx.sandbox.sends().empty());
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->attempts == 1);
  CHECK(row->provider_message_id == std::optional<std::string>("3EB0AFTER500"));
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == "3EB0AFTER500");
  CHECK(after_error.value() == after_error_before + 1);
}

TEST_CASE("Evolution's echo after a 500 on the last try records it sent, not dead-lettered") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const auto now = core::format_rfc3339(core::SystemClock::instance().now());
  const auto id = send_answered_500(
      fx, "Última tentativa.",
      [&](const std::string&) {
        require_ok(echoes.handle(
            echo_record(kTo + "@s.whatsapp.net", "3EB0LAST01", "Última tentativa.", true, now)));
      },
      500, /*max_attempts=*/1);
  CHECK(fx.sandbox.counts().requests == 1);
  check_sent_by_echo(fx, id, "3EB0LAST01");
}

TEST_CASE("an echo of the same text does not end a send Evolution answered 429") {
  // A throttle is no send: the echo is another sender's message of the same text.
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const auto now = core::format_rfc3339(core::SystemClock::instance().now());
  const auto id = send_answered_500(
      fx, "Ok, obrigado.",
      [&](const std::string&) {
        require_ok(echoes.handle(
            echo_record(kTo + "@s.whatsapp.net", "3EB0OTHER1", "Ok, obrigado.", true, now)));
      },
      429);
  CHECK(fx.sandbox.counts().requests == 2);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->attempts == 2);
  CHECK(row->provider_message_id != std::optional<std::string>("3EB0OTHER1"));
}

TEST_CASE("an echo kept while Evolution's 500 was on its way ends the send: no second try") {
  Fixture fx;
  const auto id = send_answered_500(fx, "Tudo certo!", [&](const std::string& command_id) {
    // What the echo consumer writes when the echo comes before the answer (note_echo).
    REQUIRE(fx.pool
                ->exec("UPDATE " + fx.schema +
                           ".outbound_messages SET echo_message_id = '3EB0DURING1' WHERE "
                           "command_id = $1",
                       command_id)
                .ok());
  });
  CHECK(fx.sandbox.counts().requests == 1);
  check_sent_by_echo(fx, id, "3EB0DURING1");
}

TEST_CASE("an echo that is another send's does not hold a retry back") {
  Fixture fx;
  // An earlier send, recorded with its provider id.
  const auto earlier = new_id();
  require_ok(fx.handler->handle(fx.command(
      events::types::notification_send_text,
      Fixture::text_data(earlier, "evolution", kTo + "@s.whatsapp.net", "Tudo certo!"))));
  const auto earlier_id = fx.row(earlier)->provider_message_id;
  REQUIRE(earlier_id.has_value());
  const auto id = send_answered_500(fx, "Tudo certo!", [&](const std::string& command_id) {
    // Its echo, late, kept on this send's row as if it were this try's.
    REQUIRE(fx.pool
                ->exec("UPDATE " + fx.schema +
                           ".outbound_messages SET echo_message_id = $2 WHERE command_id = $1",
                       command_id, *earlier_id)
                .ok());
  });
  // The echo is forgotten and the next try made.
  CHECK(fx.sandbox.counts().requests == 3);
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->attempts == 2);
  CHECK(row->provider_message_id != earlier_id);
}

TEST_CASE("a replayed dead letter of an unknown outcome is sent even if its sender resends") {
  // collections makes no new command for an outcome_unknown (it may have reached the debtor):
  // the replay, once someone checked, is how it goes again.
  Fixture fx;
  const auto id = send_without_answer(fx, "Sua fatura vence amanhã", {}, R"(,"replayable":false)");
  REQUIRE(fx.row(id)->error_code == "outcome_unknown");
  REQUIRE(fx.sandbox.sends().size() == 1);
  auto replay = fx.command(events::types::notification_send_text,
                           Fixture::text_data(id, "evolution", kTo + "@s.whatsapp.net",
                                              "Sua fatura vence amanhã", R"(,"replayable":false)"));
  replay.headers.push_back({"lia.dlq.origin.topic", fx.commands_topic});
  require_ok(fx.handler->handle(replay));
  CHECK(fx.sandbox.sends().size() == 2);
  CHECK(fx.row(id)->status == "sent");
}

TEST_CASE("an echo settles the last send of its text tried before it, not an older one") {
  // Sends of one text to one chat that all ended unknown: an echo is the one tried last before
  // its stamp (an older one would have echoed then); two tried within the clocks' difference
  // (2 s) of it can't be told apart; a stamp before all of them (a provider's clock far
  // behind) takes the oldest.
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const std::string jid = kTo + "@s.whatsapp.net";
  const std::string text = "Não entendi, pode repetir?";
  const auto echo_now = [&](const std::string& provider_id) {
    return echo_record(jid, provider_id, text, true,
                       core::format_rfc3339(core::SystemClock().now()));
  };
  const auto a = send_without_answer(fx, text);
  std::this_thread::sleep_for(2500ms);
  const auto b = send_without_answer(fx, text);
  require_ok(echoes.handle(echo_now("3EB0B")));
  CHECK(fx.row(b)->status == "sent");
  CHECK(fx.row(a)->status == "failed");
  // Two tried back to back, then an echo: whose is it? Neither's. Stamped between their
  // tries, so that both are within the clocks' difference of it however slow the machine.
  std::this_thread::sleep_for(2500ms);
  const auto d = send_without_answer(fx, text);
  const auto e = send_without_answer(fx, text);
  const auto tried = [&](const std::string& id) {
    auto at = core::parse_rfc3339(fx.row(id)->last_attempt_at.value_or(""));
    REQUIRE(at);
    return *at;
  };
  const auto d_at = tried(d);
  const auto e_at = tried(e);
  REQUIRE(e_at - d_at < 4s);  // else no stamp is within 2 s of both
  require_ok(echoes.handle(
      echo_record(jid, "3EB0DE", text, true, core::format_rfc3339(d_at + (e_at - d_at) / 2))));
  CHECK(fx.row(d)->status == "failed");
  CHECK(fx.row(e)->status == "failed");
  // Stamped before any of them were tried: the oldest, not the newest.
  require_ok(echoes.handle(echo_record(jid, "3EB0OLD", text, true, "2026-12-06T12:00:00Z")));
  CHECK(fx.row(a)->status == "sent");
  CHECK(fx.row(d)->status == "failed");
  CHECK(fx.row(e)->status == "failed");
}

TEST_CASE("an echo after the outcome was reported unknown settles it: sent follows failed") {
  Fixture fx;
  EchoHandler echoes(fx.store, fx.options);
  const std::string jid = kTo + "@s.whatsapp.net";
  const auto id = send_without_answer(fx, "Olá!");
  REQUIRE(fx.row(id)->error_code == "outcome_unknown");
  REQUIRE(fx.events().size() == 1);

  // What is not its echo changes nothing: another text, another chat, a message written on
  // the phone, another instance's echo.
  require_ok(echoes.handle(echo_record(jid, "3EB0OTHER1", "Olá, tudo bem?")));
  require_ok(echoes.handle(echo_record("5511912345678@s.whatsapp.net", "3EB0OTHER2", "Olá!")));
  require_ok(echoes.handle(echo_record(jid, "3EB0OTHER3", "Olá!", /*via_api=*/false)));
  auto other = echo_record(jid, "3EB0OTHER4", "Olá!");
  const auto at = other.value.find(kEvolutionInstance);
  other.value.replace(at, std::string_view(kEvolutionInstance).size(), "lia-outra");
  require_ok(echoes.handle(other));
  CHECK(fx.row(id)->status == "failed");
  CHECK(fx.events().size() == 1);
  // Nor does the late echo of a later send of the same text, recorded with its id.
  require_ok(
      fx.handler->handle(fx.command(events::types::notification_send_text,
                                    Fixture::text_data(new_id(), "evolution", jid, "Olá!"))));
  REQUIRE(fx.sandbox.sends().size() == 2);
  require_ok(echoes.handle(echo_record(jid, fx.sandbox.sends()[1].provider_message_id, "Olá!")));
  CHECK(fx.row(id)->status == "failed");
  REQUIRE(fx.events().size() == 2);

  // Its echo, with spaces around the text: the message went.
  require_ok(echoes.handle(echo_record(jid, "3EB0ECHO02", " Olá! ")));
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
  CHECK(row->provider_message_id == std::optional<std::string>("3EB0ECHO02"));
  CHECK_FALSE(row->error_code.has_value());
  auto evs = fx.events();
  REQUIRE(evs.size() == 3);
  CHECK(evs[0].type == kFailedType);
  CHECK(evs[2].type == kSentType);
  CHECK(str(data_of(evs[2])["command_id"]) == id);
  CHECK(str(data_of(evs[2])["provider_message_id"]) == "3EB0ECHO02");
  CHECK(data_of(evs[2])["attempts"].GetInt() == 1);
  // The echo again, or a second echo of the same text, settles nothing more.
  require_ok(echoes.handle(echo_record(jid, "3EB0ECHO02", "Olá!")));
  require_ok(echoes.handle(echo_record(jid, "3EB0ECHO03", "Olá!")));
  CHECK(fx.events().size() == 3);
  CHECK(fx.row(id)->provider_message_id == std::optional<std::string>("3EB0ECHO02"));
  // Its dead letter replayed sends nothing: the row is sent.
  auto replay = fx.command(events::types::notification_send_text,
                           Fixture::text_data(id, "evolution", jid, "Olá!"));
  replay.headers.push_back({"lia.dlq.origin.topic", fx.commands_topic});
  require_ok(fx.handler->handle(replay));
  CHECK(fx.sandbox.sends().size() == 2);
  CHECK(fx.events().size() == 3);
}

TEST_CASE("stop() ends a backoff at once: the command is left for the next owner, not lost") {
  Fixture fx;
  // One 503 asking for 600 s (under this handler's backoff_max): the handler waits.
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":503,"retry_after":600})").ok());
  auto options = fx.options;
  options.backoff_max = std::chrono::milliseconds{900000};
  auto handler_owned = handler_with(fx, options);
  CommandHandler& handler = *handler_owned;
  const auto id = new_id();
  const auto msg =
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"));
  std::optional<core::Status> result;
  std::thread sending([&] { result = handler.handle(msg); });
  REQUIRE(testing::wait_until([&] { return fx.sandbox.counts().requests == 1; }, 10s));
  const auto stop_at = std::chrono::steady_clock::now();
  handler.stop();
  sending.join();
  // Not the 600 s asked for (a bound no slow machine comes near).
  CHECK(std::chrono::steady_clock::now() - stop_at < 120s);
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().retryable());  // the consumer keeps its offset: redelivered
  CHECK(fx.events().empty());
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sending");
  CHECK(row->last_error.value_or("").find("503") != std::string::npos);

  // The next owner (a handler that is not stopping) resumes with the second try, once what is
  // left of the 600 s asked for has passed (capped by its own backoff_max, 3 s).
  const auto resumed_at = core::SystemClock::instance().now_ms();
  require_ok(fx.handler->handle(msg));
  REQUIRE(fx.sandbox.counts().requests == 2);
  CHECK(fx.sandbox.requests()[1].at_ms >= resumed_at + 3000);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 2);
  // A stopped handler takes no new waits either.
  REQUIRE(fx.sandbox.apply_faults(R"({"fail_next":1,"status":503})").ok());
  const auto other = new_id();
  auto again = handler.handle(fx.command(events::types::notification_send_text,
                                         Fixture::text_data(other, "meta", kTo, "y")));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().retryable());
  CHECK(fx.sandbox.counts().requests == 3);
}

TEST_CASE("bad records are refused without retry so the consumer dead-letters them") {
  Fixture fx;
  kafka::Message junk;
  junk.topic = fx.commands_topic;
  junk.value = "{not json";
  auto st = fx.handler->handle(junk);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());

  auto wrong_type =
      fx.command(events::types::notification_message_sent,
                 R"({"command_id":"0190e0a4-8000-7abc-9def-0000000c0001","provider":"meta",)"
                 R"("instance":"1","to":"55","attempts":1,"provider_message_id":"w"})");
  auto st2 = fx.handler->handle(wrong_type);
  REQUIRE_FALSE(st2.ok());
  CHECK_FALSE(st2.error().retryable());
  CHECK(fx.sandbox.counts().requests == 0);
}

TEST_CASE(
    "database trouble before the provider call is a retryable error: nothing is sent, published "
    "or dead-lettered, and each command is sent once when the database is back") {
  Fixture fx;
  const auto down_store =
      std::make_shared<OutboundStore>(lia::testing::unreachable_pool(), fx.schema);
  CommandHandler down(down_store, std::make_shared<http::Client>(),
                      std::make_shared<RateLimiter>(0),
                      std::make_shared<kafka::DeadLetter>(fx.producer), fx.options);
  StatusHandler down_statuses(down_store, fx.options);
  const auto text_id = new_id();
  const auto template_id = new_id();
  // A text, and an Evolution template (read from message_templates before the claim).
  const std::vector<kafka::Message> commands = {
      fx.command(events::types::notification_send_text,
                 Fixture::text_data(text_id, "meta", kTo, "Olá, Maria!"), 0),
      fx.command(
          events::types::notification_send_template,
          R"({"command_id":")" + template_id +
              R"(","provider":"evolution","instance":"lia-vendas","to":"5511987654321",)"
              R"("template":{"name":"pesquisa_nps","language":"pt_BR","parameters":["Maria"]}})",
          1)};

  // The partition must wait and retry in place: a non-retryable error would dead-letter the
  // command and let the chat's later ones overtake it.
  for (const auto& m : commands) {
    INFO(m.offset);
    auto st = down.handle(m);
    REQUIRE_FALSE(st.ok());
    INFO(st.error().describe());
    CHECK(st.error().retryable());
  }
  CHECK(fx.sandbox.counts().requests == 0);
  CHECK(fx.events().empty());
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
  CHECK_FALSE(fx.row(text_id).has_value());
  CHECK_FALSE(fx.row(template_id).has_value());

  // The database back: each command is sent, once, however often it is handled.
  for (const auto& m : commands) require_ok(fx.handler->handle(m));
  for (const auto& m : commands) require_ok(fx.handler->handle(m));
  CHECK(fx.sandbox.counts().requests == 2);
  REQUIRE(fx.sandbox.sends().size() == 2);
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].type == kSentType);
  CHECK(evs[1].type == kSentType);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
  CHECK(fx.row(text_id)->attempts == 1);
  CHECK(fx.row(template_id)->attempts == 1);

  // A delivery tick, the same: retryable while the database is down, applied once it is back.
  const auto tick = Fixture::status_record("READ", fx.sandbox.sends().at(0).provider_message_id);
  auto st = down_statuses.handle(tick);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().retryable());
  CHECK(fx.row(text_id)->delivery_status == "SERVER_ACK");
  require_ok(fx.statuses->handle(tick));
  CHECK(fx.row(text_id)->delivery_status == "READ");
}

TEST_CASE(
    "a database that stops answering between two tries: no further try, a retryable error, and "
    "the command resumed once when it answers again") {
  Fixture fx;
  // The handler's store on a pool whose statements give up after 300 ms, as they do on a
  // database that hangs.
  pg::PoolConfig pc;
  pc.url = testing::pg_url();
  pc.size = 2;
  pc.application_name = "notification-tests-hang";
  pc.statement_timeout = 300ms;
  auto hanging = pg::Pool::create(pc);
  REQUIRE(hanging.ok());
  const auto store = std::make_shared<OutboundStore>(*hanging, fx.schema);
  // A provider whose first answer is a 500, given once the database stopped answering: the
  // outbound table locked by another session.
  std::mutex mu;  // the route runs on the server's thread
  std::optional<pg::Lease> lock;
  std::string lock_error;
  std::atomic<int> calls{0};
  http::Router router;
  router.add("POST", "/v25.0/{phone_number_id}/messages",
             [&](const http::Request&) {
               if (calls.fetch_add(1) == 0) {
                 const std::lock_guard guard(mu);
                 auto lease = fx.pool->acquire();
                 if (!lease) {
                   lock_error = lease.error().describe();
                 } else if (auto locked = (*lease)->exec_script(
                                "BEGIN; LOCK TABLE " + fx.schema +
                                ".outbound_messages IN ACCESS EXCLUSIVE MODE");
                            !locked) {
                   lock_error = locked.error().describe();
                 } else {
                   lock = std::move(*lease);
                 }
                 return http::json_error(500, "internal", "provider trouble");
               }
               return http::Response::json(
                   200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.RESUMED"}]})");
             },
             {.blocking = true});
  http::Server provider(http::ServerOptions{.address = "127.0.0.1"}, std::move(router));
  REQUIRE(provider.start().ok());
  auto options = fx.options;
  options.provider.meta_graph_url =
      "http://127.0.0.1:" + std::to_string(provider.port()) + "/v25.0";
  CommandHandler handler(store, std::make_shared<http::Client>(), std::make_shared<RateLimiter>(0),
                         std::make_shared<kafka::DeadLetter>(fx.producer), options);
  const auto id = new_id();
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(id, "meta", kTo, "Olá!"));

  // The second try is counted in the database before it is made: with no answer from the
  // database, no second request, and the partition waits.
  auto st = handler.handle(msg);
  REQUIRE_FALSE(st.ok());
  INFO(st.error().describe());
  CHECK(st.error().retryable());
  CHECK(calls.load() == 1);
  {
    const std::lock_guard guard(mu);
    INFO(lock_error);
    REQUIRE(lock.has_value());
    lock.reset();  // the database answers again
  }
  CHECK(fx.events().empty());
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sending");
  CHECK(row->attempts == 1);

  // Handled again: resumed with the next try, sent once, reported once.
  require_ok(handler.handle(msg));
  require_ok(handler.handle(msg));
  CHECK(calls.load() == 2);
  auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == kSentType);
  CHECK(data_of(evs[0])["attempts"].GetInt() == 2);
  CHECK(str(data_of(evs[0])["provider_message_id"]) == "wamid.RESUMED");
  CHECK(fx.row(id)->status == "sent");
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());
  provider.stop(std::chrono::seconds{1});
}

TEST_CASE("sends to one number keep to its rate") {
  Fixture fx(/*rate_per_number=*/1);
  // The limiter books each send's second before its request leaves, so the second send to
  // the number reaches the provider a second or more after the first was booked (at t0 or
  // later); the first request's own delay (a cold connection) does not count against it.
  // The second names the number without its ninth digit, as another producer may: the same
  // number, the same rate.
  const auto t0 = core::SystemClock::instance().now_ms();
  for (int i = 0; i < 2; ++i) {
    require_ok(fx.handler->handle(
        fx.command(events::types::notification_send_text,
                   Fixture::text_data(new_id(), "meta", i == 0 ? kTo : "551187654321", "x"), i)));
  }
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text,
                 Fixture::text_data(new_id(), "meta", "5511900000000", "x"), 3)));
  auto reqs = fx.sandbox.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].at_ms >= t0);
  CHECK(reqs[1].at_ms >= t0 + 1000);  // one per second to the same number
  CHECK(fx.events().size() == 3);
}

TEST_CASE("a redelivered command that sends nothing gives its rate slot back") {
  Fixture fx;
  auto limiter = std::make_shared<RateLimiter>(1);
  auto handler_owned = handler_with(fx, fx.options, limiter);
  CommandHandler& handler = *handler_owned;
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(new_id(), "meta", kTo, "x"));
  const auto started = std::chrono::steady_clock::now();
  require_ok(handler.handle(msg));
  // A rebalance hands the sent command back five times: nothing is sent, none waits for a
  // slot (before, each waited a second more), and no slot of the number is kept for them.
  auto& delayed = core::metrics().counter("lia_notification_rate_limited_total",
                                          "Sends delayed by the per-number rate");
  const double before = delayed.value();
  for (int i = 0; i < 5; ++i) require_ok(handler.handle(msg));
  const auto redelivered_by = std::chrono::steady_clock::now();
  CHECK(delayed.value() == before);
  CHECK(fx.sandbox.requests().size() == 1);
  // The first send's slot still counts, once: asked for at the moment the first began, the
  // next is a second after that slot (or after the last slot given back, should the
  // redeliveries take longer), not five seconds more.
  const auto next = limiter->reserve(pair_key(kTo), started);
  CHECK(next >= 1s);
  CHECK(next <= 1s + (redelivered_by - started));
}

TEST_CASE("a command the database cannot take keeps no rate slot of its number") {
  Fixture fx;
  auto limiter = std::make_shared<RateLimiter>(1);
  auto handler_owned = handler_with(fx, fx.options, limiter);
  CommandHandler& handler = *handler_owned;
  // The claim's INSERT fails, as in a database outage.
  REQUIRE(fx.pool
              ->exec("CREATE FUNCTION " + fx.schema +
                     ".refuse_claim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
                     "EXCEPTION 'refuse_claim'; END $$")
              .ok());
  REQUIRE(fx.pool
              ->exec("CREATE TRIGGER refuse_claim BEFORE INSERT ON " + fx.schema +
                     ".outbound_messages FOR EACH ROW EXECUTE FUNCTION " + fx.schema +
                     ".refuse_claim()")
              .ok());
  const auto msg = fx.command(events::types::notification_send_text,
                              Fixture::text_data(new_id(), "meta", kTo, "x"));
  auto& delayed = core::metrics().counter("lia_notification_rate_limited_total",
                                          "Sends delayed by the per-number rate");
  const double before = delayed.value();
  // Retried three times through the outage: none waits for a slot an earlier one kept.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(handler.handle(msg).ok());
  CHECK(delayed.value() == before);
  CHECK(limiter->reserve(pair_key(kTo), std::chrono::steady_clock::now()) == 0ns);
  CHECK(fx.sandbox.requests().empty());
}

TEST_CASE("delivery ticks move the outbound row forward only") {
  Fixture fx;
  const auto id = new_id();
  require_ok(fx.handler->handle(
      fx.command(events::types::notification_send_text, Fixture::text_data(id, "meta", kTo, "x"))));
  const auto wamid = fx.sandbox.sends().at(0).provider_message_id;
  auto status = [&](const std::string& s, const std::string& provider_id,
                    const std::string& extra = {}) {
    return fx.statuses->handle(Fixture::status_record(s, provider_id, extra));
  };
  require_ok(status("READ", wamid));
  CHECK(fx.row(id)->delivery_status == "READ");
  require_ok(status("DELIVERY_ACK", wamid));  // late: ignored
  CHECK(fx.row(id)->delivery_status == "READ");
  require_ok(status("ERROR", wamid, R"(,"error":{"reason":"late failure"})"));  // READ stays
  CHECK(fx.row(id)->delivery_status == "READ");
  require_ok(status("READ", "wamid.someone-else"));  // not ours: ignored
  // A connection update on the same topic is not a tick.
  kafka::Message conn;
  conn.value = events::encode(events::make_event(
      events::types::whatsapp_connection_updated, 1, "/lia/ingestion", "",
      R"({"provider":"evolution","instance":"lia-vendas","state":"CONNECTED","timestamp":"2026-11-22T12:53:24.123Z"})"));
  CHECK(fx.statuses->handle(conn).ok());
  // A type newer than this build (no schema here) is skipped on its header, not refused.
  kafka::Message newer;
  newer.value = R"({"specversion":"1.0","type":"lia.whatsapp.chat.archived"})";
  newer.headers = {{std::string(events::headers::event_type), "lia.whatsapp.chat.archived"}};
  CHECK(fx.statuses->handle(newer).ok());

  const auto other = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(other, "meta", kTo, "y"), 1)));
  const auto wamid2 = fx.sandbox.sends().at(1).provider_message_id;
  require_ok(status("ERROR", wamid2, R"(,"error":{"reason":"undeliverable","code":"131026"})"));
  auto row = fx.row(other);
  CHECK(row->delivery_status == "ERROR");
  CHECK(row->delivery_error == "undeliverable");
  CHECK(row->error_code == "131026");
  // A delivery report after it proves the failure was not final: the error goes with it.
  require_ok(status("DELIVERY_ACK", wamid2));
  row = fx.row(other);
  CHECK(row->delivery_status == "DELIVERY_ACK");
  CHECK_FALSE(row->delivery_error.has_value());
  CHECK_FALSE(row->error_code.has_value());
  require_ok(status("ERROR", wamid2, R"(,"error":{"reason":"late","code":"131026"})"));
  CHECK(fx.row(other)->delivery_status == "DELIVERY_ACK");  // and a failure after it: ignored
}

TEST_CASE(
    "a sent message whose tick turns ERROR is reported undelivered once, with the tick's code, "
    "to the service that asked") {
  Fixture fx;
  const auto id = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(id, "meta", kTo, "Olá"))));
  const auto wamid = fx.sandbox.sends().at(0).provider_message_id;
  require_ok(fx.statuses->handle(Fixture::status_record("SERVER_ACK", wamid)));
  REQUIRE(fx.events().size() == 1);  // sent, and no more for a tick that is no failure

  // Meta's 131026 comes later, in the statuses webhook, after the 200 with the wamid.
  const std::string failure = R"(,"error":{"reason":"Message undeliverable","code":"131026"})";
  for (int i = 0; i < 2; ++i)
    require_ok(fx.statuses->handle(Fixture::status_record("ERROR", wamid, failure)));
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].type == kSentType);
  CHECK(evs[1].type == events::types::notification_message_undelivered);
  auto d = data_of(evs[1]);
  CHECK(str(d["command_id"]) == id);
  CHECK(str(d["code"]) == "131026");
  CHECK(str(d["reason"]) == "not delivered: Message undeliverable");
  CHECK(str(d["to"]) == kTo);
  CHECK(d["attempts"].GetInt() == 1);
  CHECK(str(d["provider_message_id"]) == wamid);
  const auto out = fx.outbox(fx.events_topic);
  REQUIRE(out.size() == 2);
  CHECK(out[1].key == out[0].key);  // the chat's key: after the sent, in order
  CHECK(out[1].headers.find(R"("lia.command_source": "/lia/conversation")") != std::string::npos);
  CHECK(fx.outbox(fx.commands_topic + ".dlq").empty());  // sending again meets the same refusal
  auto row = fx.row(id);
  CHECK(row->status == "sent");
  CHECK(row->delivery_status == "ERROR");
  CHECK(row->error_code == "131026");

  // A tick for a send whose command said no source (an older row) goes without the header.
  const auto older = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(older, "meta", kTo, "Oi"), 1)));
  REQUIRE(fx.pool
              ->exec("UPDATE " + fx.schema +
                         ".outbound_messages SET command_source = NULL WHERE command_id = $1",
                     older)
              .ok());
  require_ok(fx.statuses->handle(
      Fixture::status_record("ERROR", fx.sandbox.sends().at(1).provider_message_id,
                             R"(,"error":{"reason":"Re-engagement message"})")));
  evs = fx.events();
  REQUIRE(evs.size() == 4);
  CHECK(evs[3].type == events::types::notification_message_undelivered);
  CHECK(str(data_of(evs[3])["reason"]) == "not delivered: Re-engagement message");
  CHECK_FALSE(data_of(evs[3]).HasMember("code"));
  CHECK(fx.outbox(fx.events_topic)[3].headers.find("lia.command_source") == std::string::npos);
}

TEST_CASE(
    "an ERROR tick ahead of the send's record is tried again while a send to its chat is in "
    "flight, for a while") {
  Fixture fx;
  SenderOptions options = fx.options;
  options.early_tick_wait = std::chrono::milliseconds{300};
  StatusHandler statuses(fx.store, options);
  std::int64_t offset = 100;
  const auto error_tick = [&](const std::string& provider_id, std::chrono::seconds age,
                              const std::string& chat = kTo) {
    auto m = Fixture::status_record(
        "ERROR", provider_id, R"(,"error":{"reason":"Message undeliverable","code":"131026"})",
        chat, core::SystemClock::instance().now() - age);
    m.offset = ++offset;
    return m;
  };
  const auto unknown_ticks = [] {
    return core::metrics()
        .counter("lia_notification_status_updates_total", "", {{"outcome", "unknown"}})
        .value();
  };

  // The send's record is behind its failure (the request with the provider, its answer not
  // written yet): the tick waits, and applies once it is there.
  const auto id = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(id, "meta", kTo, "Olá"))));
  const auto wamid = fx.sandbox.sends().at(0).provider_message_id;
  const std::string table = fx.schema + ".outbound_messages";
  fx.set_in_flight(id, kTo);
  const auto ahead = error_tick(wamid, std::chrono::seconds{0});
  auto early = statuses.handle(ahead);
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().retryable());  // the partition waits for the send's commit
  fx.set_sent(id, wamid);
  require_ok(statuses.handle(ahead));
  auto evs = fx.events();
  REQUIRE(evs.size() == 2);
  CHECK(evs[1].type == events::types::notification_message_undelivered);

  // Not ours, while a send to the same chat is in flight (the tick names it as a JID, the
  // command as digits without the ninth digit): given up once the wait is over.
  fx.set_in_flight(id, "551187654321");
  const auto foreign =
      error_tick("wamid.not-ours", std::chrono::seconds{0}, "5511987654321@s.whatsapp.net");
  CHECK_FALSE(statuses.handle(foreign).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds{400});
  auto before = unknown_ticks();
  CHECK(statuses.handle(foreign).ok());
  CHECK(unknown_ticks() == before + 1);

  // Ignored at once: nothing in flight to its chat (a message typed on the phone), with a send
  // to another chat in flight or none at all; the same for a group's tick, a chat that could
  // be anyone's, when nothing of this number is in flight.
  CHECK(
      statuses.handle(error_tick("wamid.phone-1", std::chrono::seconds{0}, "5521987650001")).ok());
  REQUIRE(
      fx.pool->exec("UPDATE " + table + " SET in_flight = false WHERE command_id = $1", id).ok());
  before = unknown_ticks();
  CHECK(statuses.handle(error_tick("wamid.phone-2", std::chrono::seconds{0})).ok());
  CHECK(statuses.handle(error_tick("wamid.group", std::chrono::seconds{0}, "120363025@g.us")).ok());
  CHECK(unknown_ticks() == before + 2);
  // ... but a group's tick waits while any send of the number is in flight.
  fx.set_in_flight(id, kTo);
  CHECK_FALSE(
      statuses.handle(error_tick("wamid.group-2", std::chrono::seconds{0}, "120363025@g.us")).ok());
  // Not waited for: a tick made long ago (a backlog), or with a clock far ahead, or the
  // provider's acceptance (SERVER_ACK: the send's own record says as much).
  CHECK(statuses.handle(error_tick("wamid.old", std::chrono::seconds{120})).ok());
  CHECK(statuses.handle(error_tick("wamid.ahead", std::chrono::seconds{-120})).ok());
  CHECK(statuses.handle(Fixture::status_record("SERVER_ACK", "wamid.not-yet")).ok());
  CHECK(fx.events().size() == 2);
}

TEST_CASE(
    "a delivery tick ahead of the send's record waits for it: a later ERROR tick then reports "
    "nothing undelivered") {
  Fixture fx;
  SenderOptions options = fx.options;
  options.early_tick_wait = std::chrono::milliseconds{300};
  StatusHandler statuses(fx.store, options);
  const auto id = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(id, "meta", kTo, "Olá"))));
  const auto wamid = fx.sandbox.sends().at(0).provider_message_id;
  fx.set_in_flight(id, kTo);  // the provider's answer is not written yet
  const auto delivered = Fixture::status_record("DELIVERY_ACK", wamid);
  auto early = statuses.handle(delivered);
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().retryable());
  // A delivery in a group (a message typed on the phone) waits for no send: only an ERROR
  // waits for any send that could be its.
  require_ok(
      statuses.handle(Fixture::status_record("DELIVERY_ACK", "wamid.group", "", "120363025@g.us")));
  fx.set_sent(id, wamid);
  require_ok(statuses.handle(delivered));
  REQUIRE(fx.row(id).has_value());
  CHECK(fx.row(id)->delivery_status == std::optional<std::string>("DELIVERY_ACK"));
  // Evolution may send ERROR after a delivery: the message arrived, so no undelivered.
  require_ok(statuses.handle(Fixture::status_record(
      "ERROR", wamid, R"(,"error":{"reason":"Message undeliverable","code":"131026"})")));
  const auto evs = fx.events();
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].type == events::types::notification_message_sent);
}

TEST_CASE(
    "outbound_messages' enumerated columns refuse other values, as domains and after going "
    "back down") {
  Fixture fx;
  const auto id = new_id();
  require_ok(fx.handler->handle(fx.command(events::types::notification_send_text,
                                           Fixture::text_data(id, "meta", kTo, "Olá!"))));
  const std::string table = fx.schema + ".outbound_messages";
  auto expect_refused = [&] {
    for (const char* set : {"command_type = 'send_audio'", "provider = 'telegram'",
                            "priority = 'urgent'", "status = 'lost'", "delivery_status = 'SEEN'",
                            "status = 'sent', provider_message_id = NULL"}) {
      auto r = fx.pool->exec("UPDATE " + table + " SET " + set);
      INFO(set);
      REQUIRE_FALSE(r.ok());
      CHECK(pg::sqlstate(r.error()) == "23514");
    }
  };
  expect_refused();
  pg::Migrator m(fx.pool, fx.schema, "notification", migrations());
  // 0011 (echo_message_id), 0010 (token_revocation), 0009 (retry_at), 0008 (replayed_from),
  // 0007 (command_source), 0006 (in_flight), 0005 (desk_users) and 0004 (the domains) undone
  auto down = m.down(3);
  REQUIRE(down.ok());
  CHECK(*down == 8);
  expect_refused();
  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(*up == 8);
  expect_refused();
  auto row = fx.row(id);
  REQUIRE(row);
  CHECK(row->status == "sent");
}
