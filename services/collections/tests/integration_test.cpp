// collections against the real PostgreSQL: campaigns created through the real HTTP server
// with a JWT, scheduler ticks driven by a ManualClock, and notification outcomes.

#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/collections/api.hpp>
#include <lia/collections/app.hpp>
#include <lia/collections/handlers.hpp>
#include <lia/collections/scheduler.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/events/schema_registry.hpp>
#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/testing/log_lines.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

using namespace lia;
using namespace lia::collections;
using namespace std::chrono_literals;
namespace types = lia::events::types;

namespace {

const std::string kSecret = "collections-secret";

// 2026-11-23 is a Monday; 13:00 UTC is 10:00 in São Paulo.
core::SysTime utc(int y, unsigned m, unsigned d, int h, int min) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}} +
         std::chrono::hours{h} + std::chrono::minutes{min};
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

const std::string kSupervisor = "0190e0a4-7b2c-7def-8123-00000000ad01";
const std::string kConversation = "0190e0a4-7b2c-7def-8123-0123456789ab";

std::string token(auth::Role role, const std::string& subject = kSupervisor) {
  auth::Claims c;
  c.subject = subject;
  c.username = "supervisora";
  c.role = role;
  c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  c.expires_at = c.issued_at + 600;
  return "Bearer " + auth::sign_jwt(c, kSecret);
}

const std::string kTargets =
    R"([{"name":"Maria Silva","phone":"+55 11 98765-4321","document":"529.982.247-25","debt_amount":1234.5,"due_date":"2026-11-30"},)"
    R"({"name":"João Souza","phone":"21 99876-5432","debt_amount":89.9,"due_date":"2026-12-05"},)"
    R"({"name":"Loja Azul","phone":"5531987651234","document":"11.222.333/0001-81","debt_amount":2500,"due_date":"2026-12-10"}])";

std::string campaign_body(const std::string& targets = kTargets, int max_attempts = 2,
                          int spacing = 60) {
  return R"({"name":"Cobrança novembro","template":"Olá {{name}}, sua fatura de {{valor}} vence em {{vencimento}}.",)"
         R"("allowed_hours":{"start":"08:00","end":"20:00","days":"seg-sex"},"max_attempts":)" +
         std::to_string(max_attempts) + R"(,"spacing_minutes":)" + std::to_string(spacing) +
         R"(,"targets":)" + targets + "}";
}

// A migrated throwaway schema, the API behind the real HTTP server, the scheduler and the
// notification handler, all on one manual clock. With `api_pool`, the API uses that pool
// instead of the schema's (e.g. one whose database is unreachable).
struct Fixture {
  std::shared_ptr<pg::Pool> pool;
  std::string schema = testing::unique_name("coll");
  core::ManualClock clock{utc(2026, 11, 23, 13, 0)};
  Settings settings;
  std::unique_ptr<Api> api;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<NotificationHandler> handler;
  std::unique_ptr<ReplyHandler> replies;
  std::unique_ptr<AiToolHandler> promises;
  std::unique_ptr<http::Server> server;
  http::Client client;

  explicit Fixture(const std::shared_ptr<pg::Pool>& api_pool = nullptr) {
    auto p = pg::Pool::create(
        {.url = testing::pg_url(), .size = 4, .application_name = "collections-tests"});
    REQUIRE(p.ok());
    pool = *p;
    auto m = pg::migrate_service(pool, schema, "collections", migrations());
    if (!m) FAIL(m.error().message());
    settings.jwt_secret = kSecret;
    settings.instance = "lia-cobranca";
    settings.provider = "evolution";
    settings.max_per_minute = 1'000'000;  // no rate to wait for (its own test sets one)
    api = std::make_unique<Api>(api_pool ? api_pool : pool, schema, settings, clock);
    scheduler = std::make_unique<Scheduler>(pool, schema, settings, clock);
    handler = std::make_unique<NotificationHandler>(pool, schema, clock);
    replies = std::make_unique<ReplyHandler>(pool, schema, clock);
    promises = std::make_unique<AiToolHandler>(pool, schema, settings.utc_offset, clock);
    http::Router router;
    api->add_routes(router);
    server = std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1", .port = 0},
                                            std::move(router));
    auto st = server->start();
    if (!st) FAIL(st.error().message());
  }
  ~Fixture() {
    server->stop(1s);
    testing::drop_schema(*pool, schema);
  }

  http::ClientResponse call(const std::string& method, const std::string& path,
                            std::string body = {},
                            std::optional<std::string> auth = token(auth::Role::supervisor),
                            const http::Headers& extra = {}) {
    http::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(server->port()) + path;
    if (auth) req.headers.add("Authorization", *auth);
    if (!body.empty()) req.headers.add("Content-Type", "application/json");
    for (const auto& h : extra) req.headers.add(h.name, h.value);
    req.body = std::move(body);
    auto res = client.request(req);
    if (!res) FAIL(res.error().describe());
    return std::move(*res);
  }

  // POST /api/campaigns with an Idempotency-Key.
  http::ClientResponse create_with_key(const std::string& key,
                                       const std::string& body = campaign_body(),
                                       const std::string& subject = kSupervisor) {
    return call("POST", "/api/campaigns", body, token(auth::Role::supervisor, subject),
                {{"Idempotency-Key", key}});
  }

  std::string create(const std::string& body = campaign_body()) {
    auto res = call("POST", "/api/campaigns", body);
    INFO(res.body);
    REQUIRE(res.status == 201);
    return parse(res.body)["id"].GetString();
  }

  TickReport tick() {
    auto r = scheduler->tick();
    if (!r) FAIL(r.error().describe());
    return *r;
  }

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

  std::int64_t count(const std::string& sql_after_from) {
    auto r = pool->exec("SELECT count(*) FROM " + pg::quote_ident(schema) + "." + sql_after_from);
    if (!r) FAIL(r.error().message());
    return (*r)[0].get<std::int64_t>(0);
  }

  // notification's outcome of `cmd`, a new event each time.
  events::CloudEvent outcome_event(std::string_view type, const OutboxEvent& cmd,
                                   const std::string& extra_json) {
    std::string data = R"({"command_id":")" + cmd.str("command_id") + R"(","provider":")" +
                       cmd.str("provider") + R"(","instance":")" + cmd.str("instance") +
                       R"(","to":")" + cmd.str("to") + R"(","attempts":1)" + extra_json + "}";
    auto ev = events::make_event(type, 1, "/lia/notification", "", data, clock);
    if (auto valid = events::SchemaRegistry::instance().validate(ev); !valid)
      FAIL(valid.error().message());
    return ev;
  }

  void deliver(const events::CloudEvent& ev) {
    auto st = handler->on_event(ev);
    if (!st) FAIL(st.error().describe());
  }

  void outcome(std::string_view type, const OutboxEvent& cmd, const std::string& extra_json) {
    deliver(outcome_event(type, cmd, extra_json));
  }

  // notification's `message.sent` of every command still awaiting its outcome, as when its
  // provider accepted them now. Returns how many.
  int sent_open() {
    auto open = pool->exec("SELECT command_id::text FROM " + pg::quote_ident(schema) +
                           ".message_attempts WHERE outcome IS NULL");
    if (!open) FAIL(open.error().message());
    std::set<std::string> ids;
    for (const auto& r : *open) ids.insert(r.get<std::string>(0));
    int n = 0;
    for (const auto& e : outbox()) {
      if (e.event.type != types::notification_send_text || !ids.contains(e.str("command_id")))
        continue;
      outcome(types::notification_message_sent, e,
              R"(,"provider_message_id":"wamid.)" + std::to_string(n++) + R"(")");
    }
    return n;
  }

  // conversation's message.stored of a message in `chat`: by default a customer's text
  // written and stored now.
  struct Stored {
    std::string chat;
    std::string instance = "lia-cobranca";
    std::string direction = "inbound";
    std::string author = "customer";
    std::string kind = "text";
    std::string route = "ai";
    std::optional<core::SysTime> written_at;  // the provider's time; default now
  };
  kafka::Message stored(const Stored& m) {
    const std::string data =
        R"({"conversation_id":")" + kConversation +
        R"(","contact_id":"0190e0a4-7b2c-7def-8123-00000000c0de","provider":"evolution",)"
        R"("instance":")" +
        m.instance + R"(","chat_id":")" + m.chat + R"(","message_id":")" + core::Uuid::v7().str() +
        R"(","provider_message_id":"3EB0REPLY","direction":")" + m.direction + R"(","author":")" +
        m.author + R"(","kind":")" + m.kind + R"(","text":"Já paguei ontem","route":")" + m.route +
        R"(","timestamp":")" + core::format_rfc3339(m.written_at.value_or(clock.now())) + R"("})";
    auto ev = events::make_event(types::conversation_message_stored, 1, "/lia/conversation", "",
                                 data, clock);
    if (auto valid = events::SchemaRegistry::instance().validate(ev); !valid)
      FAIL(valid.error().message());
    kafka::Message out;
    out.topic = "conversation.events.v1";
    out.value = events::encode(ev);
    out.headers = {{"lia.event_type", std::string(types::conversation_message_stored)}};
    return out;
  }
  kafka::Message stored(const std::string& chat) { return stored(Stored{.chat = chat}); }

  void reply(const kafka::Message& m) {
    auto st = replies->handle(m);
    if (!st) FAIL(st.error().describe());
  }

  // ai_orchestration's tool.invoked of `tool` in `chat`, with its result (JSON members).
  // ai_orchestration's tool.invoked, made now (the event's time); an empty `result`: a
  // failed call.
  kafka::Message tool_invoked(const std::string& chat, const std::string& result,
                              const std::string& tool = "register_payment_promise",
                              const std::string& instance = "lia-cobranca") {
    const std::string outcome = result.empty() ? R"("ok":false,"error":"no day")"
                                               : R"("ok":true,"result":{)" + result + "}";
    const std::string data = R"({"conversation_id":")" + kConversation +
                             R"(","provider":"evolution","instance":")" + instance +
                             R"(","chat_id":")" + chat + R"(","assistant":"cobranca","tool":")" +
                             tool + R"(","call_id":"local-1","arguments":{},)" + outcome + "}";
    auto ev =
        events::make_event(types::ai_tool_invoked, 1, "/lia/ai_orchestration", "", data, clock);
    if (auto valid = events::SchemaRegistry::instance().validate(ev); !valid)
      FAIL(valid.error().message());
    kafka::Message out;
    out.topic = "ai.events.v1";
    out.value = events::encode(ev);
    out.headers = {{"lia.event_type", std::string(types::ai_tool_invoked)}};
    return out;
  }

  void promise(const kafka::Message& m) {
    auto st = promises->handle(m);
    if (!st) FAIL(st.error().describe());
  }

  std::string campaign_status(const std::string& id) {
    auto got = call("GET", "/api/campaigns/" + id);
    REQUIRE(got.status == 200);
    return parse(got.body)["status"].GetString();
  }
};

// A clock that calls `on_read` before each reading, to make time pass or something happen
// while a tick runs.
class HookClock final : public core::Clock {
 public:
  explicit HookClock(const core::Clock& base) : base_(base) {}
  core::SysTime now() const override {
    if (on_read) on_read();
    return base_.now();
  }
  std::function<void()> on_read;

 private:
  const core::Clock& base_;
};

// Rows of message_attempts committed so far (read outside the scheduler's transaction).
std::int64_t committed_attempts(Fixture& fx) {
  auto r =
      fx.pool->exec("SELECT count(*) FROM " + pg::quote_ident(fx.schema) + ".message_attempts");
  return r ? (*r)[0].get<std::int64_t>(0) : 0;
}

std::string many_targets(int n) {
  std::string targets = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) targets += ",";
    targets += R"({"name":"Cliente )" + std::to_string(i) + R"(","phone":"55119876)" +
               std::to_string(10000 + i) + R"(","debt_amount":10,"due_date":"2026-12-01"})";
  }
  return targets + "]";
}

std::vector<const OutboxEvent*> of_type(const std::vector<OutboxEvent>& all,
                                        std::string_view type) {
  std::vector<const OutboxEvent*> out;
  for (const auto& e : all) {
    if (e.event.type == type) out.push_back(&e);
  }
  return out;
}

// The outbox's send_text commands, with the outbox they point into.
struct Commands {
  std::vector<OutboxEvent> outbox;
  std::vector<const OutboxEvent*> sends;
};

// A campaign to kTargets (3 attempts, an hour apart) whose three first messages were requested.
Commands first_round(Fixture& fx) {
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  Commands c;
  c.outbox = fx.outbox();
  c.sends = of_type(c.outbox, types::notification_send_text);
  REQUIRE(c.sends.size() == 3);
  return c;
}

// conversation's user.upserted of the supervisor, as users.v1 carries it (`valid_from`: its
// tokens_valid_from, left out when empty).
kafka::Message supervisor_upserted(const std::string& role, bool active, const std::string& at,
                                   const std::string& valid_from) {
  const std::string data =
      R"({"user_id":")" + kSupervisor +
      R"(","name":"Supervisora","email":"s@example.com","role":")" + role + R"(","active":)" +
      (active ? "true" : "false") + R"(,"updated_at":")" + at + R"(")" +
      (valid_from.empty() ? "" : R"(,"tokens_valid_from":")" + valid_from + R"(")") + "}";
  kafka::Message m;
  m.topic = "users.v1";
  m.key = kSupervisor;
  m.value = events::encode(
      events::make_event(events::types::user_upserted, 1, "/lia/conversation", "", data));
  return m;
}

}  // namespace

TEST_CASE(
    "a campaign created over HTTP is sent once per target per attempt, spaced, up to "
    "max_attempts") {
  Fixture fx;
  auto created = fx.call("POST", "/api/campaigns", campaign_body());
  REQUIRE(created.status == 201);
  auto body = parse(created.body);
  const std::string id = body["id"].GetString();
  CHECK(body["total_targets"].GetInt() == 3);
  CHECK(body["counts"]["pending"].GetInt() == 3);
  CHECK(std::string(body["status"].GetString()) == "active");

  auto first = fx.tick();
  CHECK(first.sent == 3);
  auto out = fx.outbox();
  REQUIRE(out.size() == 6);
  auto cmds = of_type(out, types::notification_send_text);
  auto reqs = of_type(out, types::collections_message_requested);
  REQUIRE(cmds.size() == 3);
  REQUIRE(reqs.size() == 3);
  std::set<std::string> recipients;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& c = *cmds[i];
    const auto& r = *reqs[i];
    CHECK(c.topic == "notification.commands.v1");
    CHECK(r.topic == "collections.events.v1");
    CHECK(c.str("command_id") == r.str("command_id"));
    CHECK(c.str("to") == r.str("to"));
    CHECK(r.str("campaign_id") == id);
    CHECK(r.data["attempt"].GetInt() == 1);
    CHECK(c.str("provider") == "evolution");
    CHECK(c.str("instance") == "lia-cobranca");
    CHECK(c.str("priority") == "bulk");
    CHECK(c.str("not_after") == "2026-11-23T23:00:00.000Z");  // 20:00 in São Paulo
    CHECK(c.key == events::chat_key("lia-cobranca", c.str("to")));
    recipients.insert(c.str("to"));
  }
  CHECK(recipients == std::set<std::string>{"5511987654321@s.whatsapp.net",
                                            "5521998765432@s.whatsapp.net",
                                            "5531987651234@s.whatsapp.net"});
  bool found_maria = false;
  for (const auto* c : cmds) {
    if (c->str("to") == "5511987654321@s.whatsapp.net") {
      found_maria = true;
      CHECK(c->str("text") == "Olá Maria Silva, sua fatura de R$ 1.234,50 vence em 30/11/2026.");
    }
  }
  CHECK(found_maria);
  REQUIRE(fx.sent_open() == 3);  // the provider took them at once

  // Before the spacing passed: nothing new.
  fx.clock.advance(30min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.outbox().size() == 6);

  // After it: the second and last attempt.
  fx.clock.advance(31min);
  CHECK(fx.tick().sent == 3);
  auto second = fx.outbox();
  REQUIRE(second.size() == 12);
  for (const auto* r : of_type(second, types::collections_message_requested)) {
    if (r->data["attempt"].GetInt() == 2) CHECK(r->str("campaign_id") == id);
  }
  CHECK(fx.count("message_attempts WHERE attempt = 2") == 3);

  // max_attempts reached: no more messages, and the campaign is completed.
  fx.clock.advance(3h);
  auto third = fx.tick();
  CHECK(third.sent == 0);
  CHECK(fx.outbox().size() == 12);
  auto got = fx.call("GET", "/api/campaigns/" + id);
  REQUIRE(got.status == 200);
  auto campaign = parse(got.body);
  CHECK(std::string(campaign["status"].GetString()) == "completed");
  REQUIRE(campaign["targets"].Size() == 3);
  for (const auto& t : campaign["targets"].GetArray()) {
    CHECK(t["attempts"].GetInt() == 2);
    CHECK(t["next_attempt_at"].IsNull());
    CHECK(t["last_attempt_at"].IsString());
  }
}

TEST_CASE("outside the allowed hours nothing is sent until the next window opens") {
  Fixture fx;
  fx.clock.set(utc(2026, 11, 24, 2, 30));  // Monday 23:30 in São Paulo
  fx.create();
  auto night = fx.tick();
  CHECK(night.waiting == 1);
  CHECK(night.sent == 0);
  fx.clock.advance(1h);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.outbox().empty());
  fx.clock.set(utc(2026, 11, 24, 11, 0));  // Tuesday 08:00 in São Paulo
  CHECK(fx.tick().sent == 3);
  CHECK(of_type(fx.outbox(), types::notification_send_text).size() == 3);

  // Saturday: closed for a seg-sex campaign.
  fx.clock.set(utc(2026, 11, 28, 15, 0));
  auto saturday = fx.tick();
  CHECK(saturday.waiting == 1);
  CHECK(saturday.sent == 0);
}

TEST_CASE("a campaign paused while it waits and resumed outside its hours says when it will send") {
  Fixture fx;
  const testing::LogLines lines;
  const std::string waiting = "campaign outside its allowed hours; waiting";
  fx.clock.set(utc(2026, 11, 24, 2, 30));  // Monday 23:30 in São Paulo
  const std::string id = fx.create();
  CHECK(fx.tick().waiting == 1);
  CHECK(fx.tick().waiting == 1);
  CHECK(lines.count(waiting) == 1);  // once per window it waits for, not every tick
  REQUIRE(fx.call("POST", "/api/campaigns/" + id + "/pause").status == 200);
  CHECK(fx.tick().waiting == 0);
  REQUIRE(fx.call("POST", "/api/campaigns/" + id + "/resume").status == 200);
  CHECK(fx.tick().waiting == 1);
  CHECK(lines.count(waiting) == 2);
}

TEST_CASE("the campaign API wants a JWT of a supervisor and names bad fields") {
  Fixture fx;
  CHECK(fx.call("POST", "/api/campaigns", campaign_body(), std::nullopt).status == 401);
  CHECK(fx.call("GET", "/api/campaigns", {}, std::nullopt).status == 401);
  CHECK(fx.call("POST", "/api/campaigns", campaign_body(), "Bearer forged.token.value").status ==
        401);
  CHECK(fx.call("POST", "/api/campaigns", campaign_body(), token(auth::Role::agent)).status == 403);
  CHECK(fx.call("GET", "/api/campaigns", {}, token(auth::Role::agent)).status == 403);

  auto bad =
      fx.call("POST", "/api/campaigns",
              campaign_body(
                  R"([{"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-11-30"},)"
                  R"({"name":"B","phone":"0800-123","debt_amount":1,"due_date":"2026-11-30"}])"));
  REQUIRE(bad.status == 400);
  auto err = parse(bad.body);
  CHECK(std::string(err["error"]["field"].GetString()) == "targets[1].phone");
  CHECK(err["error"]["target_index"].GetInt() == 1);
  CHECK(err["error"]["invalid_targets"].GetInt() == 1);
  REQUIRE(err["error"]["targets"].Size() == 1);
  CHECK(std::string(err["error"]["targets"][0]["field"].GetString()) == "targets[1].phone");
  CHECK(std::string(err["error"]["targets"][0]["message"].GetString()) ==
        err["error"]["message"].GetString());
  CHECK(fx.count("voice_campaigns") == 0);

  // An export of 300 targets, 250 of them with a bad number: one answer counts them all and
  // lists the first hundred.
  std::string many = "[";
  for (int i = 0; i < 300; ++i) {
    if (i > 0) many += ",";
    const std::string phone = i < 50 ? "55119876" + std::to_string(10000 + i) : "12";
    many += R"({"name":"C","phone":")" + phone + R"(","debt_amount":1,"due_date":"2026-11-30"})";
  }
  auto lots = fx.call("POST", "/api/campaigns", campaign_body(many + "]"));
  REQUIRE(lots.status == 400);
  auto lots_err = parse(lots.body);
  CHECK(lots_err["error"]["invalid_targets"].GetInt() == 250);
  REQUIRE(lots_err["error"]["targets"].Size() == 100);
  CHECK(lots_err["error"]["targets"][99]["target_index"].GetInt() == 149);
  CHECK(fx.count("voice_campaigns") == 0);

  auto bad_doc = fx.call(
      "POST", "/api/campaigns",
      campaign_body(
          R"([{"name":"A","phone":"11987654321","document":"111.111.111-11","debt_amount":1,"due_date":"2026-11-30"}])"));
  CHECK(bad_doc.status == 400);
  CHECK(std::string(parse(bad_doc.body)["error"]["field"].GetString()) == "targets[0].document");
  CHECK(fx.call("POST", "/api/campaigns", "{not json").status == 400);

  CHECK(fx.call("POST", "/api/campaigns", campaign_body(), token(auth::Role::admin)).status == 201);
  auto list = fx.call("GET", "/api/campaigns");
  REQUIRE(list.status == 200);
  auto campaigns = parse(list.body);
  REQUIRE(campaigns["campaigns"].Size() == 1);
  CHECK(campaigns["campaigns"][0]["counts"]["pending"].GetInt() == 3);
  CHECK(campaigns["campaigns"][0]["allowed_hours"]["days"].Size() == 5);
  CHECK(fx.call("GET", "/api/campaigns/" + core::Uuid::v7().str()).status == 404);
  // A bad query or path parameter is named, as a bad body field is.
  for (const auto& [target, field] :
       std::vector<std::pair<std::string, std::string>>{{"/api/campaigns?limit=0", "limit"},
                                                        {"/api/campaigns?offset=-1", "offset"},
                                                        {"/api/campaigns?status=done", "status"},
                                                        {"/api/campaigns/not-a-uuid", "id"}}) {
    INFO(target);
    auto bad = fx.call("GET", target);
    CHECK(bad.status == 400);
    auto error = parse(bad.body);
    CHECK(std::string(error["error"]["code"].GetString()) == "invalid_argument");
    CHECK(std::string(error["error"]["field"].GetString()) == field);
  }
}

TEST_CASE("skip_invalid_targets creates the campaign with the valid targets and lists the rest") {
  Fixture fx;
  const std::string targets =
      R"([{"name":"A","phone":"11987654321","debt_amount":1,"due_date":"2026-11-30"},)"
      R"({"name":"B","phone":"0800-123","debt_amount":1,"due_date":"2026-11-30"},)"
      R"({"name":"C","phone":"21998765432","debt_amount":1,"due_date":"2026-13-01"},)"
      R"({"name":"D","phone":"31987651234","debt_amount":1,"due_date":"2026-11-30"}])";
  std::string body = campaign_body(targets);
  body.insert(1, R"("skip_invalid_targets":true,)");
  auto res = fx.create_with_key("skip-1", body);
  INFO(res.body);
  REQUIRE(res.status == 201);
  auto created = parse(res.body);
  CHECK(created["total_targets"].GetInt() == 2);
  CHECK(created["skipped_targets"].GetInt() == 2);
  REQUIRE(created["skipped"].Size() == 2);
  CHECK(created["skipped"][0]["target_index"].GetInt() == 1);
  CHECK(std::string(created["skipped"][1]["field"].GetString()) == "targets[2].due_date");
  CHECK(fx.count("voice_campaign_targets") == 2);
  CHECK(fx.tick().sent == 2);
  // A retry replays the same answer, skipped targets included; nothing more is created.
  auto again = fx.create_with_key("skip-1", body);
  CHECK(again.status == 201);
  CHECK(again.body == res.body);
  REQUIRE(again.header("Idempotent-Replayed") != nullptr);
  CHECK(*again.header("Idempotent-Replayed") == "true");
  CHECK(fx.count("voice_campaign_targets") == 2);
  // With the flag and nothing to skip: zero and an empty list.
  std::string clean = campaign_body();
  clean.insert(1, R"("skip_invalid_targets":true,)");
  auto none_skipped = fx.call("POST", "/api/campaigns", clean);
  REQUIRE(none_skipped.status == 201);
  CHECK(parse(none_skipped.body)["skipped_targets"].GetInt() == 0);
  CHECK(parse(none_skipped.body)["skipped"].Size() == 0);
  // Without the flag, the 201 has no skipped fields.
  auto plain = fx.call("POST", "/api/campaigns", campaign_body());
  REQUIRE(plain.status == 201);
  CHECK_FALSE(parse(plain.body).HasMember("skipped_targets"));
}

TEST_CASE("a campaign that cannot send does not hold back the campaigns after it") {
  Fixture fx;
  const std::string broken = fx.create();
  const std::string fine = fx.create();
  // The first campaign's attempts cannot be written (as a constraint of its own data would).
  const auto s = pg::quote_ident(fx.schema);
  REQUIRE(fx.pool
              ->exec("CREATE FUNCTION " + s +
                     ".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                     "'refused for this test'; END $$")
              .ok());
  REQUIRE(fx.pool
              ->exec("CREATE TRIGGER refuse BEFORE INSERT ON " + s +
                     ".message_attempts FOR EACH ROW WHEN (NEW.campaign_id = '" + broken +
                     "') EXECUTE FUNCTION " + s + ".refuse()")
              .ok());
  auto r = fx.tick();
  CHECK(r.errors == 1);
  CHECK(r.sent == 3);  // the second campaign's three targets
  CHECK(fx.count("outbox WHERE topic = 'notification.commands.v1'") == 3);
  CHECK(fx.count("message_attempts WHERE campaign_id = '" + fine + "'") == 3);
  // Once its trouble is gone, the first one sends too.
  REQUIRE(fx.pool->exec("DROP TRIGGER refuse ON " + s + ".message_attempts").ok());
  auto again = fx.tick();
  CHECK(again.errors == 0);
  CHECK(again.sent == 3);
  CHECK(fx.count("message_attempts WHERE campaign_id = '" + broken + "'") == 3);
}

TEST_CASE("a paused campaign waits and a resumed one goes on") {
  Fixture fx;
  const std::string id = fx.create();
  auto paused = fx.call("POST", "/api/campaigns/" + id + "/pause");
  REQUIRE(paused.status == 200);
  CHECK(std::string(parse(paused.body)["status"].GetString()) == "paused");
  CHECK(fx.tick().sent == 0);
  CHECK(fx.call("POST", "/api/campaigns/" + id + "/pause").status == 200);  // repeated: same answer
  CHECK(fx.call("POST", "/api/campaigns/" + id + "/resume").status == 200);
  CHECK(fx.tick().sent == 3);

  const std::string draft = fx.create(R"({"status":"draft",)" + campaign_body().substr(1));
  CHECK(fx.tick().sent == 0);
  CHECK(fx.call("POST", "/api/campaigns/" + draft + "/resume").status == 200);
  CHECK(fx.tick().sent == 3);
  CHECK(fx.call("POST", "/api/campaigns/" + core::Uuid::v7().str() + "/pause").status == 404);
}

// Meta refused the message for its content (a parameter's value): the same data fails the same
// way, so the attempt is used.
const std::string kMessageRefused =
    R"(,"reason":"(#131009) Parameter value is not valid","code":"131009","http_status":400)";

TEST_CASE(
    "notification outcomes mark targets contacted, failed or owed their attempt by command id") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(kTargets, 1, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 3);
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"3EB0ABC")");
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"3EB0ABC")");
  fx.outcome(
      types::notification_message_failed, *cmds[1],
      R"(,"reason":"recipient is not a WhatsApp user","code":"not_on_whatsapp","http_status":400)");
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[2],
      R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 1);
  CHECK(
      fx.count("voice_campaign_targets WHERE status = 'failed' AND last_error LIKE 'recipient%'") ==
      1);
  // The provider down (a dead letter after notification's tries): not the debtor's doing, so
  // its one attempt is given back, due within half an hour.
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 0 AND "
                 "next_attempt_at = '2026-11-23T13:30:00Z'") == 1);
  CHECK(fx.count("message_attempts WHERE outcome = 'dead_lettered' AND given_back") == 1);
  CHECK(fx.count("message_attempts WHERE outcome = 'sent' AND provider_message_id = '3EB0ABC'") ==
        1);

  // An outcome of another service's command changes nothing.
  OutboxEvent foreign{"",
                      "",
                      {},
                      parse(R"({"command_id":")" + core::Uuid::v7().str() +
                            R"(","provider":"meta","instance":"1","to":"5511"})")};
  fx.outcome(types::notification_message_failed, foreign, R"(,"reason":"x")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 1);
  auto campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(campaign["counts"]["contacted"].GetInt() == 1);
  CHECK(campaign["counts"]["failed"].GetInt() == 1);
  CHECK(campaign["counts"]["pending"].GetInt() == 1);
  CHECK(campaign["failures_in_a_row"].GetInt() == 1);
  CHECK(campaign["paused_reason"].IsNull());
}

TEST_CASE("a Meta campaign sends its approved template with each target's parameters") {
  Fixture fx;
  std::string b = campaign_body(kTargets, 1, 60);
  b.insert(1, R"("provider":"meta","instance":"106540352242922","meta_template":{"name":)"
              R"("cobranca_fatura","language":"pt_BR","parameters":["{{name}}","{{valor}}"]},)");
  const std::string id = fx.create(b);
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  CHECK(of_type(sent, types::notification_send_text).empty());
  const auto cmds = of_type(sent, types::notification_send_template);
  REQUIRE(cmds.size() == 3);
  std::set<std::string> first_params;
  for (const auto* c : cmds) {
    CHECK(std::string(c->data["template"]["name"].GetString()) == "cobranca_fatura");
    REQUIRE(c->data["template"]["parameters"].Size() == 2);
    first_params.insert(c->data["template"]["parameters"][0].GetString());
    CHECK(c->str("to").find('@') == std::string::npos);  // Meta's wa_id
  }
  CHECK(first_params == std::set<std::string>{"Maria Silva", "João Souza", "Loja Azul"});
  auto campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(std::string(campaign["meta_template"]["language"].GetString()) == "pt_BR");
}

TEST_CASE("a campaign of thousands of targets with their CRM columns fits its route's limit") {
  Fixture fx;
  // 3,000 targets of about 1.6 KB each: 4.7 MB, past the server's usual 4 MiB.
  const std::string notes(1500, 'x');
  std::string targets = "[";
  for (int i = 0; i < 3000; ++i) {
    if (i > 0) targets += ",";
    targets += R"({"name":"Cliente )" + std::to_string(i) + R"(","phone":"55119)" +
               std::to_string(80000000 + i) +
               R"(","debt_amount":10,"due_date":"2026-12-01","vars":{"notas":")" + notes + R"("}})";
  }
  targets += "]";
  const std::string body = campaign_body(targets);
  REQUIRE(body.size() > std::size_t{4} * 1024 * 1024);
  auto res = fx.call("POST", "/api/campaigns", body);
  INFO(res.body.substr(0, 300));
  REQUIRE(res.status == 201);
  CHECK(parse(res.body)["total_targets"].GetInt() == 3000);
  CHECK(fx.count("voice_campaigns") == 1);
}

TEST_CASE("campaigns on one instance share its send rate and another instance has its own") {
  Fixture fx;
  Settings s = fx.settings;
  s.max_per_minute = 60;  // one a second, bursts of ten
  Scheduler rated(fx.pool, fx.schema, s, fx.clock);
  const auto tick = [&] {
    auto r = rated.tick();
    if (!r) FAIL(r.error().describe());
    return *r;
  };
  fx.create(campaign_body(many_targets(15), 1, 60));
  const auto first = tick();
  CHECK(first.sent == 10);
  CHECK(first.throttled == 0);  // (stopped at the batch that took the last token)
  // A second campaign on the same instance waits with the first.
  std::string other = campaign_body(many_targets(5), 1, 60);
  other.replace(other.find("Cobrança novembro"), 17, "Cobrança dezembro");
  fx.create(other);
  auto none = tick();
  CHECK(none.sent == 0);
  CHECK(none.throttled == 2);
  // Five seconds refill five.
  fx.clock.advance(5s);
  CHECK(tick().sent == 5);
  // A campaign on another instance is not held by this one's rate.
  std::string elsewhere = campaign_body(kTargets, 1, 60);
  elsewhere.insert(1, R"("instance":"lia-cobranca-2",)");
  fx.create(elsewhere);
  const auto third = tick();
  CHECK(third.sent == 3);
  // A minute on, the rest: the bucket holds ten at most.
  fx.clock.advance(60s);
  CHECK(tick().sent == 5);
  CHECK(fx.count("message_attempts") == 23);
}

TEST_CASE("a campaign with nothing due leaves its instance's rate row alone") {
  // Every pod ticks every campaign inside its hours: one with nothing due takes no lock.
  Fixture fx;
  fx.create(campaign_body(kTargets, 2, 60));
  const std::string at = core::format_rfc3339(fx.clock.now());
  REQUIRE(fx.tick().sent == 3);
  const std::string refilled = "instance_send_rate WHERE refilled_at = '" + at + "'";
  REQUIRE(fx.count(refilled) == 1);
  fx.clock.advance(1min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.count(refilled) == 1);  // not written again
  // Due by the clock, but their messages are still on their way (notification behind): not
  // due either.
  fx.clock.advance(60min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.count(refilled) == 1);
  CHECK(fx.count("instance_send_rate") == 1);
}

TEST_CASE("campaigns sharing an instance's send rate take turns at it") {
  Fixture fx;
  Settings s = fx.settings;
  s.max_per_minute = 60;
  Scheduler rated(fx.pool, fx.schema, s, fx.clock);
  const std::string a = fx.create(campaign_body(many_targets(40), 1, 60));
  std::string other = campaign_body(many_targets(40), 1, 60);
  other.replace(other.find("Cobrança novembro"), 17, "Cobrança dezembro");
  const std::string b = fx.create(other);
  for (int i = 0; i < 6; ++i) {
    REQUIRE(rated.tick().ok());
    fx.clock.advance(5s);
  }
  const auto of = [&](const std::string& id) {
    return fx.count("message_attempts WHERE campaign_id = '" + id + "'");
  };
  INFO("a " << of(a) << ", b " << of(b));
  CHECK(of(a) + of(b) == 35);  // ten, then five a tick
  CHECK(of(a) >= 15);
  CHECK(of(b) >= 15);
}

TEST_CASE("no more than max_in_flight messages of a campaign await their outcome at once") {
  Fixture fx;
  Settings s = fx.settings;
  s.max_in_flight = 2;
  Scheduler capped(fx.pool, fx.schema, s, fx.clock);
  const std::string id = fx.create(campaign_body(many_targets(4), 1, 60));
  auto first = capped.tick();
  REQUIRE(first.ok());
  CHECK(first->sent == 2);
  // Nothing came back yet: the third waits, and a pause now stops the campaign with only
  // two messages queued at notification.
  auto held = capped.tick();
  REQUIRE(held.ok());
  CHECK(held->sent == 0);
  CHECK(held->held == 1);
  const auto sent = fx.outbox();
  auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 2);
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"3EB0C1")");
  auto next = capped.tick();
  REQUIRE(next.ok());
  CHECK(next->sent == 1);
  CHECK(capped.tick()->sent == 0);  // two await their outcome again; the fourth waits
  // A message requested more than a day ago is past its window (notification expires it, and
  // its outcome may have been lost): it no longer holds a place.
  REQUIRE(fx.pool
              ->exec("UPDATE " + fx.schema +
                     ".message_attempts SET requested_at = requested_at - interval '25 hours'")
              .ok());
  CHECK(capped.tick()->sent == 1);
  CHECK(fx.count("message_attempts") == 4);
  (void)id;
}

TEST_CASE(
    "while notification is behind, a target's next attempt waits for its outcome and is spaced "
    "from its send") {
  Fixture fx;
  const auto first = first_round(fx);  // 10:00 in São Paulo
  const auto& cmds = first.sends;
  // The provider is down: an hour on, no outcome yet. A second message now would be queued
  // beside the first, and the debtor would get both when it comes back.
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.count("message_attempts") == 3);
  // 12:00: the provider takes Maria's (reported at 12:00, handled at 12:30); João's is
  // unknown (it may well have reached him); Loja Azul's gave up and never reached it.
  fx.clock.set(utc(2026, 11, 23, 15, 0));
  const auto maria = fx.outcome_event(types::notification_message_sent, *cmds[0],
                                      R"(,"provider_message_id":"wamid.M1")");
  fx.clock.set(utc(2026, 11, 23, 15, 30));
  fx.deliver(maria);
  fx.outcome(types::notification_message_failed, *cmds[1],
             R"(,"reason":"outcome unknown: no answer","code":"outcome_unknown")");
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[2],
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("voice_campaign_targets WHERE phone_number = '5511987654321' AND "
                 "next_attempt_at = '2026-11-23T16:00:00Z'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE phone_number = '5521998765432' AND "
                 "next_attempt_at = '2026-11-23T16:30:00Z'") == 1);
  // Loja Azul was due at 11:00: its second attempt goes now.
  auto now = fx.tick();
  CHECK(now.sent == 1);
  auto after = fx.outbox();
  auto again = of_type(after, types::notification_send_text);
  REQUIRE(again.size() == 4);
  CHECK(again[3]->str("to") == "5531987651234@s.whatsapp.net");
  REQUIRE(fx.sent_open() == 1);
  // Maria's an hour after her first message went out, João's an hour after it was reported.
  fx.clock.set(utc(2026, 11, 23, 15, 59));
  CHECK(fx.tick().sent == 0);
  fx.clock.set(utc(2026, 11, 23, 16, 1));
  CHECK(fx.tick().sent == 1);
  fx.clock.set(utc(2026, 11, 23, 16, 31));
  CHECK(fx.tick().sent == 2);  // João, and Loja Azul's third an hour after its second
  after = fx.outbox();
  again = of_type(after, types::notification_send_text);
  REQUIRE(again.size() == 7);
  CHECK(again[4]->str("to") == "5511987654321@s.whatsapp.net");
}

TEST_CASE("a failed target gets no further attempts") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  auto cmds = of_type(sent, types::notification_send_text);
  fx.outcome(types::notification_message_failed, *cmds[0],
             R"(,"reason":"invalid number","code":"131026","http_status":400)");
  REQUIRE(fx.sent_open() == 2);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
}

TEST_CASE("a failure that is the service's, not the debtor's, keeps the target and its attempts") {
  Fixture fx;
  const auto first = first_round(fx);
  const auto& cmds = first.sends;
  // The API key was rotated: 401. A setting is missing: no HTTP status at all. The request
  // timed out after it was written: outcome unknown, most likely delivered. (A Meta 400 whose
  // code is the business's, such as a template's parameters, is the same; see below.)
  fx.outcome(types::notification_message_failed, *cmds[0],
             R"(,"reason":"provider answered HTTP 401: Unauthorized","http_status":401)");
  fx.outcome(types::notification_message_failed, *cmds[1],
             R"(,"reason":"LIA_EVOLUTION_APIKEY is not set")");
  fx.outcome(types::notification_message_failed, *cmds[2],
             R"(,"reason":"outcome unknown: no answer","code":"outcome_unknown")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND last_error LIKE "
                 "'%401%'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND last_error LIKE "
                 "'LIA_EVOLUTION_APIKEY%'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND last_error LIKE "
                 "'outcome unknown%'") == 1);
  CHECK(fx.count("message_attempts WHERE outcome = 'failed'") == 3);
  // All three get their second attempt at its time.
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 3);
  const auto again = fx.outbox();
  const auto second = of_type(again, types::notification_send_text);
  REQUIRE(second.size() == 6);
  // Meta refuses the message for the business's template (132000): the debtor keeps going;
  // for the recipient (131026; 131050: they stopped marketing messages): that debtor is done.
  fx.outcome(types::notification_message_failed, *second[3],
             R"(,"reason":"(#132000) params mismatch","code":"132000","http_status":400)");
  fx.outcome(types::notification_message_failed, *second[4],
             R"(,"reason":"(#131026) Message Undeliverable","code":"131026","http_status":400)");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed' AND last_error LIKE "
                 "'(#131026)%'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 1);
  // Evolution answers 400 to nearly everything; only its number check (code not_on_whatsapp)
  // is about the debtor.
  fx.outcome(types::notification_message_failed, *second[5],
             R"(,"reason":"provider answered HTTP 400: Error: Timed Out","http_status":400)");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 1);
  // (that debtor was contacted at the first attempt, whose outcome was unknown: still so)
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND last_error LIKE "
                 "'%Timed Out'") == 1);
}

TEST_CASE(
    "messages failing for the service's trouble give their attempts back, and a run of them "
    "pauses the campaign with the reason until it is resumed") {
  Fixture fx;
  NotificationHandler strict(fx.pool, fx.schema, fx.clock, 3);  // paused at 3 in a row
  const auto outcome = [&](std::string_view type, const OutboxEvent& cmd,
                           const std::string& extra) {
    auto st = strict.on_event(fx.outcome_event(type, cmd, extra));
    if (!st) FAIL(st.error().describe());
  };
  const std::string dead =
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")";
  const std::string id = fx.create(campaign_body(many_targets(5), 1, 60));
  REQUIRE(fx.tick().sent == 5);
  const auto sent = fx.outbox();
  const auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 5);
  const auto run = [&] {
    return parse(fx.call("GET", "/api/campaigns/" + id).body)["failures_in_a_row"].GetInt();
  };
  outcome(types::notification_message_failed, *cmds[0],
          R"(,"reason":"provider answered HTTP 401: Unauthorized","http_status":401)");
  CHECK(run() == 1);
  outcome(types::notification_message_sent, *cmds[1], R"(,"provider_message_id":"wamid.S1")");
  CHECK(run() == 0);  // the provider took one: the run is over
  outcome(types::notification_message_dead_lettered, *cmds[2], dead);
  outcome(types::notification_message_dead_lettered, *cmds[3], dead);
  CHECK(run() == 2);
  // A message refused for its content is neither: its attempt is used (the last: exhausted).
  outcome(types::notification_message_failed, *cmds[4], kMessageRefused);
  CHECK(run() == 2);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 0") == 3);

  // Half an hour on, the three go again (their only attempt, given back); the first fails
  // once more: three in a row, and the campaign stops.
  fx.clock.advance(31min);
  REQUIRE(fx.tick().sent == 3);
  const auto again_all = fx.outbox();
  const auto again = of_type(again_all, types::notification_send_text);
  REQUIRE(again.size() == 8);
  outcome(types::notification_message_failed, *again[5],
          R"(,"reason":"provider answered HTTP 404: instance not found","http_status":404)");
  auto campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(std::string(campaign["status"].GetString()) == "paused");
  REQUIRE(campaign["paused_reason"].IsString());
  const std::string reason = campaign["paused_reason"].GetString();
  CHECK(reason.find("3 sends in a row") != std::string::npos);
  CHECK(reason.find("HTTP 404: instance not found") != std::string::npos);
  // The two still on their way fail too: given back, the campaign stays paused.
  outcome(types::notification_message_dead_lettered, *again[6], dead);
  outcome(types::notification_message_dead_lettered, *again[7], dead);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 0") == 3);
  fx.clock.advance(31min);
  CHECK(fx.tick().sent == 0);

  // Fixed and resumed: the reason and the run are cleared, and the three go again.
  auto resumed = fx.call("POST", "/api/campaigns/" + id + "/resume");
  REQUIRE(resumed.status == 200);
  campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(std::string(campaign["status"].GetString()) == "active");
  CHECK(campaign["paused_reason"].IsNull());
  CHECK(campaign["failures_in_a_row"].GetInt() == 0);
  CHECK(fx.tick().sent == 3);
}

TEST_CASE("a debtor who stopped the business's marketing messages is not chased again") {
  Fixture fx;
  fx.create(campaign_body(many_targets(1), 3, 60));
  REQUIRE(fx.tick().sent == 1);
  const auto all = fx.outbox();
  const auto cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 1);
  fx.outcome(types::notification_message_failed, *cmds[0],
             R"(,"reason":"(#131050) Unable to deliver the message","code":"131050",)"
             R"("http_status":400)");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 1);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 0);
}

TEST_CASE("an attempt given back is given back once, whatever else comes for its command") {
  Fixture fx;
  fx.create(campaign_body(many_targets(1), 2, 60));
  REQUIRE(fx.tick().sent == 1);
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 0);  // its first still on its way
  auto all = fx.outbox();
  auto cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 1);
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"wamid.1")");
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 1);  // the second and last
  all = fx.outbox();
  cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 2);
  // The provider down: dead-lettered, the attempt given back. Then the dead letter is replayed
  // and its window has passed: expired. Then (another replay) it fails again.
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[1],
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("voice_campaign_targets WHERE attempt_count = 1") == 1);
  fx.outcome(types::notification_message_failed, *cmds[1],
             R"(,"reason":"expired: not sent before its window closed","code":"expired")");
  fx.outcome(types::notification_message_failed, *cmds[1],
             R"(,"reason":"provider answered HTTP 401","http_status":401)");
  CHECK(fx.count("voice_campaign_targets WHERE attempt_count = 1 AND status = 'contacted'") == 1);
  // Its second attempt is made again, once, under its own number, half an hour on.
  fx.clock.advance(31min);
  CHECK(fx.tick().sent == 1);
  CHECK(fx.count("message_attempts WHERE attempt = 2") == 2);
  CHECK(fx.tick().sent == 0);
}

TEST_CASE("a target whose sends keep failing as the service's trouble is charged after five more") {
  Fixture fx;
  fx.create(campaign_body(many_targets(1), 1, 60));
  const std::string dead =
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")";
  for (int send = 1; send <= 6; ++send) {
    INFO("send " << send);
    REQUIRE(fx.tick().sent == 1);
    const auto all = fx.outbox();
    const auto cmds = of_type(all, types::notification_send_text);
    REQUIRE(static_cast<int>(cmds.size()) == send);
    fx.outcome(types::notification_message_dead_lettered, *cmds.back(), dead);
    // Five given back past its one attempt; the sixth send uses it.
    CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted'") == (send == 6 ? 1 : 0));
    fx.clock.advance(31min);
  }
  CHECK(fx.count("message_attempts WHERE given_back") == 5);
  CHECK(fx.tick().sent == 0);
}

TEST_CASE("expired messages, never sent, use up none of the five sends given back") {
  Fixture fx;
  fx.create(campaign_body(many_targets(1), 1, 60));
  const std::string expired = R"(,"reason":"expired: not_after passed","code":"expired")";
  for (int send = 1; send <= 5; ++send) {
    INFO("send " << send);
    REQUIRE(fx.tick().sent == 1);
    const auto all = fx.outbox();
    const auto cmds = of_type(all, types::notification_send_text);
    REQUIRE(static_cast<int>(cmds.size()) == send);
    fx.outcome(types::notification_message_failed, *cmds.back(), expired);
    fx.clock.advance(1min);  // due again at once, in the same window
  }
  REQUIRE(fx.count("message_attempts WHERE outcome = 'expired'") == 5);
  // Then a send the provider's outage kept from the debtor: given back, not exhausted.
  REQUIRE(fx.tick().sent == 1);
  const auto all = fx.outbox();
  const auto cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 6);
  fx.outcome(
      types::notification_message_dead_lettered, *cmds.back(),
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("message_attempts WHERE given_back") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted'") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 0") == 1);
}

TEST_CASE("a message the provider accepted and then could not deliver does not count as contact") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(many_targets(4), 2, 60));
  REQUIRE(fx.tick().sent == 4);
  const auto sent = fx.outbox();
  const auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 4);
  for (int i = 0; i < 3; ++i) {
    fx.outcome(types::notification_message_sent, *cmds[i],
               R"(,"provider_message_id":"wamid.)" + std::to_string(i) + R"(")");
  }
  // The fourth: no answer after the request went out (it may well have reached the debtor).
  fx.outcome(types::notification_message_failed, *cmds[3],
             R"(,"reason":"outcome unknown: no answer","code":"outcome_unknown")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 4);
  // Meta's failed ticks, reported by notification after the sent: undeliverable (the
  // debtor's number), and a marketing message Meta chose not to deliver (131049). A
  // `message.failed` of the service's own trouble after a `sent` could not happen.
  // (the first as the relay publishes it, with its type and source headers)
  kafka::Message first;
  first.topic = std::string(events::topics::notification_events);
  first.value = events::encode(fx.outcome_event(
      types::notification_message_undelivered, *cmds[0],
      R"(,"provider_message_id":"wamid.0","reason":"not delivered: Message undeliverable",)"
      R"("code":"131026")"));
  first.headers = {
      {"lia.event_type", std::string(types::notification_message_undelivered)},
      {std::string(events::headers::command_source), events::source_for("collections")}};
  REQUIRE(fx.handler->handle(first).ok());
  fx.outcome(types::notification_message_undelivered, *cmds[1],
             R"(,"provider_message_id":"wamid.1",)"
             R"("reason":"not delivered: healthy ecosystem engagement","code":"131049")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed' AND last_error LIKE "
                 "'%undeliverable'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND last_error LIKE "
                 "'%ecosystem%'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 2);
  CHECK(fx.count("message_attempts WHERE outcome = 'failed' AND provider_message_id IS NOT "
                 "NULL") == 2);
  // That unknown one's dead letter replayed, given up again: still an attempt that may have
  // reached the debtor.
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[3],
      R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("message_attempts WHERE code = 'outcome_unknown'") == 1);
  // Not given back: its replay may have come after the first one reached the debtor.
  CHECK(fx.count("message_attempts WHERE given_back") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND attempt_count = 1 AND "
                 "last_command_id = '" +
                 std::string(cmds[3]->str("command_id")) + "'") == 1);
  // Nor by an expiry (replayed after its window).
  fx.outcome(types::notification_message_failed, *cmds[3],
             R"(,"reason":"expired: not sent before its window closed","code":"expired")");
  CHECK(fx.count("voice_campaign_targets WHERE attempt_count = 1 AND last_command_id = '" +
                 std::string(cmds[3]->str("command_id")) + "'") == 1);
  // The pending one and the two contacted ones get their second attempt; the failed one none.
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 3);
  const auto again = fx.outbox();
  const auto second = of_type(again, types::notification_send_text);
  REQUIRE(second.size() == 7);
  // Each failing after its sent: a debtor an earlier message reached (sent, or with its
  // outcome unknown) stays contacted; the other's last attempt leaves them exhausted.
  for (int i = 4; i < 7; ++i) {
    fx.outcome(types::notification_message_sent, *second[i],
               R"(,"provider_message_id":"wamid.)" + std::to_string(i) + R"(")");
    fx.outcome(types::notification_message_undelivered, *second[i],
               R"(,"provider_message_id":"wamid.)" + std::to_string(i) +
                   R"(","reason":"not delivered: healthy ecosystem engagement","code":"131049")");
  }
  auto campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(campaign["counts"]["failed"].GetInt() == 1);
  CHECK(campaign["counts"]["contacted"].GetInt() == 2);
  CHECK(campaign["counts"]["exhausted"].GetInt() == 1);
}

TEST_CASE("a debtor who answers a campaign message is sent no further attempts") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto first = fx.outbox();
  const auto cmds = of_type(first, types::notification_send_text);
  REQUIRE(cmds.size() == 3);
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"3EB0A")");
  REQUIRE(fx.sent_open() == 2);

  // Maria answers from her phone as WhatsApp names it: a JID without the ninth digit.
  fx.clock.advance(5min);
  const auto answer = fx.stored("551187654321@s.whatsapp.net");
  fx.reply(answer);
  fx.reply(answer);  // redelivered: nothing more
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5511987654321' AND next_attempt_at IS NULL AND conversation_id = '" +
                 kConversation + "'") == 1);
  // A late outcome of her message does not put her back in the campaign.
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"3EB0A")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded'") == 1);

  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
  const auto after = fx.outbox();
  const auto again = of_type(after, types::notification_send_text);
  REQUIRE(again.size() == 5);
  for (std::size_t i = 3; i < again.size(); ++i) {
    CHECK(again[i]->str("to") != "5511987654321@s.whatsapp.net");
  }
  auto campaign = parse(fx.call("GET", "/api/campaigns/" + id).body);
  CHECK(campaign["counts"]["responded"].GetInt() == 1);
  bool listed = false;
  for (const auto& t : campaign["targets"].GetArray()) {
    if (std::string(t["status"].GetString()) == "responded") {
      listed = true;
      CHECK(std::string(t["conversation_id"].GetString()) == kConversation);
      CHECK(t["attempts"].GetInt() == 1);
    } else {
      CHECK(t["conversation_id"].IsNull());
    }
  }
  CHECK(listed);

  // The others run to their last attempt; the campaign then completes.
  REQUIRE(fx.sent_open() == 2);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.campaign_status(id) == "completed");
}

TEST_CASE("only a customer's message after a campaign message makes its target responded") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 3, 60));
  // João wrote to support before the campaign sent anything: he is still owed its message.
  fx.reply(fx.stored("5521998765432@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded'") == 0);
  REQUIRE(fx.tick().sent == 3);
  REQUIRE(fx.sent_open() == 3);

  fx.clock.advance(1min);
  // The same chat on another instance, the business's own reply, an agent's message, a
  // reaction, a provider's system message, a score for the survey, a message written before
  // the campaign's and delivered only now, a chat that is no phone (@lid, a group), a number
  // in no campaign: none is the debtor answering.
  const std::string joao = "5521998765432@s.whatsapp.net";
  fx.reply(fx.stored({.chat = joao, .instance = "outra-instancia"}));
  fx.reply(fx.stored({.chat = joao, .direction = "outbound", .author = "ai", .route = "none"}));
  fx.reply(fx.stored({.chat = joao, .author = "agent"}));
  fx.reply(fx.stored({.chat = joao, .kind = "reaction", .route = "none"}));
  fx.reply(fx.stored({.chat = joao, .kind = "unsupported"}));
  fx.reply(fx.stored({.chat = joao, .route = "survey"}));
  fx.reply(fx.stored({.chat = joao, .written_at = fx.clock.now() - 2min}));
  fx.reply(fx.stored("123456789012345@lid"));
  fx.reply(fx.stored("120363025246125486@g.us"));
  fx.reply(fx.stored("5511912345678@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded'") == 0);

  fx.reply(fx.stored("5521998765432@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5521998765432'") == 1);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
}

TEST_CASE("a debtor whose campaign message never reached them is still owed it") {
  Fixture fx;
  const auto first = first_round(fx);
  const auto& cmds = first.sends;
  fx.outcome(types::notification_message_failed, *cmds[0],
             R"(,"reason":"expired: not sent before 2026-11-23T23:00:00Z","code":"expired")");
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[1],
      R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  fx.clock.advance(1min);
  // Maria and João write about something else: neither got the campaign's message.
  fx.reply(fx.stored("5511987654321@s.whatsapp.net"));
  fx.reply(fx.stored("5521998765432@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded'") == 0);
  // The third target's message has no outcome yet: on its way, it counts.
  fx.reply(fx.stored("5531987651234@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5531987651234'") == 1);
}

TEST_CASE("a debtor who wrote while the message was on its way is owed it if it never came") {
  Fixture fx;
  const auto first = first_round(fx);
  const auto& cmds = first.sends;
  const auto to = [&](std::string_view phone) -> const OutboxEvent& {
    for (const auto* c : cmds) {
      if (c->str("to") == phone) return *c;
    }
    FAIL("no command to " << phone);
    return *cmds[0];
  };
  // All three write while their messages are on their way: each counts as an answer, and
  // the campaign has no one left to contact.
  fx.clock.advance(1min);
  fx.reply(fx.stored("5511987654321@s.whatsapp.net"));
  fx.reply(fx.stored("5521998765432@s.whatsapp.net"));
  fx.reply(fx.stored("5531987651234@s.whatsapp.net"));
  REQUIRE(fx.count("voice_campaign_targets WHERE status = 'responded'") == 3);
  fx.tick();
  REQUIRE(fx.count("voice_campaigns WHERE status = 'completed'") == 1);

  // Then João's message is dead-lettered: the campaign is active again for him.
  fx.outcome(
      types::notification_message_dead_lettered, to("5521998765432@s.whatsapp.net"),
      R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  CHECK(fx.count("voice_campaigns WHERE status = 'active' AND completed_at IS NULL") == 1);
  // Maria's expires, and the third was sent.
  fx.outcome(types::notification_message_failed, to("5511987654321@s.whatsapp.net"),
             R"(,"reason":"expired: not sent before 2026-11-23T23:00:00Z","code":"expired")");
  fx.outcome(types::notification_message_sent, to("5531987651234@s.whatsapp.net"),
             R"(,"provider_message_id":"wamid.C")");
  // Maria and João never got it: owed it again (Maria's expired attempt and João's, which
  // the provider's outage kept from him, given back), the campaign active again. The third
  // answered a message that reached it.
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND conversation_id IS NULL "
                 "AND next_attempt_at IS NOT NULL AND attempt_count = 0 AND phone_number IN "
                 "('5511987654321', '5521998765432')") == 2);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5531987651234'") == 1);
  CHECK(fx.count("voice_campaigns WHERE status = 'active' AND completed_at IS NULL") == 1);
  // Sent again to those two only: Maria's expired attempt at the next tick; João's, given back
  // after the provider's outage, within the spacing as anyone's (half an hour at most).
  fx.clock.advance(1min);
  CHECK(fx.tick().sent == 1);
  CHECK(of_type(fx.outbox(), types::notification_send_text).size() == 4);
  fx.clock.advance(29min);
  CHECK(fx.tick().sent == 1);
  CHECK(of_type(fx.outbox(), types::notification_send_text).size() == 5);
}

TEST_CASE(
    "a debtor who wrote while a message on its way then failed for its content waits "
    "the spacing") {
  Fixture fx;
  const auto first = first_round(fx);  // attempts an hour apart (campaign_body's 60)
  const auto& maria = *first.sends[0];
  fx.clock.advance(1min);
  fx.reply(fx.stored(std::string(maria.str("to"))));
  REQUIRE(fx.count("voice_campaign_targets WHERE status = 'responded'") == 1);
  // Meta held it back (131049, the customer's marketing limit): the attempt is used, and the
  // next one would meet the same limit if made at once.
  fx.outcome(types::notification_message_failed, maria,
             R"(,"reason":"meta error 131049","code":"131049","http_status":400)");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 1 AND "
                 "next_attempt_at = last_attempt_at + interval '60 minutes' AND phone_number = "
                 "'5511987654321'") == 1);
  fx.clock.advance(1min);
  CHECK(fx.tick().sent == 0);
  fx.clock.advance(59min);
  CHECK(fx.tick().sent == 1);  // hers (the other two's first messages are still on their way)
}

TEST_CASE(
    "a debtor's message handled while the campaign message's failure is being recorded waits "
    "for it and is no answer") {
  Fixture fx;
  const auto first = first_round(fx);
  const std::string command = first.sends[1]->str("command_id");
  const std::string phone = first.sends[1]->str("to");
  fx.clock.advance(1min);
  // The outcome's transaction (another pod, say) has marked the attempt dead-lettered and not
  // committed yet.
  testing::HeldTransaction outcome(*fx.pool, [&](pg::Tx& tx) -> core::Status {
    auto upd = tx.exec("UPDATE " + pg::quote_ident(fx.schema) +
                           ".message_attempts SET outcome = 'dead_lettered', outcome_at = now() "
                           "WHERE command_id = $1",
                       command);
    if (!upd) return upd.error();
    return {};
  });
  const auto message = fx.stored(phone);
  core::Status replied;  // (Catch2 asserts on this thread only)
  std::thread reply([&] { replied = fx.replies->handle(message); });
  const bool waited = testing::wait_until([&] { return outcome.waiters() == 1; }, 10s, 10ms);
  CHECK(outcome.release().ok());
  reply.join();
  CHECK(replied.ok());
  CHECK(waited);
  // The message never reached the debtor: what they wrote answered nothing.
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded'") == 0);
}

TEST_CASE("a debtor who wrote after a message that reached them stays answered") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  REQUIRE(fx.sent_open() == 3);
  // Attempt 2 goes, and Maria writes while it is on its way; then it is dead-lettered.
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 3);
  fx.reply(fx.stored("5511987654321@s.whatsapp.net"));
  const auto sent = fx.outbox();
  const auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 6);
  int dead = 0;
  for (std::size_t i = 3; i < cmds.size(); ++i) {  // the second attempts
    if (cmds[i]->str("to") != "5511987654321@s.whatsapp.net") continue;
    fx.outcome(types::notification_message_dead_lettered, *cmds[i],
               R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"x.dlq")");
    ++dead;
  }
  REQUIRE(dead == 1);
  // Her answer may well be to attempt 1, which reached her.
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5511987654321' AND next_attempt_at IS NULL") == 1);
}

TEST_CASE(
    "a debtor who answered a message the provider took stays answered if it turns undelivered") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  REQUIRE(fx.sent_open() == 3);
  const auto sent = fx.outbox();
  const auto cmds = of_type(sent, types::notification_send_text);
  // João answers "já paguei"; then an ERROR tick of that message says it was not delivered
  // (a tick a later delivery report may still overturn).
  fx.clock.advance(5min);
  fx.reply(fx.stored("5521998765432@s.whatsapp.net"));
  int undelivered = 0;
  for (const auto* c : cmds) {
    if (c->str("to") != "5521998765432@s.whatsapp.net") continue;
    fx.outcome(types::notification_message_undelivered, *c,
               R"(,"provider_message_id":"wamid.1","reason":"not delivered: x","code":"131026")");
    ++undelivered;
  }
  REQUIRE(undelivered == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5521998765432' AND next_attempt_at IS NULL") == 1);
}

TEST_CASE("a payment promise made to the assistant is kept and its debtor chased no more") {
  Fixture fx;  // 2026-11-23 13:00 UTC, a Monday: 10:00 in São Paulo
  // João promised to financeiro before any campaign message: no campaign promise.
  const auto joao = "5521998765432@s.whatsapp.net";
  fx.clock.set(utc(2026, 11, 23, 12, 0));
  const auto early = fx.tool_invoked(joao, R"("registered":true,"day":25)");
  fx.clock.set(utc(2026, 11, 23, 13, 0));
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  fx.promise(early);
  CHECK(fx.count("voice_promises") == 0);

  // Maria promises "dia 23", today, at 10:05 in São Paulo (her answer may reach collections
  // after the promise); handled a day late, it still means the 23rd of November.
  const auto maria = "551187654321@s.whatsapp.net";  // WhatsApp's form, no ninth digit
  fx.clock.advance(5min);
  const auto promised = fx.tool_invoked(maria, R"("registered":true,"day":23)");
  fx.clock.advance(24h);
  fx.promise(promised);
  fx.promise(promised);  // redelivered: nothing more
  CHECK(fx.count("voice_promises WHERE phone_number = '5511987654321' AND due_date = "
                 "'2026-11-23' AND promised_amount = 123450 AND status = 'pending' AND "
                 "contact_name = 'Maria Silva' AND contact_document = '52998224725' AND "
                 "conversation_id = '" +
                 kConversation + "'") == 1);
  CHECK(fx.count("voice_promises") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'promised' AND phone_number = "
                 "'5511987654321' AND next_attempt_at IS NULL") == 1);
  fx.reply(fx.stored(maria));  // her message arrives: she stays promised
  CHECK(fx.count("voice_campaign_targets WHERE status = 'promised'") == 1);

  // The same promise reported again, later that morning, adds nothing; the same day with an
  // amount, or another date, renegotiates.
  fx.clock.set(utc(2026, 11, 23, 13, 30));
  fx.promise(fx.tool_invoked(maria, R"("registered":true,"already_registered":true,"day":23)"));
  CHECK(fx.count("voice_promises") == 1);
  fx.promise(fx.tool_invoked(
      maria, R"("registered":true,"already_registered":true,"day":23,"amount":800)"));
  CHECK(fx.count("voice_promises WHERE status = 'pending' AND promised_amount = 80000") == 1);
  // The same day again without an amount keeps the amount promised.
  fx.promise(fx.tool_invoked(maria, R"("registered":true,"already_registered":true,"day":23)"));
  CHECK(fx.count("voice_promises WHERE status = 'pending' AND promised_amount = 80000") == 1);
  CHECK(fx.count("voice_promises WHERE status = 'renegotiated'") == 1);
  fx.promise(fx.tool_invoked(maria, R"("registered":true,"date":"2026-12-05","amount":600.5)"));
  CHECK(fx.count("voice_promises WHERE status = 'renegotiated'") == 2);
  CHECK(fx.count("voice_promises WHERE status = 'pending' AND due_date = '2026-12-05' AND "
                 "promised_amount = 60050") == 1);

  // Other tools, a failed call, another instance, a chat in no campaign: nothing.
  const auto loja = "5531987651234@s.whatsapp.net";
  fx.promise(fx.tool_invoked(loja, R"("covered":true)", "check_coverage"));
  fx.promise(fx.tool_invoked(loja, ""));
  fx.promise(fx.tool_invoked(loja, R"("registered":true,"day":3)", "register_payment_promise",
                             "outra-instancia"));
  fx.promise(fx.tool_invoked("5511912345678@s.whatsapp.net", R"("registered":true,"day":3)"));
  CHECK(fx.count("voice_promises") == 3);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'promised'") == 1);

  // Maria is sent nothing more; the others are.
  fx.clock.set(utc(2026, 11, 24, 13, 30));
  CHECK(fx.tick().sent == 2);
}

TEST_CASE(
    "a debtor who asks the assistant for no more collection messages gets none, from any "
    "campaign") {
  Fixture fx;
  const std::string first = fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto maria = "551187654321@s.whatsapp.net";  // WhatsApp's form, no ninth digit
  // A failed call, or another tool, stops nothing.
  fx.promise(fx.tool_invoked(maria, "", "register_opt_out"));
  fx.promise(fx.tool_invoked(maria, R"("covered":true)", "check_coverage"));
  CHECK(fx.count("contact_opt_outs") == 0);

  fx.clock.advance(5min);
  const auto asked = fx.tool_invoked(maria, R"("registered":true)", "register_opt_out");
  fx.promise(asked);
  fx.promise(asked);  // redelivered: nothing more
  CHECK(fx.count("contact_opt_outs WHERE phone_number = '5511987654321' AND source = "
                 "'assistant' AND conversation_id = '" +
                 kConversation + "'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'opted_out' AND phone_number = "
                 "'5511987654321' AND next_attempt_at IS NULL AND conversation_id = '" +
                 kConversation + "'") == 1);
  // Her outcome arriving late leaves her opted out.
  REQUIRE(fx.sent_open() == 3);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'opted_out'") == 1);
  // She then promises a day (the same message, or a later one): the promise is kept, and she
  // stays opted out.
  fx.promise(fx.tool_invoked(maria, R"("registered":true,"day":30)"));
  CHECK(fx.count("voice_promises WHERE phone_number = '5511987654321' AND status = 'pending' AND "
                 "due_date = '2026-11-30'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'opted_out' AND phone_number = "
                 "'5511987654321' AND next_attempt_at IS NULL") == 1);

  // A campaign made afterwards, on another instance, sends her nothing either: the scheduler
  // finds her number before it sends.
  std::string other = campaign_body(kTargets, 3, 60);
  other.replace(other.find(R"("targets":)"), 0, R"("instance":"lia-outra",)");
  const std::string second = fx.create(other);
  fx.clock.advance(61min);
  const auto report = fx.tick();
  CHECK(report.sent == 4);  // two from each campaign
  CHECK(report.opted_out == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'opted_out' AND phone_number = "
                 "'5511987654321'") == 2);
  const auto all = fx.outbox();
  const auto cmds = of_type(all, types::notification_send_text);
  CHECK(cmds.size() == 7);
  // Her only message is the one requested before she asked.
  CHECK(std::count_if(cmds.begin(), cmds.end(), [](const OutboxEvent* cmd) {
          return cmd->str("to") == "5511987654321@s.whatsapp.net";
        }) == 1);
  auto got = fx.call("GET", "/api/campaigns/" + second);
  REQUIRE(got.status == 200);
  CHECK(parse(got.body)["counts"]["opted_out"].GetInt64() == 1);  // the counts add up
  CHECK(fx.campaign_status(first) == "active");

  // The list, by number in any usual spelling: a supervisor reads it, only an admin lifts it.
  const auto listed = fx.call("GET", "/api/opt-outs/11987654321");
  REQUIRE(listed.status == 200);
  const auto doc = parse(listed.body);
  CHECK(std::string(doc["phone"].GetString()) == "5511987654321");
  CHECK(std::string(doc["source"].GetString()) == "assistant");
  CHECK(std::string(doc["conversation_id"].GetString()) == kConversation);
  CHECK(doc["opted_out_at"].IsString());
  CHECK(fx.call("GET", "/api/opt-outs/5521998765432").status == 404);
  CHECK(fx.call("GET", "/api/opt-outs/12345").status == 400);
  CHECK(fx.call("GET", "/api/opt-outs/5511987654321", {}, token(auth::Role::agent)).status == 403);
  CHECK(fx.call("DELETE", "/api/opt-outs/5511987654321").status == 403);
  CHECK(fx.call("DELETE", "/api/opt-outs/5511987654321", {}, token(auth::Role::admin)).status ==
        200);
  CHECK(fx.call("DELETE", "/api/opt-outs/5511987654321", {}, token(auth::Role::admin)).status ==
        404);
  CHECK(fx.call("GET", "/api/opt-outs/5511987654321").status == 404);
  // Lifted: her opted-out targets stay so, and a campaign made now sends to her.
  fx.create(other);
  fx.clock.advance(61min);
  REQUIRE(fx.sent_open() > 0);
  const auto after = fx.tick();
  CHECK(after.opted_out == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'opted_out'") == 2);
  CHECK(fx.count("message_attempts a JOIN " + fx.schema +
                 ".voice_campaign_targets t ON t.id = a.target_id WHERE t.phone_number = "
                 "'5511987654321' AND t.status = 'pending'") == 1);
}

TEST_CASE("a promised day of the month is this month's if still to come, else next month's") {
  const auto at = [](int y, unsigned m, unsigned d, int h) { return utc(y, m, d, h, 0); };
  const std::chrono::minutes sp{-180};
  CHECK(promised_due_date(20, at(2026, 11, 23, 13), sp) == "2026-12-20");
  CHECK(promised_due_date(23, at(2026, 11, 23, 13), sp) == "2026-11-23");  // today counts
  CHECK(promised_due_date(25, at(2026, 11, 23, 13), sp) == "2026-11-25");
  // 01:00 UTC on the 24th is still the 23rd in São Paulo.
  CHECK(promised_due_date(23, at(2026, 11, 24, 1), sp) == "2026-11-23");
  // The 31st of a 30-day month is its last day; a day gone in December is January's.
  CHECK(promised_due_date(31, at(2026, 11, 23, 13), sp) == "2026-11-30");
  CHECK(promised_due_date(10, at(2026, 12, 23, 13), sp) == "2027-01-10");
  CHECK(promised_due_date(30, at(2027, 2, 1, 13), sp) == "2027-02-28");
}

TEST_CASE("a debtor who answers after a message whose outcome is unknown is chased no more") {
  Fixture fx;
  const auto first = first_round(fx);
  const auto& cmds = first.sends;
  // The provider took the request and never answered: it most likely reached Maria.
  fx.outcome(types::notification_message_failed, *cmds[0],
             R"(,"reason":"outcome unknown: no answer","code":"outcome_unknown")");
  REQUIRE(fx.sent_open() == 2);
  fx.clock.advance(1min);
  fx.reply(fx.stored("5511987654321@s.whatsapp.net"));
  CHECK(fx.count("voice_campaign_targets WHERE status = 'responded' AND phone_number = "
                 "'5511987654321'") == 1);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
}

TEST_CASE("an earlier attempt failing late leaves its target to the last attempt's outcome") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 2, 60));
  REQUIRE(fx.tick().sent == 3);
  // No outcome within the spacing: the next attempts wait for it.
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 0);
  // A day on, the first ones are past their window (their outcomes were lost, say): the
  // second and last attempts go.
  fx.clock.advance(24h);
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  const auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 6);
  const std::string dead =
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")";
  // The first attempts give up now: each target's last attempt is still on its way.
  for (int i = 0; i < 3; ++i) fx.outcome(types::notification_message_dead_lettered, *cmds[i], dead);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted'") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 2") == 3);
  // Then: one is refused for its content (exhausted), one is sent (contacted), one reached the
  // debtor only after the window closed (expired: given back, to be made again).
  fx.outcome(types::notification_message_failed, *cmds[3], kMessageRefused);
  fx.outcome(types::notification_message_sent, *cmds[4], R"(,"provider_message_id":"3EB0B")");
  fx.outcome(types::notification_message_failed, *cmds[5],
             R"(,"reason":"expired: not_after passed","code":"expired")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted' AND phone_number = "
                 "'5511987654321'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND phone_number = "
                 "'5521998765432'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 1 AND "
                 "phone_number = '5531987651234'") == 1);
  CHECK(fx.tick().sent == 1);
}

TEST_CASE(
    "the last attempt failing before an earlier one's late undelivered tick leaves the target "
    "exhausted") {
  Fixture fx;
  fx.create(campaign_body(
      R"([{"name":"Maria Silva","phone":"+55 11 98765-4321","debt_amount":10,"due_date":"2026-11-30"}])",
      2, 60));
  REQUIRE(fx.tick().sent == 1);
  auto sent = fx.outbox();  // of_type points into it
  auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 1);
  fx.outcome(types::notification_message_sent, *cmds[0], R"(,"provider_message_id":"wamid.X1")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 1);
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 1);  // the last attempt
  sent = fx.outbox();
  cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 2);
  // The last attempt is refused for its content...
  fx.outcome(types::notification_message_failed, *cmds[1], kMessageRefused);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 1);  // X1 was sent
  // ...then the first one's delivery fails late: nothing reached the debtor, nothing is left
  // to try, and nothing is on its way.
  fx.outcome(types::notification_message_undelivered, *cmds[0],
             R"(,"provider_message_id":"wamid.X1","reason":"not delivered: instance closed")");
  CHECK(fx.count("voice_campaign_targets WHERE status = 'exhausted'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending'") == 0);
}

TEST_CASE("a campaign's completion waits for an expiry giving an attempt back") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(
      R"([{"name":"Maria Silva","phone":"+55 11 98765-4321","debt_amount":10,"due_date":"2026-11-30"}])",
      2, 60));
  REQUIRE(fx.tick().sent == 1);
  REQUIRE(fx.sent_open() == 1);
  fx.clock.advance(61min);
  REQUIRE(fx.tick().sent == 1);  // the last attempt: nothing is left to send
  const std::string q = pg::quote_ident(fx.schema);
  // As between that batch's commit and the tick's completion check.
  REQUIRE(
      fx.pool->exec("UPDATE " + q + ".voice_campaigns SET status = 'active', completed_at = NULL")
          .ok());
  // An expiry being recorded (handlers.cpp): its target given its attempt back, the campaign's
  // row locked, not committed yet.
  testing::HeldTransaction expiry(*fx.pool, [&](pg::Tx& tx) -> core::Status {
    auto give_back =
        tx.exec("UPDATE " + q + ".voice_campaign_targets SET attempt_count = attempt_count - 1");
    if (!give_back) return give_back.error();
    auto lock = tx.exec("SELECT 1 FROM " + q + ".voice_campaigns FOR NO KEY UPDATE");
    if (!lock) return lock.error();
    return {};
  });
  // 21:00 in São Paulo: no sending, only the completion check.
  fx.clock.set(utc(2026, 11, 24, 0, 0));
  core::Result<TickReport> report = core::Error(core::Errc::internal, "not run");
  std::thread ticker([&] { report = fx.scheduler->tick(); });
  // Until the tick waits for the expiry's row lock.
  const bool waited = testing::wait_until([&] { return expiry.waiters() > 0; }, 10s, 10ms);
  CHECK(expiry.release().ok());
  ticker.join();
  CHECK(waited);
  REQUIRE(report.ok());
  CHECK(report->completed == 0);
  CHECK(fx.campaign_status(id) == "active");
  CHECK(fx.count("voice_campaign_targets WHERE attempt_count = 1") == 1);
}

TEST_CASE("the reply consumer decodes only inbound message.stored records") {
  Fixture fx;
  kafka::Message other;
  other.topic = "conversation.events.v1";
  other.value = "{broken";
  other.headers = {{"lia.event_type", std::string(types::conversation_resolved)}};
  CHECK(fx.replies->handle(other).ok());
  other.headers = {{"lia.event_type", std::string(types::conversation_message_stored)}};
  other.value = R"({"broken":"outbound")";
  CHECK(fx.replies->handle(other).ok());
  other.value = R"({"broken":"inbound")";
  auto st = fx.replies->handle(other);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
}

TEST_CASE("an expired message keeps its target's status and is sent again in the next window") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(kTargets, 2, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto before = fx.outbox();
  const auto first = of_type(before, types::notification_send_text);
  REQUIRE(first.size() == 3);
  fx.outcome(types::notification_message_sent, *first[0], R"(,"provider_message_id":"3EB0A")");
  fx.outcome(types::notification_message_failed, *first[1], kMessageRefused);
  fx.outcome(types::notification_message_failed, *first[2], kMessageRefused);

  // 19:30 in São Paulo: the last attempts, to be sent by 20:00; the campaign is completed.
  fx.clock.set(utc(2026, 11, 23, 22, 30));
  auto last = fx.tick();
  REQUIRE(last.sent == 3);
  CHECK(last.completed == 1);
  const auto all = fx.outbox();
  const auto cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 6);
  const std::vector<const OutboxEvent*> second(cmds.begin() + 3, cmds.end());
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(second[i]->str("to") == first[i]->str("to"));
    CHECK(second[i]->str("not_after") == "2026-11-23T23:00:00.000Z");
  }

  // notification reached them after 20:00: expired, not refused. The third as an older
  // notification reports it, with the reason alone.
  fx.clock.set(utc(2026, 11, 23, 23, 5));
  const std::string expired = R"(,"reason":"expired: not_after 2026-11-23T23:00:00.000Z passed")";
  fx.outcome(types::notification_message_failed, *second[0], expired + R"(,"code":"expired")");
  fx.outcome(types::notification_message_failed, *second[1], expired + R"(,"code":"expired")");
  fx.outcome(types::notification_message_failed, *second[2], expired);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND attempt_count = 1") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 1") == 2);
  CHECK(fx.count("voice_campaign_targets WHERE last_error LIKE 'expired:%' AND next_attempt_at "
                 "IS NOT NULL") == 3);
  CHECK(fx.count("message_attempts WHERE outcome = 'expired'") == 3);
  CHECK(fx.campaign_status(id) == "active");

  // Nothing after hours; the next morning the same attempts again, in that day's window.
  auto night = fx.tick();
  CHECK(night.waiting == 1);
  CHECK(night.sent == 0);
  fx.clock.set(utc(2026, 11, 24, 11, 0));
  auto morning = fx.tick();
  CHECK(morning.sent == 3);
  CHECK(morning.completed == 1);
  const auto after = fx.outbox();
  const auto again = of_type(after, types::collections_message_requested);
  REQUIRE(again.size() == 9);
  for (std::size_t i = 6; i < 9; ++i) CHECK(again[i]->data["attempt"].GetInt() == 2);
  const auto resent = of_type(after, types::notification_send_text);
  CHECK(resent.back()->str("not_after") == "2026-11-24T23:00:00.000Z");
  CHECK(fx.count("message_attempts WHERE attempt = 2") == 6);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 1);
}

TEST_CASE("a campaign the tick reaches after its window closed sends nothing") {
  Fixture fx;
  fx.clock.set(utc(2026, 11, 23, 22, 50));  // 19:50 in São Paulo
  fx.create();
  fx.create();
  // The window closes while the tick runs: once the first campaign's batch is committed.
  HookClock slow(fx.clock);
  bool closed = false;
  slow.on_read = [&] {
    if (!closed && committed_attempts(fx) > 0) {
      closed = true;
      fx.clock.set(utc(2026, 11, 23, 23, 5));
    }
  };
  Scheduler late(fx.pool, fx.schema, fx.settings, slow);
  auto r = late.tick();
  REQUIRE(r.ok());
  CHECK(closed);
  CHECK(r->sent == 3);
  CHECK(r->waiting == 1);
  const auto out = fx.outbox();
  const auto reqs = of_type(out, types::collections_message_requested);
  REQUIRE(reqs.size() == 3);
  for (const auto* e : reqs) CHECK(e->str("campaign_id") == reqs[0]->str("campaign_id"));
}

TEST_CASE("a redelivered notification event changes nothing") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 1, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  auto cmds = of_type(sent, types::notification_send_text);
  const auto ev = fx.outcome_event(types::notification_message_sent, *cmds[0],
                                   R"(,"provider_message_id":"3EB0ABC")");
  fx.deliver(ev);
  fx.clock.advance(5min);
  fx.deliver(ev);  // the same event (same id) again
  CHECK(fx.count("message_attempts WHERE outcome = 'sent' AND outcome_at = "
                 "'2026-11-23T13:00:00Z'") == 1);
  CHECK(fx.count("message_attempts WHERE outcome IS NOT NULL") == 1);
}

TEST_CASE(
    "database trouble is a retryable error that changes nothing, and each outcome applies once "
    "when the database is back") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 1, 60));
  REQUIRE(fx.tick().sent == 3);
  const auto sent = fx.outbox();
  auto cmds = of_type(sent, types::notification_send_text);
  REQUIRE(cmds.size() == 3);
  // Each outcome as notification's relay publishes it: the type and command source headers.
  const auto record = [](const events::CloudEvent& ev) {
    kafka::Message m;
    m.topic = std::string(events::topics::notification_events);
    m.value = events::encode(ev);
    m.headers.push_back({"lia.event_type", ev.type});
    m.headers.push_back(
        {std::string(events::headers::command_source), events::source_for("collections")});
    return m;
  };
  const std::vector<kafka::Message> records = {
      record(fx.outcome_event(types::notification_message_sent, *cmds[0],
                              R"(,"provider_message_id":"3EB0DOWN")")),
      record(fx.outcome_event(
          types::notification_message_failed, *cmds[1],
          R"(,"reason":"recipient is not a WhatsApp user","code":"not_on_whatsapp","http_status":400)")),
      record(fx.outcome_event(
          types::notification_message_dead_lettered, *cmds[2],
          R"(,"reason":"provider unavailable: HTTP 503","dlq_topic":"notification.commands.v1.dlq")"))};

  // The partition must wait and retry in place: a non-retryable error would dead-letter the
  // outcome and the target would never learn it.
  NotificationHandler down(lia::testing::unreachable_pool(), fx.schema, fx.clock);
  for (const auto& m : records) {
    INFO(*m.header("lia.event_type"));
    auto st = down.handle(m);
    REQUIRE_FALSE(st.ok());
    INFO(st.error().describe());
    CHECK(st.error().retryable());
  }
  CHECK(fx.count("message_attempts WHERE outcome IS NOT NULL") == 0);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending'") == 3);
  CHECK(fx.count("inbox") == 0);
  CHECK(fx.outbox().size() == sent.size());

  // The database back: each outcome applies, and handled once more, changes nothing.
  for (const auto& m : records) {
    INFO(*m.header("lia.event_type"));
    auto st = fx.handler->handle(m);
    if (!st) FAIL(st.error().describe());
  }
  fx.clock.advance(5min);
  for (const auto& m : records) CHECK(fx.handler->handle(m).ok());
  CHECK(fx.count("message_attempts WHERE outcome IS NOT NULL AND outcome_at = "
                 "'2026-11-23T13:00:00Z'") == 3);
  CHECK(fx.count("message_attempts WHERE outcome = 'sent' AND provider_message_id = '3EB0DOWN'") ==
        1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted'") == 1);
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed'") == 1);
  // (the dead letter's attempt given back once, however often its outcome came)
  CHECK(fx.count("voice_campaign_targets WHERE status = 'pending' AND attempt_count = 0") == 1);
  CHECK(fx.count("voice_campaigns WHERE failures_in_a_row = 1") == 1);
  CHECK(fx.outbox().size() == sent.size());
}

TEST_CASE("with the database unreachable the campaign API answers 503 JSON") {
  Fixture fx(lia::testing::unreachable_pool());
  for (const auto& res :
       {fx.call("GET", "/api/campaigns"), fx.call("POST", "/api/campaigns", campaign_body()),
        // a token the desk users do not cover: the route's own query
        fx.call("GET", "/api/campaigns", {}, token(auth::Role::supervisor, "service-token"))}) {
    INFO(res.body);
    CHECK(res.status == 503);
    const auto* type = res.header("Content-Type");
    CHECK((type != nullptr && type->find("application/json") != std::string::npos));
    auto body = parse(res.body);
    REQUIRE(body.IsObject());
    REQUIRE(body.HasMember("error"));
    CHECK(std::string(body["error"]["code"].GetString()) == "unavailable");
  }
  CHECK(fx.count("voice_campaigns") == 0);
}

TEST_CASE("a pause while a tick runs stops the campaign at the next batch") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(many_targets(250), 1, 60));
  HookClock hook(fx.clock);
  int paused = 0;
  hook.on_read = [&] {
    if (paused == 0 && committed_attempts(fx) >= Scheduler::kBatch) {
      paused = fx.call("POST", "/api/campaigns/" + id + "/pause").status;
    }
  };
  // Room for every message in flight: what stops the campaign here is the pause.
  Settings roomy = fx.settings;
  roomy.max_in_flight = 1000;
  Scheduler scheduler(fx.pool, fx.schema, roomy, hook);
  auto r = scheduler.tick();
  REQUIRE(r.ok());
  CHECK(paused == 200);
  CHECK(r->sent == Scheduler::kBatch);
  CHECK(fx.count("message_attempts") == Scheduler::kBatch);
  CHECK(fx.campaign_status(id) == "paused");

  REQUIRE(fx.call("POST", "/api/campaigns/" + id + "/resume").status == 200);
  auto rest = Scheduler(fx.pool, fx.schema, roomy, fx.clock).tick();
  REQUIRE(rest.ok());
  CHECK(rest->sent == 250 - Scheduler::kBatch);
}

TEST_CASE("a message that cannot be rendered fails its target with the reason") {
  Fixture fx;
  const std::string id = fx.create();
  REQUIRE(fx.pool
              ->exec("UPDATE " + pg::quote_ident(fx.schema) +
                         ".voice_campaigns SET template = 'Olá {{name}}, contrato {{contrato}}' "
                         "WHERE id = $1",
                     id)
              .ok());
  auto r = fx.tick();
  CHECK(r.sent == 0);
  CHECK(r.failed == 3);
  CHECK(
      fx.count("voice_campaign_targets WHERE status = 'failed' AND last_error LIKE '%contrato%'") ==
      3);
  CHECK(fx.outbox().empty());
  CHECK(r.completed == 1);
}

TEST_CASE("two schedulers ticking at once send each target once") {
  Fixture fx;
  fx.create(campaign_body(many_targets(40), 1, 60));
  Scheduler other(fx.pool, fx.schema, fx.settings, fx.clock);
  int sent_a = 0, sent_b = 0;
  std::thread a([&] {
    auto r = fx.scheduler->tick();
    if (r) sent_a = r->sent;
  });
  std::thread b([&] {
    auto r = other.tick();
    if (r) sent_b = r->sent;
  });
  a.join();
  b.join();
  CHECK(sent_a + sent_b == 40);
  CHECK(of_type(fx.outbox(), types::notification_send_text).size() == 40);
  CHECK(fx.count("message_attempts") == 40);
}

TEST_CASE("the scheduler thread ticks on its own and stops") {
  Fixture fx;
  fx.create();
  fx.settings.tick = 50ms;
  Scheduler background(fx.pool, fx.schema, fx.settings, fx.clock);
  background.start();
  CHECK(testing::wait_until([&] { return fx.count("message_attempts") == 3; }, 10s));
  background.stop();
  background.stop();
}

TEST_CASE("a create retried with the same Idempotency-Key answers the first campaign again") {
  Fixture fx;
  auto first = fx.create_with_key("retry-0001");
  REQUIRE(first.status == 201);
  CHECK(first.header("Idempotent-Replayed") == nullptr);
  const std::string id = parse(first.body)["id"].GetString();

  auto again = fx.create_with_key("retry-0001");
  INFO(again.body);
  REQUIRE(again.status == 201);
  CHECK(again.body == first.body);
  REQUIRE(again.header("Idempotent-Replayed") != nullptr);
  CHECK(*again.header("Idempotent-Replayed") == "true");
  REQUIRE(again.header("Location") != nullptr);
  CHECK(*again.header("Location") == "/api/campaigns/" + id);
  CHECK(fx.count("voice_campaigns") == 1);
  CHECK(fx.count("voice_campaign_targets") == 3);

  // Still the first campaign's answer once it was paused; every debtor gets one message.
  REQUIRE(fx.call("POST", "/api/campaigns/" + id + "/pause").status == 200);
  auto later = fx.create_with_key("retry-0001");
  CHECK(later.status == 201);
  CHECK(later.body == first.body);
  REQUIRE(fx.call("POST", "/api/campaigns/" + id + "/resume").status == 200);
  CHECK(fx.tick().sent == 3);
  CHECK(fx.count("message_attempts") == 3);

  // The key is the user's: another supervisor's same key is a campaign of its own.
  auto other =
      fx.create_with_key("retry-0001", campaign_body(), "0190e0a4-7b2c-7def-8123-00000000ad02");
  REQUIRE(other.status == 201);
  CHECK(other.header("Idempotent-Replayed") == nullptr);
  CHECK(std::string(parse(other.body)["id"].GetString()) != id);
  // Without a key, as before: every request creates.
  fx.create();
  fx.create();
  CHECK(fx.count("voice_campaigns") == 4);
}

TEST_CASE("an Idempotency-Key reused with a different body answers 422 and creates nothing") {
  Fixture fx;
  REQUIRE(fx.create_with_key("key-reused").status == 201);
  auto changed = fx.create_with_key("key-reused", campaign_body(kTargets, 3, 60));
  INFO(changed.body);
  REQUIRE(changed.status == 422);
  CHECK(changed.header("Idempotent-Replayed") == nullptr);
  auto err = parse(changed.body);
  CHECK(std::string(err["error"]["code"].GetString()) == "idempotency_key_reused");
  CHECK(std::string(err["error"]["message"].GetString()) ==
        "Idempotency-Key reused with a different request");
  CHECK(fx.count("voice_campaigns") == 1);
  CHECK(fx.count("voice_campaign_targets") == 3);
}

TEST_CASE("a bad Idempotency-Key answers 400 naming the header") {
  Fixture fx;
  const std::vector<std::string> bad = {"", std::string(201, 'k'), "chave-\xc3\xa9", "a\tb"};
  for (const auto& key : bad) {
    auto res = fx.create_with_key(key);
    INFO("key of " << key.size() << " bytes: " << res.body);
    REQUIRE(res.status == 400);
    auto err = parse(res.body);
    CHECK(std::string(err["error"]["code"].GetString()) == "invalid_argument");
    CHECK(std::string(err["error"]["field"].GetString()) == "Idempotency-Key");
  }
  auto twice = fx.call("POST", "/api/campaigns", campaign_body(), token(auth::Role::supervisor),
                       {{"Idempotency-Key", "one"}, {"Idempotency-Key", "two"}});
  CHECK(twice.status == 400);
  CHECK(fx.count("voice_campaigns") == 0);
  // 200 printable characters, spaces and symbols included, are a key.
  CHECK(fx.create_with_key(std::string(199, '~') + "!").status == 201);
  CHECK(fx.create_with_key("pedido 42 / lote #7").status == 201);
  CHECK(fx.count("voice_campaigns") == 2);
}

TEST_CASE("two creates racing with the same Idempotency-Key make one campaign") {
  Fixture fx;
  const std::string body = campaign_body(many_targets(500), 1, 60);
  for (int round = 0; round < 5; ++round) {
    const std::string key = "race-" + std::to_string(round);
    http::ClientResponse a, b;
    auto send = [&](http::ClientResponse& out) {
      http::Client client;
      http::ClientRequest req;
      req.method = "POST";
      req.url = "http://127.0.0.1:" + std::to_string(fx.server->port()) + "/api/campaigns";
      req.headers.add("Authorization", token(auth::Role::supervisor));
      req.headers.add("Content-Type", "application/json");
      req.headers.add("Idempotency-Key", key);
      req.body = body;
      if (auto res = client.request(req)) out = std::move(*res);
    };
    std::thread ta([&] { send(a); });
    std::thread tb([&] { send(b); });
    ta.join();
    tb.join();
    INFO("round " << round << ": " << a.status << " " << a.body << " / " << b.status << " "
                  << b.body);
    REQUIRE(a.status == 201);
    REQUIRE(b.status == 201);
    CHECK(a.body == b.body);
    CHECK((a.header("Idempotent-Replayed") == nullptr) !=
          (b.header("Idempotent-Replayed") == nullptr));
  }
  CHECK(fx.count("voice_campaigns") == 5);
  CHECK(fx.count("voice_campaign_targets") == 2500);  // 5 rounds of 500
}

TEST_CASE("a supervisor deactivated or demoted in conversation loses the campaign API at once") {
  Fixture fx;
  runtime::DeskUsers users(fx.pool, fx.schema);
  auto upserted = [&](const std::string& role, bool active, const std::string& at,
                      const std::string& valid_from = {}) {
    return users.apply(supervisor_upserted(role, active, at, valid_from));
  };
  // Not heard of yet: the token decides.
  CHECK(fx.call("GET", "/api/campaigns").status == 200);
  REQUIRE(upserted("SUPERVISOR", true, "2026-11-23T10:00:00Z").ok());
  CHECK(fx.call("GET", "/api/campaigns").status == 200);
  // Deactivated: 401 with the same token; demoted to AGENT: 403.
  REQUIRE(upserted("SUPERVISOR", false, "2026-11-23T11:00:00Z").ok());
  auto off = fx.call("POST", "/api/campaigns", campaign_body());
  CHECK(off.status == 401);
  CHECK(std::string(parse(off.body)["error"]["message"].GetString()) == "user is inactive");
  REQUIRE(upserted("AGENT", true, "2026-11-23T12:00:00Z").ok());
  CHECK(fx.call("POST", "/api/campaigns", campaign_body()).status == 403);
  // An older update arriving late (a replay) changes nothing.
  REQUIRE(upserted("SUPERVISOR", true, "2026-11-23T10:30:00Z").ok());
  CHECK(fx.call("GET", "/api/campaigns").status == 403);
  CHECK(fx.count("voice_campaigns") == 0);
  // Promoted back: allowed again. Another user's token is not affected by this one.
  REQUIRE(upserted("ADMIN", true, "2026-11-23T13:00:00Z").ok());
  CHECK(fx.call("GET", "/api/campaigns").status == 200);
  CHECK(fx.call("GET", "/api/campaigns", {}, token(auth::Role::supervisor, core::Uuid::v7().str()))
            .status == 200);
  // A malformed user.upserted is refused for good (dead-lettered), not retried.
  kafka::Message bad;
  bad.topic = "users.v1";
  bad.value = events::encode(events::make_event(events::types::user_upserted, 1,
                                                "/lia/conversation", "", R"({"user_id":"x"})"));
  auto st = users.apply(bad);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().retryable());
  auto bad_time = upserted("ADMIN", true, "2026-11-23T14:00:00Z", "yesterday");
  REQUIRE_FALSE(bad_time.ok());
  CHECK_FALSE(bad_time.error().retryable());
}

TEST_CASE("a token issued before its user's last deactivation stays refused after a reactivation") {
  Fixture fx;
  runtime::DeskUsers users(fx.pool, fx.schema);
  const std::string old_token = token(auth::Role::supervisor);  // issued now (the real clock)
  auto upserted = [&](bool active, const std::string& at, const std::string& valid_from) {
    const auto st = users.apply(supervisor_upserted("SUPERVISOR", active, at, valid_from));
    if (!st) FAIL(st.error().describe());
  };
  const auto in_ms = [](std::chrono::milliseconds d) {
    return core::format_rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now() + d));
  };
  // Deactivated a second after the token was issued, then active again.
  const std::string deactivated = in_ms(1500ms);
  upserted(false, deactivated, deactivated);
  upserted(true, in_ms(2000ms), deactivated);
  auto refused = fx.call("GET", "/api/campaigns", {}, old_token);
  CHECK(refused.status == 401);
  CHECK(std::string(parse(refused.body)["error"]["message"].GetString()) ==
        "token was issued before the user was deactivated; log in again");
  // An update from a producer that does not carry the date (an older conversation) keeps it.
  upserted(true, in_ms(2500ms), {});
  CHECK(fx.call("GET", "/api/campaigns", {}, old_token).status == 401);
  // A token issued after it (conversation's login dates iat past the deactivation) works.
  auth::Claims fresh;
  fresh.subject = kSupervisor;
  fresh.username = "supervisora";
  fresh.role = auth::Role::supervisor;
  fresh.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch() + 3s)
                        .count();
  fresh.expires_at = fresh.issued_at + 600;
  CHECK(fx.call("GET", "/api/campaigns", {}, "Bearer " + auth::sign_jwt(fresh, kSecret)).status ==
        200);
  // Another user's token is not affected.
  CHECK(fx.call("GET", "/api/campaigns", {}, token(auth::Role::supervisor, core::Uuid::v7().str()))
            .status == 200);
}

TEST_CASE("the collections migrations can be reverted and applied again") {
  Fixture fx;
  pg::Migrator m(fx.pool, fx.schema, "collections", migrations());
  auto down = m.down(0);
  REQUIRE(down.ok());
  auto up = m.up();
  REQUIRE(up.ok());
  CHECK(fx.count("collection_settings") == 1);
  CHECK(fx.create_with_key("after-migrations").status == 201);
  CHECK(fx.create_with_key("after-migrations").status == 201);
  CHECK(fx.count("voice_campaigns") == 1);
}

TEST_CASE("reverting 0011 after a given-back attempt keeps its row, as an expired one") {
  Fixture fx;
  fx.create(campaign_body(many_targets(1), 2, 60));
  REQUIRE(fx.tick().sent == 1);
  const auto all = fx.outbox();
  const auto cmds = of_type(all, types::notification_send_text);
  REQUIRE(cmds.size() == 1);
  fx.outcome(
      types::notification_message_dead_lettered, *cmds[0],
      R"(,"reason":"gave up after 6 tries: HTTP 503","dlq_topic":"notification.commands.v1.dlq")");
  fx.clock.advance(31min);
  REQUIRE(fx.tick().sent == 1);  // made again under the same number
  REQUIRE(fx.count("message_attempts WHERE attempt = 1") == 2);
  pg::Migrator m(fx.pool, fx.schema, "collections", migrations());
  // The version before 0011 knew one row per attempt, expired ones aside (they were made again
  // the same way): the given-back row goes back as one.
  REQUIRE(m.down(10).ok());
  CHECK(fx.count("message_attempts WHERE attempt = 1 AND outcome = 'expired'") == 1);
  CHECK(fx.count("message_attempts WHERE attempt = 1 AND outcome IS NULL") == 1);
  REQUIRE(m.up().ok());
  CHECK(fx.count("message_attempts WHERE attempt = 1") == 2);
}

TEST_CASE("reverting 0013 leaves a debtor who opted out failed, sent nothing more") {
  Fixture fx;
  fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  REQUIRE(fx.sent_open() == 3);
  fx.promise(
      fx.tool_invoked("5511987654321@s.whatsapp.net", R"("registered":true)", "register_opt_out"));
  REQUIRE(fx.count("voice_campaign_targets WHERE status = 'opted_out'") == 1);
  pg::Migrator m(fx.pool, fx.schema, "collections", migrations());
  REQUIRE(m.down(12).ok());
  CHECK(fx.count("voice_campaign_targets WHERE status = 'failed' AND next_attempt_at IS NULL "
                 "AND phone_number = '5511987654321' AND last_error LIKE '%no more collection%'") ==
        1);
  REQUIRE(m.up().ok());
  CHECK(fx.count("contact_opt_outs") == 0);
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 2);
}

TEST_CASE("reverting 0005 leaves a debtor who answered contacted, owed nothing more") {
  Fixture fx;
  const std::string id = fx.create(campaign_body(kTargets, 3, 60));
  REQUIRE(fx.tick().sent == 3);
  REQUIRE(fx.sent_open() == 3);
  fx.clock.advance(1min);
  fx.reply(fx.stored("5511987654321@s.whatsapp.net"));
  REQUIRE(fx.count("voice_campaign_targets WHERE status = 'responded'") == 1);
  pg::Migrator m(fx.pool, fx.schema, "collections", migrations());
  REQUIRE(m.down(4).ok());  // 0007, 0006 and 0005 undone
  CHECK(fx.count("voice_campaign_targets WHERE status = 'contacted' AND attempt_count = 3 AND "
                 "phone_number = '5511987654321'") == 1);
  // Up again (this build's scheduler reads 0006's column): the debtor stays owed nothing, the
  // other two run out their attempts and the campaign completes.
  REQUIRE(m.up().ok());
  for (int i = 0; i < 2; ++i) {
    fx.clock.advance(61min);
    CHECK(fx.tick().sent == 2);
    REQUIRE(fx.sent_open() == 2);
  }
  fx.clock.advance(61min);
  CHECK(fx.tick().sent == 0);
  CHECK(fx.campaign_status(id) == "completed");
}
