// The REST API through a real HTTP server on an ephemeral port, against a real PostgreSQL.
#include <future>
#include <thread>

#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/pg/batch.hpp>
#include <lia/testing/pg.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::conversation;
using namespace lia::conversation::test;

namespace {

http::Router routes(Api& api) {
  http::Router r;
  api.add_routes(r);
  return r;
}

// World + the API served on port 0; with `api_pool`, the served API uses that pool instead
// of the world's (e.g. one whose database is unreachable), with `config`, that configuration.
class Desk : public World {
 public:
  explicit Desk(std::shared_ptr<pg::Pool> api_pool = nullptr,
                const std::optional<ApiConfig>& config = std::nullopt)
      : served_(api_pool || config
                    ? std::make_unique<Api>(api_pool ? std::move(api_pool) : pool_ptr(), schema(),
                                            config.value_or(test_api_config()))
                    : nullptr),
        server_(http::ServerOptions{.address = "127.0.0.1", .port = 0},
                routes(served_ ? *served_ : api())) {
    auto st = server_.start();
    if (!st) FAIL(st.error().message());
    base_ = "http://127.0.0.1:" + std::to_string(server_.port());
  }
  ~Desk() { server_.stop(std::chrono::seconds{2}); }

  struct Reply {
    int status = 0;
    json::Document body;
    std::string raw;
    http::Headers headers;
  };

  Reply call(const std::string& method, const std::string& path, const std::string& body = {},
             const std::optional<std::string>& token = std::nullopt,
             const http::Headers& extra = {}) {
    http::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    if (!body.empty()) req.headers.add("Content-Type", "application/json");
    if (token) req.headers.add("Authorization", "Bearer " + *token);
    for (const auto& h : extra) req.headers.add(h.name, h.value);
    auto res = client_.request(req);
    if (!res) FAIL(method << " " << path << ": " << res.error().message());
    Reply r;
    r.status = res->status;
    r.raw = res->body;
    r.headers = res->headers;
    auto d = json::parse(res->body);
    if (!d) FAIL(method << " " << path << " answered non-JSON: " << res->body);
    r.body = std::move(*d);
    return r;
  }

  std::string login(const std::string& username, const std::string& password = "password123") {
    auto r = call("POST", "/api/auth/login",
                  R"({"username":")" + username + R"(","password":")" + password + R"("})");
    INFO(r.raw);
    REQUIRE(r.status == 200);
    return r.body["token"].GetString();
  }

  // An inbound message on a new chat; returns {phone, conversation id}.
  std::pair<std::string, std::string> chat(const std::string& text = "Oi") {
    const auto p = phone();
    apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "IN-" + p, text)));
    auto id = this->text("SELECT id::text FROM " + t("conversations") + " WHERE chat_id = '" +
                         jid(p) + "'");
    REQUIRE(id);
    return {p, *id};
  }

  std::string column(const std::string& table, const std::string& col, const std::string& id) {
    return text("SELECT " + col + "::text FROM " + t(table) + " WHERE id = '" + id + "'")
        .value_or("<null>");
  }

 private:
  std::unique_ptr<Api> served_;
  http::Server server_;
  http::Client client_;
  std::string base_;
};

std::string error_message(const Desk::Reply& r) {
  REQUIRE(r.body.IsObject());
  REQUIRE(r.body.HasMember("error"));
  return r.body["error"]["message"].GetString();
}

// Opens an engagement event's data: `survey` and the chat of conversation `conv`, whose
// customer is `phone`.
json::Writer& open_survey_event(json::Writer& s, Desk& d, const std::string& survey,
                                const std::string& conv, const std::string& phone) {
  return s.begin_object()
      .field("survey_id", survey)
      .field("conversation_id", conv)
      .field("contact_id", d.column("conversations", "contact_id", conv))
      .field("provider", "evolution")
      .field("instance", instance())
      .field("chat_id", jid(phone));
}

}  // namespace

TEST_CASE("login: a token for the right password, 401 JSON for a wrong one") {
  Desk d;
  const auto id = d.user("maria", auth::Role::agent, {"support"});
  auto ok = d.call("POST", "/api/auth/login", R"({"username":"maria","password":"password123"})");
  REQUIRE(ok.status == 200);
  CHECK(ok.body["user"]["id"] == id.c_str());
  CHECK(ok.body["user"]["role"] == "AGENT");
  CHECK_FALSE(ok.body["user"].HasMember("password_hash"));
  auto claims = auth::verify_jwt(ok.body["token"].GetString(), secret());
  REQUIRE(claims.ok());
  CHECK(claims->subject == id);
  CHECK(claims->role == auth::Role::agent);
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'login' AND user_id = '" + id + "'") == 1);
  CHECK(d.column("users", "last_login_at", id) != "<null>");

  auto wrong = d.call("POST", "/api/auth/login", R"({"username":"maria","password":"nope-nope"})");
  CHECK(wrong.status == 401);
  CHECK(wrong.body["error"]["code"] == "unauthorized");
  auto nobody =
      d.call("POST", "/api/auth/login", R"({"username":"ghost","password":"password123"})");
  CHECK(nobody.status == 401);
  CHECK(error_message(nobody) == error_message(wrong));  // no hint whether the user exists
  auto missing = d.call("POST", "/api/auth/login", R"({"username":"maria"})");
  CHECK(missing.status == 400);
  CHECK(error_message(missing).find("'password'") != std::string::npos);
  // A User-Agent that is not UTF-8 (a Latin-1 é) is kept with that byte replaced.
  auto latin1 =
      d.call("POST", "/api/auth/login", R"({"username":"maria","password":"password123"})",
             std::nullopt, {{"User-Agent", "Navegador \xE9"}});
  INFO(latin1.raw);
  CHECK(latin1.status == 200);
  CHECK(d.text("SELECT user_agent FROM " + d.t("activity_logs") + " WHERE user_id = '" + id +
               "' ORDER BY created_at DESC, id DESC LIMIT 1") == "Navegador \xEF\xBF\xBD");

  REQUIRE(d.pool()
              .exec("UPDATE " + d.t("users") + " SET status = 'INACTIVE' WHERE id = '" + id + "'")
              .ok());
  CHECK(d.call("POST", "/api/auth/login", R"({"username":"maria","password":"password123"})")
            .status == 403);
}

TEST_CASE("a login stores its password hashed again when the rounds or the scheme changed") {
  ApiConfig more = test_api_config();
  more.password_iterations = kTestPasswordIterations + 1000;
  Desk d(nullptr, more);
  const auto id = d.user("maria", auth::Role::agent, {"support"});  // kTestPasswordIterations
  const auto stored = [&] {
    return d.text("SELECT password_hash FROM " + d.t("users") + " WHERE id = '" + id + "'")
        .value_or("");
  };
  const auto before = stored();
  const std::string login = R"({"username":"maria","password":"password123"})";
  // A wrong password leaves the hash alone.
  REQUIRE(
      d.call("POST", "/api/auth/login", R"({"username":"maria","password":"nope-nope"})").status ==
      401);
  CHECK(stored() == before);
  REQUIRE(d.call("POST", "/api/auth/login", login).status == 200);
  const auto after = stored();
  CHECK(after.rfind("pbkdf2_sha512$" + std::to_string(more.password_iterations) + "$", 0) == 0);
  CHECK(auth::verify_password("password123", after));
  // Hashed with the rounds asked for: the next login keeps it.
  REQUIRE(d.call("POST", "/api/auth/login", login).status == 200);
  CHECK(stored() == after);
  // A hash of the older scheme (PBKDF2-HMAC-SHA256, from Python's hashlib) still logs in,
  // and is replaced by one of the current scheme.
  REQUIRE(d.pool()
              .exec("UPDATE " + d.t("users") +
                    " SET password_hash = 'pbkdf2_sha256$1000$c2FsIGRlIGNvemluaGEhIQ$"
                    "CjaK3d6WAYmkOLTOctEy2nKpRJTE-r9xktmX6DZU2Sk' WHERE id = '" +
                    id + "'")
              .ok());
  REQUIRE(d.call("POST", "/api/auth/login", R"({"username":"maria","password":"s3nha-forte"})")
              .status == 200);
  CHECK(stored().rfind("pbkdf2_sha512$", 0) == 0);
  CHECK(auth::verify_password("s3nha-forte", stored()));
}

TEST_CASE("a login finding every password check slot taken is 503 busy, and not counted") {
  ApiConfig none = test_api_config();
  none.password_checks = 0;  // as if other logins held every slot
  Desk d(nullptr, none);
  d.user("ana", auth::Role::agent);
  // Eight in a row: were they counted as failed tries, the sixth would be 429.
  for (int i = 0; i < 8; ++i) {
    auto r = d.call("POST", "/api/auth/login", R"({"username":"ana","password":"wrong-one"})");
    INFO(r.raw);
    REQUIRE(r.status == 503);
    CHECK(r.body["error"]["code"] == "busy");
    REQUIRE(r.headers.find("Retry-After") != nullptr);
    CHECK(*r.headers.find("Retry-After") == "1");
  }
}

TEST_CASE("five wrong passwords lock the username for a while, with 429 and Retry-After") {
  Desk d;
  d.user("maria", auth::Role::agent, {"support"});
  d.user("joao", auth::Role::agent, {"support"});
  for (int i = 0; i < 5; ++i) {
    CHECK(d.call("POST", "/api/auth/login", R"({"username":"maria","password":"wrong-one"})")
              .status == 401);
  }
  // Even the right password waits now, and no password is checked meanwhile.
  auto locked =
      d.call("POST", "/api/auth/login", R"({"username":"Maria","password":"password123"})");
  CHECK(locked.status == 429);
  CHECK(locked.body["error"]["code"] == "too_many_attempts");
  REQUIRE(locked.headers.find("Retry-After") != nullptr);
  const int wait = std::stoi(*locked.headers.find("Retry-After"));
  CHECK(wait > 0);
  CHECK(wait <= 15 * 60);
  // Other users are not affected; nor is a name nobody has, until it fails five times too.
  CHECK(
      d.call("POST", "/api/auth/login", R"({"username":"joao","password":"password123"})").status ==
      200);
  for (int i = 0; i < 5; ++i) {
    CHECK(d.call("POST", "/api/auth/login", R"({"username":"ghost","password":"x12345678"})")
              .status == 401);
  }
  CHECK(
      d.call("POST", "/api/auth/login", R"({"username":"ghost","password":"x12345678"})").status ==
      429);
}

TEST_CASE("an admin changes a user's role and status, and it holds at once everywhere") {
  Desk d;
  const auto root = d.user("root", auth::Role::admin);
  const auto boss = d.user("boss", auth::Role::supervisor);
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto admin_token = d.login("root");
  const auto boss_token = d.login("boss");
  const auto ana_token = d.login("ana");
  const auto upserts_before = d.sent(types::user_upserted).size();

  // The supervisor becomes an agent of financial: their earlier token no longer transfers.
  auto demoted = d.call("PATCH", "/api/users/" + boss,
                        R"({"role":"AGENT","departments":["financeiro"]})", admin_token);
  INFO(demoted.raw);
  REQUIRE(demoted.status == 200);
  CHECK(demoted.body["role"] == "AGENT");
  CHECK(demoted.body["departments"][0] == "financial");
  CHECK(d.call("GET", "/api/users", {}, boss_token).status == 403);
  // Ana is deactivated: her token stops at once, and user.upserted tells the other services.
  auto off = d.call("PATCH", "/api/users/" + ana, R"({"status":"INACTIVE"})", admin_token);
  REQUIRE(off.status == 200);
  CHECK(off.body["status"] == "INACTIVE");
  CHECK(d.call("GET", "/api/conversations", {}, ana_token).status == 401);
  const auto upserts = d.sent(types::user_upserted);
  REQUIRE(upserts.size() == upserts_before + 2);
  CHECK(upserts.back().data["user_id"] == ana.c_str());
  CHECK(upserts.back().data["active"].IsFalse());
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'update_user' AND user_id = '" + root + "'") == 2);

  // Only an admin changes users (not a supervisor, not an agent); nobody demotes or deactivates
  // themselves; bad input is 400.
  d.user("sup", auth::Role::supervisor, {"support"});
  const auto supervisor_token = d.login("sup");
  CHECK(d.call("GET", "/api/users", {}, supervisor_token).status == 200);
  CHECK(d.call("PATCH", "/api/users/" + ana, R"({"status":"ACTIVE"})", supervisor_token).status ==
        403);
  CHECK(d.call("PATCH", "/api/users/" + ana, R"({"status":"ACTIVE"})", boss_token).status == 403);
  CHECK(d.call("PATCH", "/api/users/" + root, R"({"role":"AGENT"})", admin_token).status == 409);
  CHECK(d.call("PATCH", "/api/users/" + root, R"({"status":"INACTIVE"})", admin_token).status ==
        409);
  CHECK(
      d.call("PATCH", "/api/users/" + core::Uuid::v7().str(), R"({"status":"ACTIVE"})", admin_token)
          .status == 404);
  CHECK(d.call("PATCH", "/api/users/nope", R"({"status":"ACTIVE"})", admin_token).status == 400);
  CHECK(d.call("PATCH", "/api/users/" + ana, R"({"status":"maybe"})", admin_token).status == 400);
  // Back on: she logs in again.
  REQUIRE(d.call("PATCH", "/api/users/" + ana, R"({"status":"ACTIVE"})", admin_token).status ==
          200);
  CHECK(
      d.call("POST", "/api/auth/login", R"({"username":"ana","password":"password123"})").status ==
      200);
}

TEST_CASE("two admins demoting each other at once leave one admin, not none") {
  Desk d;
  const auto root = d.user("root", auth::Role::admin);
  const auto rita = d.user("rita", auth::Role::admin);
  const auto rita_token = d.login("rita");
  // Root's demotion of Rita is under way (its row locked, not committed) when Rita, whose
  // token still says ADMIN, demotes Root.
  lia::testing::HeldTransaction roots_change(d.pool(), [&](pg::Tx& tx) -> core::Status {
    UserUpdate agent;
    agent.role = auth::Role::agent;
    auto r = update_user(tx, d.schema(), rita, agent);
    if (!r) return r.error();
    return {};
  });
  std::optional<Desk::Reply> ritas;
  std::thread t(
      [&] { ritas = d.call("PATCH", "/api/users/" + root, R"({"role":"AGENT"})", rita_token); });
  // Rita's change waits for Root's; then Root's commits and Rita is no admin.
  const bool waited =
      lia::testing::wait_until([&] { return roots_change.waiters() >= 1; },
                               std::chrono::seconds{10}, std::chrono::milliseconds{5});
  REQUIRE(roots_change.release().ok());
  t.join();
  CHECK(waited);
  REQUIRE(ritas);
  INFO(ritas->raw);
  CHECK(ritas->status == 403);
  CHECK(d.column("users", "role", root) == "ADMIN");
  CHECK(d.column("users", "role", rita) == "AGENT");
}

TEST_CASE("of two overlapping changes to a user, the one committed last has the later version") {
  Desk d;
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  // The first change's transaction begins, then waits while a second change commits.
  std::promise<void> began;
  std::promise<void> second_done;
  std::optional<UserView> first;
  std::thread t([&] {
    auto r = pg::transact(d.pool(), [&](pg::Tx& tx) -> core::Result<UserView> {
      if (auto now = tx.exec("SELECT now()"); !now) return now.error();
      began.set_value();
      second_done.get_future().wait();
      UserUpdate off;
      off.active = false;
      return update_user(tx, d.schema(), ana, off);
    });
    if (r) first = *r;
  });
  began.get_future().wait();
  std::this_thread::sleep_for(std::chrono::milliseconds{20});
  UserUpdate deps;
  deps.departments = std::vector<std::string>{"financial"};
  auto second =
      pg::transact(d.pool(), [&](pg::Tx& tx) { return update_user(tx, d.schema(), ana, deps); });
  second_done.set_value();
  t.join();
  REQUIRE(second);
  REQUIRE(first);
  INFO(second->updated_at << " then " << first->updated_at);
  CHECK(first->updated_at > second->updated_at);  // the same RFC 3339 form: compared as text
  const auto upserts = d.sent(types::user_upserted);
  REQUIRE(upserts.size() >= 2);
  CHECK(upserts.back().data["active"].IsFalse());
  CHECK(std::string(upserts.back().data["updated_at"].GetString()) == first->updated_at);
}

TEST_CASE("a deactivated agent's open conversations go to another agent, or wait with an alert") {
  Desk d;
  d.user("root", auth::Role::admin);
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto admin_token = d.login("root");
  auto [p1, first] = d.chat("minha internet caiu");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(first, p1)));
  auto [p2, second] = d.chat("quero falar com alguém");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(second, p2)));
  auto [p3, done] = d.chat("obrigado");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(done, p3)));
  REQUIRE(d.column("conversations", "assigned_to", first) == ana);
  REQUIRE(d.column("conversations", "assigned_to", second) == ana);
  REQUIRE(d.call("POST", "/api/conversations/" + done + "/resolve", {}, d.login("ana")).status ==
          200);
  const auto bia = d.user("bia", auth::Role::agent, {"support"});
  const auto assigned_before = d.sent(types::conversation_assigned).size();

  // Ana leaves: both open conversations go to Bia, the resolved one stays Ana's.
  auto off = d.call("PATCH", "/api/users/" + ana, R"({"status":"INACTIVE"})", admin_token);
  INFO(off.raw);
  REQUIRE(off.status == 200);
  CHECK(d.column("conversations", "assigned_to", first) == bia);
  CHECK(d.column("conversations", "assigned_to", second) == bia);
  CHECK(d.column("conversations", "assigned_to", done) == ana);
  const auto assigned = d.sent(types::conversation_assigned);
  REQUIRE(assigned.size() == assigned_before + 2);
  CHECK(assigned.back().data["agent_user_id"] == bia.c_str());
  CHECK(assigned.back().data["previous_agent_user_id"] == ana.c_str());
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'update_user' AND details->>'reassigned_conversations' = '2'") ==
        1);

  // Bia leaves too, and nobody is left: they wait unassigned in the queue, with an alert each.
  REQUIRE(d.call("PATCH", "/api/users/" + bia, R"({"status":"INACTIVE"})", admin_token).status ==
          200);
  CHECK(d.column("conversations", "assigned_to", first) == "<null>");
  CHECK(d.column("conversations", "assigned_to", second) == "<null>");
  CHECK(
      d.count("SELECT count(*) FROM " + d.t("alerts") +
              " WHERE type = 'no_agent_available' AND message LIKE 'its agent was deactivated%'") ==
      2);
  CHECK(d.sent(types::conversation_assigned).size() == assigned_before + 2);
}

TEST_CASE("an admin says whether a user takes part in gamification, and users.v1 carries it") {
  Desk d;
  d.user("root", auth::Role::admin);
  const auto admin = d.login("root");
  auto created = d.call(
      "POST", "/api/users",
      R"({"username":"gerente","password":"longenough","full_name":"Gerente","role":"AGENT","participates_in_gamification":false})",
      admin);
  INFO(created.raw);
  REQUIRE(created.status == 201);
  CHECK(created.body["participates_in_gamification"].IsFalse());
  const std::string id = created.body["id"].GetString();
  auto upserts = d.sent(types::user_upserted);
  REQUIRE_FALSE(upserts.empty());
  CHECK(upserts.back().data["participates_in_gamification"].IsFalse());
  // Changed on its own; a default user takes part.
  auto on = d.call("PATCH", "/api/users/" + id, R"({"participates_in_gamification":true})", admin);
  REQUIRE(on.status == 200);
  CHECK(on.body["participates_in_gamification"].IsTrue());
  CHECK(d.sent(types::user_upserted).back().data["participates_in_gamification"].IsTrue());
  CHECK(d.call("PATCH", "/api/users/" + id, R"({"participates_in_gamification":"sim"})", admin)
            .status == 400);
  auto other =
      d.call("POST", "/api/users",
             R"({"username":"agente","password":"longenough","full_name":"Agente","role":"AGENT"})",
             admin);
  REQUIRE(other.status == 201);
  CHECK(other.body["participates_in_gamification"].IsTrue());
}

TEST_CASE("usernames are one in any case: the login takes Maria for maria, a second is 409") {
  Desk d;
  d.user("root", auth::Role::admin);
  const auto admin = d.login("root");
  auto created = d.call(
      "POST", "/api/users",
      R"({"username":"Maria.Silva","password":"longenough","full_name":"Maria","role":"AGENT"})",
      admin);
  REQUIRE(created.status == 201);
  CHECK(created.body["username"] == "Maria.Silva");  // kept as written
  // A phone's keyboard capitalises, or not: the same user.
  for (const char* name : {"maria.silva", "MARIA.SILVA", "Maria.Silva"}) {
    INFO(name);
    auto r = d.call("POST", "/api/auth/login",
                    std::string(R"({"username":")") + name + R"(","password":"longenough"})");
    REQUIRE(r.status == 200);
    CHECK(r.body["user"]["id"] == created.body["id"]);
  }
  auto twin = d.call(
      "POST", "/api/users",
      R"({"username":"maria.SILVA","password":"longenough","full_name":"Outra","role":"AGENT"})",
      admin);
  CHECK(twin.status == 409);
  // Not in a case of another alphabet that the database folds to hers (U+0130 İ, U+212A K):
  // those would count their failed tries apart from hers, more guesses than her limit.
  for (const char* name : {"MAR\u0130A.S\u0130LVA", "mar\u0130a.silva"}) {
    INFO(name);
    auto r = d.call("POST", "/api/auth/login",
                    std::string(R"({"username":")") + name + R"(","password":"longenough"})");
    CHECK(r.status == 401);
  }
  d.user("kiki", auth::Role::agent);
  auto kelvin =
      d.call("POST", "/api/auth/login", R"({"username":"\u212Aiki","password":"password123"})");
  CHECK(kelvin.status == 401);
  CHECK(
      d.call("POST", "/api/auth/login", R"({"username":"KIKI","password":"password123"})").status ==
      200);
  // Two that differ in case only, made before: each logs in under its own exact name.
  const auto lower = d.user("ana.souza", auth::Role::agent);
  const auto upper = d.user("ana.souzb", auth::Role::agent);
  REQUIRE(
      d.pool()
          .exec("UPDATE " + d.t("users") + " SET username = 'Ana.Souza' WHERE id = '" + upper + "'")
          .ok());
  for (const auto& [name, id] : {std::pair{"Ana.Souza", upper}, std::pair{"ana.souza", lower}}) {
    auto r = d.call("POST", "/api/auth/login",
                    std::string(R"({"username":")") + name + R"(","password":"password123"})");
    REQUIRE(r.status == 200);
    CHECK(r.body["user"]["id"] == id.c_str());
  }
}

TEST_CASE("users: ADMIN creates them, an AGENT gets 403, no or a bad token 401") {
  Desk d;
  d.user("root", auth::Role::admin);
  d.user("agent", auth::Role::agent);
  d.user("boss", auth::Role::supervisor);
  const auto admin = d.login("root");
  const auto agent = d.login("agent");
  const auto boss = d.login("boss");
  const std::string body =
      R"({"username":"joao","password":"longenough","full_name":"João Lima","role":"AGENT","departments":["suporte"]})";

  auto none = d.call("POST", "/api/users", body);
  CHECK(none.status == 401);
  CHECK(none.body["error"]["code"] == "unauthorized");
  REQUIRE(none.headers.find("WWW-Authenticate") != nullptr);
  CHECK(*none.headers.find("WWW-Authenticate") == "Bearer");
  CHECK(d.call("POST", "/api/users", body, std::string("not.a.jwt")).status == 401);
  const auto forged =
      auth::sign_jwt({*d.text("SELECT id::text FROM " + d.t("users") + " WHERE username = 'agent'"),
                      "agent", auth::Role::admin, 0, 4'000'000'000},
                     "another-secret-entirely");
  CHECK(d.call("POST", "/api/users", body, forged).status == 401);

  auto denied = d.call("POST", "/api/users", body, agent);
  CHECK(denied.status == 403);
  CHECK(denied.body["error"]["code"] == "forbidden");
  CHECK(d.call("POST", "/api/users", body, boss).status == 403);

  const auto upserts_before = d.sent(types::user_upserted).size();
  auto created = d.call("POST", "/api/users", body, admin);
  INFO(created.raw);
  REQUIRE(created.status == 201);
  CHECK(created.body["username"] == "joao");
  CHECK(created.body["departments"][0] == "support");
  const std::string joao = created.body["id"].GetString();
  const auto upserts = d.sent(types::user_upserted);
  REQUIRE(upserts.size() == upserts_before + 1);
  CHECK(upserts.back().topic == topics::users);
  CHECK(upserts.back().key == joao);
  CHECK(upserts.back().data["role"] == "AGENT");
  CHECK(upserts.back().data["department"] == "support");
  CHECK(upserts.back().data["email"] == "joao@users.lia.invalid");
  // The stored password is a hash that verifies.
  const auto hash =
      d.text("SELECT password_hash FROM " + d.t("users") + " WHERE id = '" + joao + "'");
  REQUIRE(hash);
  CHECK(hash->find("longenough") == std::string::npos);
  CHECK(auth::verify_password("longenough", *hash));
  d.login("joao", "longenough");

  auto again = d.call("POST", "/api/users", body, admin);
  CHECK(again.status == 409);
  auto bad = d.call(
      "POST", "/api/users",
      R"({"username":"x y z","password":"longenough","full_name":"X","role":"AGENT"})", admin);
  CHECK(bad.status == 400);
  CHECK(error_message(bad).find("'username'") != std::string::npos);
  // U+0000 cannot be stored (libpq would cut the array literal short): a 400, not a 500.
  auto nul = d.call("POST", "/api/users",
                    R"({"username":"maria.n","password":"longenough","full_name":"M",)"
                    R"("role":"AGENT","departments":["x\u0000"]})",
                    admin);
  CHECK(nul.status == 400);
  CHECK(error_message(nul).find("U+0000") != std::string::npos);

  CHECK(d.call("GET", "/api/users", {}, agent).status == 403);
  auto list = d.call("GET", "/api/users", {}, boss);
  REQUIRE(list.status == 200);
  CHECK(list.body["users"].Size() == 4);
}

TEST_CASE(
    "resolve through the API with a JWT: resolved, credited, and conversation.resolved published") {
  Desk d;
  const auto agent = d.user("ana", auth::Role::agent, {"support"});
  const auto other = d.user("bia", auth::Role::agent, {"financial"});
  auto [p, conv] = d.chat("minha internet caiu");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  REQUIRE(d.column("conversations", "assigned_to", conv) == agent);
  const auto token = d.login("ana");

  CHECK(d.call("POST", "/api/conversations/" + conv + "/resolve", {}).status == 401);
  CHECK(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("bia")).status ==
        403);
  (void)other;
  CHECK(d.call("POST", "/api/conversations/not-a-uuid/resolve", {}, token).status == 400);
  CHECK(d.call("POST", "/api/conversations/" + core::Uuid::v7().str() + "/resolve", {}, token)
            .status == 404);

  auto r = d.call("POST", "/api/conversations/" + conv + "/resolve",
                  R"({"reason":"conexão restabelecida"})", token);
  INFO(r.raw);
  REQUIRE(r.status == 200);
  CHECK(r.body["status"] == "resolved");
  CHECK(r.body["resolved_by"] == agent.c_str());
  CHECK(d.column("conversations", "status", conv) == "resolved");
  CHECK(d.column("conversations", "resolved_by", conv) == agent);
  CHECK(d.column("conversations", "resolved_at", conv) != "<null>");

  const auto resolved = d.sent(types::conversation_resolved);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].key == instance() + ":" + jid(p));
  CHECK(resolved[0].data["conversation_id"] == conv.c_str());
  CHECK(resolved[0].data["resolved_by"] == "agent");
  CHECK(resolved[0].data["agent_user_id"] == agent.c_str());
  CHECK(resolved[0].data["message_count"].GetInt64() == 1);
  CHECK(resolved[0].data["duration_ms"].GetInt64() >= 0);
  CHECK(resolved[0].data["reason"] == "conexão restabelecida");
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'resolve_conversation'") == 1);

  auto twice = d.call("POST", "/api/conversations/" + conv + "/resolve", {}, token);
  CHECK(twice.status == 409);
  CHECK(d.sent(types::conversation_resolved).size() == 1);
}

TEST_CASE(
    "the survey window: a score answers it, a later message reopens the conversation to the AI") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  auto [p, conv] = d.chat("preciso de ajuda");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("ana")).status ==
          200);

  const auto contact = d.column("conversations", "contact_id", conv);
  const auto survey = core::Uuid::v7().str();
  json::Writer s;
  s.begin_object()
      .field("survey_id", survey)
      .field("conversation_id", conv)
      .field("contact_id", contact)
      .field("provider", "evolution")
      .field("instance", instance())
      .field("chat_id", jid(p))
      .field("command_id", core::Uuid::v7().str())
      .end_object();
  d.apply(topics::engagement_events,
          event(types::engagement_survey_sent, s.take(), "nps_gamification"));
  CHECK(d.column("conversations", "survey_id", conv) == survey);

  const auto later = [](int seconds) {
    return core::format_rfc3339(core::SystemClock::instance().now() +
                                std::chrono::seconds{seconds});
  };
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "S-9", "9", later(2))));
  auto stored = d.sent(types::conversation_message_stored);
  CHECK(stored.back().data["route"] == "survey");
  CHECK(stored.back().data["text"] == "9");
  CHECK(d.column("conversations", "status", conv) == "resolved");
  CHECK(d.sent(types::conversation_reopened).empty());
  REQUIRE(d.column("conversations", "department", conv) == "support");

  json::Writer sc;
  sc.begin_object()
      .field("survey_id", survey)
      .field("conversation_id", conv)
      .field("contact_id", contact)
      .field("provider", "evolution")
      .field("instance", instance())
      .field("chat_id", jid(p))
      .field("score", 9)
      .field("category", "promoter")
      .end_object();
  const std::string score_data = sc.take();
  d.apply(topics::engagement_events,
          event(types::engagement_score_recorded, score_data, "nps_gamification"));
  CHECK(d.column("conversations", "survey_answered", conv) == "true");
  CHECK(d.column("conversations", "survey_score", conv) == "9");

  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "S-talk", "quero falar", later(4))));
  const auto reopened = d.sent(types::conversation_reopened);
  REQUIRE(reopened.size() == 1);
  CHECK(reopened[0].data["mode"] == "ai");
  CHECK(reopened[0].data["reason"] == "customer_message");
  stored = d.sent(types::conversation_message_stored);
  CHECK(stored.back().data["route"] == "ai");
  CHECK(stored.back().data["text"] == "quero falar");
  CHECK(d.column("conversations", "status", conv) == "active");
  CHECK(d.column("conversations", "mode", conv) == "ai");
  CHECK(d.column("conversations", "assigned_to", conv) == "<null>");
  // A new request: routed afresh from apresentacao, not by the last one's specialist.
  CHECK(d.column("conversations", "assistant_type", conv) == "apresentacao");
  CHECK(d.column("conversations", "department", conv) == "general");
  CHECK(stored.back().data["assistant"] == "apresentacao");
  // The reopened event comes before the message it routes.
  const auto all = d.outbox();
  std::size_t reopen_at = 0, message_at = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].event.type == types::conversation_reopened) reopen_at = i;
    if (all[i].event.type == types::conversation_message_stored) message_at = i;
  }
  CHECK(reopen_at < message_at);

  // Resolved again: a late score.recorded of the first survey (consumer lag) must not close
  // the new resolution's window, open until its own survey.sent arrives.
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("ana")).status ==
          200);
  CHECK(d.column("conversations", "survey_id", conv) == "<null>");
  d.apply(topics::engagement_events,
          event(types::engagement_score_recorded, score_data, "nps_gamification"));
  CHECK(d.column("conversations", "survey_answered", conv) == "false");
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "S-8", "8", later(6))));
  CHECK(d.sent(types::conversation_message_stored).back().data["route"] == "survey");
}

TEST_CASE(
    "a resolution keeps the window of a survey still open, and starts afresh after one failed or "
    "expired") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  const auto chat = d.chat("preciso de ajuda");
  const auto& p = chat.first;  // lambdas below use both: no structured binding
  const auto& conv = chat.second;
  const auto now = core::SystemClock::instance().now();
  const auto at = [&](int seconds) {
    return core::format_rfc3339(now + std::chrono::seconds{seconds});
  };
  const auto resolve = [&] {
    d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
    REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("ana")).status ==
            200);
  };
  const auto engagement = [&](std::string_view type, const std::string& survey, int sent,
                              int expires, std::optional<int> score = std::nullopt) {
    json::Writer s;
    open_survey_event(s, d, survey, conv, p);
    if (type == types::engagement_survey_sent) {
      s.field("command_id", core::Uuid::v7().str())
          .field("sent_at", at(sent))
          .field("expires_at", at(expires));
    } else if (type == types::engagement_survey_failed) {
      s.field("command_id", core::Uuid::v7().str()).field("reason", "provider answered 500");
    } else {
      s.field("score", *score).field("category", "promoter");
    }
    s.end_object();
    d.apply(topics::engagement_events, event(type, s.take(), "nps_gamification"));
  };
  // The customer's messages are stamped well after each step (up to 100 s), so a slow run
  // never stamps one before the resolution it follows.
  int seq = 0;
  const auto says = [&](const std::string& text, int second) {
    d.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received,
                  received(p, "K-" + std::to_string(++seq), text, at(second))));
    return std::string(d.sent(types::conversation_message_stored).back().data["route"].GetString());
  };

  resolve();
  const auto first = core::Uuid::v7().str();
  engagement(types::engagement_survey_sent, first, 0, 24 * 3600);
  // "obrigado" is no score: it reopens the conversation, and the desk resolves it again.
  CHECK(says("obrigado", 20) == "ai");
  resolve();
  // nps_gamification asks nothing more while the first survey is open: its window goes on.
  CHECK(d.column("conversations", "survey_id", conv) == first);
  CHECK(d.column("conversations", "survey_answered", conv) == "false");
  CHECK(says("8", 40) == "survey");
  CHECK(d.column("conversations", "status", conv) == "resolved");
  engagement(types::engagement_score_recorded, first, 0, 0, 8);
  CHECK(d.column("conversations", "survey_answered", conv) == "true");
  // Answered: a further number in its window (a repeat, a change of mind) still goes to the
  // survey, which keeps the first; the conversation stays resolved. Words reopen it.
  CHECK(says("9", 60) == "survey");
  CHECK(d.column("conversations", "status", conv) == "resolved");
  CHECK(says("valeu", 70) == "ai");
  CHECK(d.column("conversations", "status", conv) == "active");

  // A failed survey closes nothing for the next resolution: it starts afresh (nps_gamification
  // sends a new survey), and a late score of the failed one does not close the new window.
  engagement(types::engagement_survey_failed, first, 0, 0);
  resolve();
  CHECK(d.column("conversations", "survey_id", conv) == "<null>");
  engagement(types::engagement_score_recorded, first, 0, 0, 9);
  CHECK(d.column("conversations", "survey_answered", conv) == "false");
  CHECK(says("7", 80) == "survey");

  // An expired one neither.
  const auto old = core::Uuid::v7().str();
  engagement(types::engagement_survey_sent, old, -2 * 24 * 3600, -24 * 3600);
  CHECK(says("quero outra coisa", 100) == "ai");
  resolve();
  CHECK(d.column("conversations", "survey_id", conv) == "<null>");
}

TEST_CASE(
    "a second score soon after the first goes to the survey too, before score.recorded or "
    "survey.sent come back: nothing reopens") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  const auto now = core::SystemClock::instance().now();
  const auto at = [&](int seconds) {
    return core::format_rfc3339(now + std::chrono::seconds{seconds});
  };
  // A conversation with ana, resolved; its phone and id.
  const auto resolved_chat = [&] {
    auto chat = d.chat("preciso de ajuda");
    d.apply(topics::ai_events,
            event(types::ai_handoff_requested, handoff(chat.second, chat.first)));
    REQUIRE(d.call("POST", "/api/conversations/" + chat.second + "/resolve", {}, d.login("ana"))
                .status == 200);
    return chat;
  };
  // nps_gamification's survey.sent, dated at the resolution as it dates it.
  const auto survey_sent = [&](const std::pair<std::string, std::string>& chat) {
    json::Writer s;
    open_survey_event(s, d, core::Uuid::v7().str(), chat.second, chat.first)
        .field("command_id", core::Uuid::v7().str())
        .field(
            "sent_at",
            d.column("conversations",
                     R"(to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))",
                     chat.second))
        .field("expires_at", at(24 * 3600))
        .end_object();
    d.apply(topics::engagement_events,
            event(types::engagement_survey_sent, s.take(), "nps_gamification"));
  };
  int seq = 0;
  const auto says = [&](const std::pair<std::string, std::string>& chat, const std::string& text,
                        int second) {
    d.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received,
                  received(chat.first, "A-" + std::to_string(++seq), text, at(second))));
    return std::string(d.sent(types::conversation_message_stored).back().data["route"].GetString());
  };

  SECTION("survey.sent seen first, score.recorded still on its way") {
    const auto chat = resolved_chat();
    survey_sent(chat);
    CHECK(says(chat, "10", 20) == "survey");
    CHECK(d.column("conversations", "survey_answered", chat.second) == "true");
    CHECK(d.column("conversations", "status", chat.second) == "resolved");
    CHECK(says(chat, "10", 21) == "survey");  // sent twice
    CHECK(says(chat, "9", 30) == "survey");   // or changed
    CHECK(d.column("conversations", "status", chat.second) == "resolved");
    CHECK(d.sent(types::conversation_reopened).empty());
    // Past kFurtherScoreWindow (10 min) since the last score, a number is the customer's
    // message again (an answer to a campaign's message, say): it reopens the conversation.
    REQUIRE(d.pool()
                .exec("UPDATE " + d.t("messages") +
                      " SET created_at = created_at - interval '11 minutes' WHERE "
                      "conversation_id = '" +
                      chat.second + "' AND route = 'survey'")
                .ok());
    CHECK(says(chat, "1", 40) == "ai");
    CHECK(d.column("conversations", "status", chat.second) == "active");
    CHECK(d.sent(types::conversation_reopened).size() == 1);
  }
  SECTION("the score comes before survey.sent (another topic), which then finds it answered") {
    const auto chat = resolved_chat();
    CHECK(says(chat, "8", 20) == "survey");
    survey_sent(chat);
    CHECK(d.column("conversations", "survey_answered", chat.second) == "true");
    CHECK(says(chat, "7", 30) == "survey");
    CHECK(d.column("conversations", "status", chat.second) == "resolved");
  }
  SECTION("a survey.sent with no score since it went out opens its window as before") {
    const auto chat = resolved_chat();
    survey_sent(chat);
    CHECK(d.column("conversations", "survey_answered", chat.second) == "false");
    CHECK(says(chat, "6", 20) == "survey");
  }
}

TEST_CASE("a survey that could not be sent takes no score: a number reopens the conversation") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  const auto chat = d.chat("preciso de ajuda");
  const auto& p = chat.first;  // a lambda below uses both: no structured binding
  const auto& conv = chat.second;
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("ana")).status ==
          200);
  const auto survey_event = [&](std::string_view type, const std::string& survey) {
    json::Writer s;
    open_survey_event(s, d, survey, conv, p).field("command_id", core::Uuid::v7().str());
    if (type == types::engagement_survey_failed) s.field("reason", "provider answered 500");
    s.end_object();
    return event(type, s.take(), "nps_gamification");
  };
  const auto survey = core::Uuid::v7().str();
  d.apply(topics::engagement_events, survey_event(types::engagement_survey_sent, survey));
  // Another survey's failure (an older resolution's) leaves this one open.
  d.apply(topics::engagement_events,
          survey_event(types::engagement_survey_failed, core::Uuid::v7().str()));
  CHECK(d.column("conversations", "survey_answered", conv) == "false");
  d.apply(topics::engagement_events, survey_event(types::engagement_survey_failed, survey));
  CHECK(d.column("conversations", "survey_answered", conv) == "true");

  // "2" (a menu option, say) is the customer's message, not a score.
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received,
                received(p, "F-2", "2",
                         core::format_rfc3339(core::SystemClock::instance().now() +
                                              std::chrono::seconds{2}))));
  const auto stored = d.sent(types::conversation_message_stored);
  CHECK(stored.back().data["route"] == "ai");
  CHECK(d.sent(types::conversation_reopened).size() == 1);
  CHECK(d.column("conversations", "status", conv) == "active");
}

TEST_CASE("the survey's own window (its expires_at) decides whether a score answers it") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  const auto now = core::SystemClock::instance().now();
  const auto at = [&](std::chrono::seconds offset) { return core::format_rfc3339(now + offset); };
  // A resolved conversation whose survey expires `window` after it went out; then "9" at `reply`.
  const auto route_of_score = [&](std::chrono::hours window, std::chrono::hours reply) {
    auto [p, conv] = d.chat("preciso de ajuda");
    d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
    REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, d.login("ana")).status ==
            200);
    json::Writer s;
    s.begin_object()
        .field("survey_id", core::Uuid::v7().str())
        .field("conversation_id", conv)
        .field("contact_id", d.column("conversations", "contact_id", conv))
        .field("provider", "evolution")
        .field("instance", instance())
        .field("chat_id", jid(p))
        .field("command_id", core::Uuid::v7().str())
        .field("expires_at", at(window))
        .end_object();
    auto sent = event(types::engagement_survey_sent, s.take(), "nps_gamification");
    sent.time = at(std::chrono::seconds{0});
    d.apply(topics::engagement_events, sent);
    d.apply(topics::whatsapp_inbound,
            event(types::whatsapp_message_received, received(p, "W-" + p, "9", at(reply))));
    return std::string(
        lia::json::view(d.sent(types::conversation_message_stored).back().data["route"]));
  };
  // LIA_NPS_WINDOW_HOURS=12: at 13 h nps_gamification would not record it, so it reopens.
  CHECK(route_of_score(std::chrono::hours{12}, std::chrono::hours{13}) == "ai");
  CHECK(route_of_score(std::chrono::hours{12}, std::chrono::hours{11}) == "survey");
  // LIA_NPS_WINDOW_HOURS=48: at 30 h it still answers the survey.
  CHECK(route_of_score(std::chrono::hours{48}, std::chrono::hours{30}) == "survey");
}

TEST_CASE("agents write to their conversations through notification and list what they may see") {
  Desk d;
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  d.user("bia", auth::Role::agent, {"financial"});
  d.user("boss", auth::Role::supervisor);
  auto [p, conv] = d.chat("oi");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  auto [p_active, conv_active] = d.chat("outra conversa");  // with the AI
  (void)p_active;
  const auto token = d.login("ana");
  const auto bia = d.login("bia");

  auto sent = d.call("POST", "/api/conversations/" + conv + "/messages",
                     R"({"text":"Olá, sou a Ana."})", token);
  INFO(sent.raw);
  REQUIRE(sent.status == 202);
  const std::string message_id = sent.body["message_id"].GetString();
  CHECK(d.column("messages", "whatsapp_status", message_id) == "PENDING");
  CHECK(d.column("messages", "author", message_id) == "agent");
  CHECK(d.column("messages", "agent_user_id", message_id) == ana);
  const auto commands = d.sent(types::notification_send_text);
  REQUIRE(commands.size() == 1);
  CHECK(commands[0].data["message_id"] == message_id.c_str());
  CHECK(commands[0].data["to"] == jid(p).c_str());
  CHECK(commands[0].data["text"] == "Olá, sou a Ana.");
  CHECK(commands[0].data["command_id"] == sent.body["command_id"]);
  CHECK(d.sent(types::conversation_message_stored).back().data["agent_user_id"] == ana.c_str());

  CHECK(d.call("POST", "/api/conversations/" + conv + "/messages", R"({"text":"intruso"})", bia)
            .status == 403);
  auto empty = d.call("POST", "/api/conversations/" + conv + "/messages", R"({"text":""})", token);
  CHECK(empty.status == 400);
  CHECK(error_message(empty).find("'text'") != std::string::npos);

  auto msgs = d.call("GET", "/api/conversations/" + conv + "/messages", {}, token);
  REQUIRE(msgs.status == 200);
  REQUIRE(msgs.body["messages"].Size() == 2);
  CHECK(msgs.body["messages"][0]["author"] == "customer");
  CHECK(msgs.body["messages"][1]["id"] == message_id.c_str());
  CHECK(msgs.body["messages"][1]["status"] == "PENDING");

  auto mine = d.call("GET", "/api/conversations?assigned_to=me", {}, token);
  REQUIRE(mine.status == 200);
  REQUIRE(mine.body["conversations"].Size() == 1);
  CHECK(mine.body["conversations"][0]["id"] == conv.c_str());
  CHECK(mine.body["conversations"][0]["contact"]["phone"] == p.c_str());
  // Bia (financial) sees neither; the supervisor sees both; a filter by status works.
  CHECK(d.call("GET", "/api/conversations", {}, bia).body["conversations"].Size() == 0);
  CHECK(d.call("GET", "/api/conversations/" + conv, {}, bia).status == 403);
  const auto boss = d.login("boss");
  CHECK(d.call("GET", "/api/conversations", {}, boss).body["conversations"].Size() == 2);
  auto active = d.call("GET", "/api/conversations?status=active", {}, boss);
  REQUIRE(active.body["conversations"].Size() == 1);
  CHECK(active.body["conversations"][0]["id"] == conv_active.c_str());
  CHECK(d.call("GET", "/api/conversations?status=open", {}, boss).status == 400);
  auto one = d.call("GET", "/api/conversations/" + conv, {}, token);
  REQUIRE(one.status == 200);
  CHECK(one.body["status"] == "transferred");
  CHECK(d.call("GET", "/api/conversations/" + core::Uuid::v7().str(), {}, boss).status == 404);
}

TEST_CASE("an agent's message retried with its Idempotency-Key is stored and sent once") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  d.user("boss", auth::Role::supervisor);
  auto [p, conv] = d.chat("oi");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  const auto ana = d.login("ana");
  const auto boss = d.login("boss");
  const std::string path = "/api/conversations/" + conv + "/messages";
  const http::Headers key{{"Idempotency-Key", "desk-7f3a"}};
  auto agent_messages = [&] {
    return d.count("SELECT count(*) FROM " + d.t("messages") + " WHERE author = 'agent'");
  };

  auto first = d.call("POST", path, R"({"text":"Já estou vendo."})", ana, key);
  INFO(first.raw);
  REQUIRE(first.status == 202);
  CHECK_FALSE(first.headers.contains("Idempotent-Replayed"));
  // The client's retry (its JSON written differently): the same message, nothing sent again.
  auto again = d.call("POST", path, R"({ "text" : "Já estou vendo." })", ana, key);
  REQUIRE(again.status == 202);
  CHECK(again.body["message_id"] == first.body["message_id"]);
  CHECK(again.body["command_id"] == first.body["command_id"]);
  REQUIRE(again.headers.find("Idempotent-Replayed") != nullptr);
  CHECK(*again.headers.find("Idempotent-Replayed") == "true");
  CHECK(agent_messages() == 1);
  CHECK(d.sent(types::notification_send_text).size() == 1);

  // The same key with another text, or for another conversation: 422, nothing sent.
  auto reused = d.call("POST", path, R"({"text":"Outra coisa"})", ana, key);
  CHECK(reused.status == 422);
  CHECK(reused.body["error"]["code"] == "idempotency_key_reused");
  auto [p2, conv2] = d.chat("outra");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv2, p2)));
  CHECK(d.call("POST", "/api/conversations/" + conv2 + "/messages", R"({"text":"Já estou vendo."})",
               ana, key)
            .status == 422);
  CHECK(agent_messages() == 1);
  // Keys are each user's own: the supervisor's same key is a message of theirs.
  auto other = d.call("POST", path, R"({"text":"Já estou vendo."})", boss, key);
  REQUIRE(other.status == 202);
  CHECK(other.body["message_id"] != first.body["message_id"]);
  CHECK_FALSE(other.headers.contains("Idempotent-Replayed"));
  // A bad key is refused before anything happens.
  auto bad = d.call("POST", path, R"({"text":"x"})", ana, {{"Idempotency-Key", ""}});
  CHECK(bad.status == 400);
  CHECK(error_message(bad).find("Idempotency-Key") != std::string::npos);
  CHECK(agent_messages() == 2);

  // Two retries racing: one message.
  const std::string conversation_id = conv;  // clang before 16 captures no structured binding
  auto post = [&] {
    http::Request req;
    req.method = "POST";
    req.path = path;
    req.params["id"] = conversation_id;
    req.headers.add("Authorization", "Bearer " + ana);
    req.headers.add("Idempotency-Key", "desk-race");
    req.body = R"({"text":"Um momento, por favor."})";
    return d.api().send_message(req);
  };
  http::Response r1;
  http::Response r2;
  std::thread t1([&] { r1 = post(); });
  std::thread t2([&] { r2 = post(); });
  t1.join();
  t2.join();
  CHECK(r1.status == 202);
  CHECK(r2.status == 202);
  CHECK(r1.headers.contains("Idempotent-Replayed") != r2.headers.contains("Idempotent-Replayed"));
  CHECK(agent_messages() == 3);

  // Once the conversation is resolved a retry still gets its 202; a day later the key is gone.
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, ana).status == 200);
  CHECK(d.call("POST", path, R"({"text":"Já estou vendo."})", ana, key).status == 202);
  CHECK(d.count("WITH aged AS (UPDATE " + d.t("agent_send_keys") +
                " SET created_at = now() - interval '25 hours' WHERE idempotency_key = "
                "'desk-7f3a' RETURNING 1) SELECT count(*) FROM aged") == 2);
  auto purged = d.api().purge_idempotency_keys(kIdempotencyKeyTtl);
  REQUIRE(purged);
  CHECK(*purged == 2);
  CHECK(d.count("SELECT count(*) FROM " + d.t("agent_send_keys")) == 1);
  CHECK(d.sent(types::notification_send_text).size() == 3);
}

TEST_CASE("a retry that waited for the conversation behind its first request gets that answer") {
  Desk d;
  d.user("ana", auth::Role::agent, {"support"});
  auto [p, conv] = d.chat("oi");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  const auto ana = d.login("ana");
  const auto ana_id = d.text("SELECT id::text FROM " + d.t("users") + " WHERE username = 'ana'");
  REQUIRE(ana_id);
  const std::string conversation_id = conv;
  const std::string text = "Já reiniciei o seu acesso.";
  // The first request holds the conversation's row, slow; the desk gives up on it and retries.
  std::promise<void> locked;
  std::promise<void> release;
  std::string first_error;  // asserted after the join: Catch2 is not thread-safe
  std::thread first([&] {
    auto st = pg::transact(d.pool(), [&](pg::Tx& tx) -> core::Status {
      auto lock =
          tx.exec("SELECT 1 FROM " + d.t("conversations") + " WHERE id = $1::uuid FOR UPDATE",
                  conversation_id);
      if (!lock) return lock.error();
      locked.set_value();
      release.get_future().wait();
      // What the first request commits: its key and message; and a resolve queued right
      // behind it (another tab) resolves the conversation before the retry gets the row.
      auto key = tx.exec("INSERT INTO " + d.t("agent_send_keys") +
                             " (user_id, idempotency_key, request_sha256, conversation_id, "
                             "message_id, command_id) VALUES ($1::uuid, 'desk-slow', $2, $3::uuid, "
                             "'0190e0a4-8000-7abc-9def-0000000000f1', "
                             "'0190e0a4-8000-7abc-9def-0000000000f2')",
                         *ana_id, auth::to_hex(auth::sha256(conversation_id + '\n' + text)),
                         conversation_id);
      if (!key) return key.error();
      auto resolved =
          tx.exec("UPDATE " + d.t("conversations") +
                      " SET status = 'resolved', resolved_at = now() WHERE id = $1::uuid",
                  conversation_id);
      if (!resolved) return resolved.error();
      return {};
    });
    if (!st) first_error = st.error().describe();
  });
  locked.get_future().wait();
  auto retry = std::async(std::launch::async, [&] {
    http::Request req;
    req.method = "POST";
    req.path = "/api/conversations/" + conversation_id + "/messages";
    req.params["id"] = conversation_id;
    req.headers.add("Authorization", "Bearer " + ana);
    req.headers.add("Idempotency-Key", "desk-slow");
    req.body = R"({"text":")" + text + R"("})";
    return d.api().send_message(req);
  });
  // The retry waits for the row (its key was not there yet when it looked).
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    // (this test's schema only: other tests run beside it on the same PostgreSQL)
    waiting = d.count(
                  "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "query LIKE '%" +
                  d.schema() + "%'") > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  CHECK(waiting);
  release.set_value();
  first.join();
  CHECK(first_error.empty());
  const auto answer = retry.get();
  INFO(answer.body);
  CHECK(answer.status == 202);
  CHECK(answer.headers.contains("Idempotent-Replayed"));
  CHECK(answer.body.find("0190e0a4-8000-7abc-9def-0000000000f1") != std::string::npos);
  CHECK(d.count("SELECT count(*) FROM " + d.t("messages") + " WHERE author = 'agent'") == 0);
}

TEST_CASE("a conversation's last message time never moves back") {
  Desk d;
  auto [p, conv] = d.chat("oi");
  // As after a message committed by a transaction that started later than the next one: the
  // next one, waiting for the row, must not write its earlier start time over it.
  REQUIRE(d.pool()
              .exec("UPDATE " + d.t("conversations") +
                        " SET last_message_time = now() + interval '1 hour' WHERE id = $1::uuid",
                    conv)
              .ok());
  const auto before = d.column("conversations", "last_message_time", conv);
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "IN-later", "mais uma coisa")));
  CHECK(d.column("conversations", "last_message", conv) == "mais uma coisa");
  CHECK(d.column("conversations", "last_message_time", conv) == before);
}

TEST_CASE("the user list pages on with next_after until nothing is left") {
  Desk d;
  d.user("root", auth::Role::admin);
  for (const char* name : {"bia", "caio", "duda", "edu"}) d.user(name, auth::Role::agent);
  const auto root = d.login("root");
  std::vector<std::string> seen;
  std::string path = "/api/users?limit=2";
  for (int page = 0; page < 5; ++page) {
    auto r = d.call("GET", path, {}, root);
    INFO(r.raw);
    REQUIRE(r.status == 200);
    for (const auto& u : r.body["users"].GetArray()) seen.emplace_back(u["username"].GetString());
    if (!r.body.HasMember("next_after")) break;
    path = "/api/users?limit=2&after=" + std::string(r.body["next_after"].GetString());
  }
  // By username, each once; the last page (one user) says nothing follows.
  CHECK(seen == std::vector<std::string>{"bia", "caio", "duda", "edu", "root"});
  auto all = d.call("GET", "/api/users", {}, root);
  CHECK(all.body["users"].Size() == 5);
  CHECK_FALSE(all.body.HasMember("next_after"));
  for (const char* bad : {"/api/users?limit=0", "/api/users?limit=501", "/api/users?limit=x"}) {
    auto r = d.call("GET", bad, {}, root);
    CHECK(r.status == 400);
    CHECK(error_message(r).find("'limit'") != std::string::npos);
  }
  auto long_cursor = d.call("GET", "/api/users?after=" + std::string(65, 'a'), {}, root);
  CHECK(long_cursor.status == 400);
  CHECK(error_message(long_cursor).find("'after'") != std::string::npos);
}

TEST_CASE("a conversation's messages page back to the first with next_before") {
  Desk d;
  d.user("boss", auth::Role::supervisor);
  auto [p, conv] = d.chat("oi");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(conv, p)));
  const auto boss = d.login("boss");
  for (int i = 0; i < 4; ++i) {
    REQUIRE(d.call("POST", "/api/conversations/" + conv + "/messages",
                   R"({"text":"resposta )" + std::to_string(i) + R"("})", boss)
                .status == 202);
  }
  const std::string path = "/api/conversations/" + conv + "/messages";
  auto all = d.call("GET", path + "?limit=10", {}, boss);
  REQUIRE(all.status == 200);
  REQUIRE(all.body["messages"].Size() == 5);
  CHECK_FALSE(all.body.HasMember("next_before"));  // not full: nothing before it
  std::vector<std::string> expected;
  for (const auto& m : all.body["messages"].GetArray()) expected.emplace_back(m["id"].GetString());

  // Pages of two, newest page first, each in order: together the whole history, once.
  std::vector<std::vector<std::string>> pages;
  std::string next = path + "?limit=2";
  for (int page = 0; page < 5; ++page) {
    auto r = d.call("GET", next, {}, boss);
    INFO(r.raw);
    REQUIRE(r.status == 200);
    pages.emplace_back();
    for (const auto& m : r.body["messages"].GetArray())
      pages.back().emplace_back(m["id"].GetString());
    if (!r.body.HasMember("next_before")) break;
    next = path + "?limit=2&before=" + std::string(r.body["next_before"].GetString());
  }
  REQUIRE(pages.size() == 3);
  std::vector<std::string> seen;
  for (auto it = pages.rbegin(); it != pages.rend(); ++it)
    seen.insert(seen.end(), it->begin(), it->end());
  CHECK(seen == expected);
  CHECK(d.call("GET", path + "?before=12_x", {}, boss).status == 400);
}

TEST_CASE("the conversation list pages on with next_before until nothing is left") {
  Desk d;
  d.user("boss", auth::Role::supervisor);
  std::vector<std::string> made;
  made.reserve(5);
  for (int i = 0; i < 5; ++i) made.push_back(d.chat("oi " + std::to_string(i)).second);
  const auto boss = d.login("boss");
  std::vector<std::string> seen;
  std::string path = "/api/conversations?limit=2";
  for (int page = 0; page < 5; ++page) {
    auto r = d.call("GET", path, {}, boss);
    INFO(r.raw);
    REQUIRE(r.status == 200);
    for (const auto& c : r.body["conversations"].GetArray()) seen.emplace_back(c["id"].GetString());
    if (!r.body.HasMember("next_before")) break;
    path = "/api/conversations?limit=2&before=" + std::string(r.body["next_before"].GetString());
  }
  // Newest first, each once: the five, in the reverse order they were written to.
  REQUIRE(seen.size() == 5);
  CHECK(std::vector<std::string>(made.rbegin(), made.rend()) == seen);
  // A page that is not full says there is nothing after it.
  auto all = d.call("GET", "/api/conversations?limit=10", {}, boss);
  CHECK(all.body["conversations"].Size() == 5);
  CHECK_FALSE(all.body.HasMember("next_before"));
  for (const char* bad : {"abc", "123",
                          "_"
                          "0190e0a4-7b2c-7def-8123-0123456789ab",
                          "12_x"}) {
    auto r = d.call("GET", std::string("/api/conversations?before=") + bad, {}, boss);
    CHECK(r.status == 400);
    CHECK(error_message(r).find("'before'") != std::string::npos);
  }
}

TEST_CASE("conversations waiting for want of an agent go to the next one: new or reactivated") {
  Desk d;
  const auto root = d.user("root", auth::Role::admin);
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto admin_token = d.login("root");
  // Ana leaves with one open conversation, and a handoff comes while nobody is left.
  auto [p1, first] = d.chat("minha internet caiu");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(first, p1)));
  REQUIRE(d.call("PATCH", "/api/users/" + ana, R"({"status":"INACTIVE"})", admin_token).status ==
          200);
  // Analysts see the conversation lose its agent.
  const auto unassigned = d.sent(types::conversation_unassigned);
  REQUIRE(unassigned.size() == 1);
  CHECK(unassigned[0].data["conversation_id"] == first.c_str());
  CHECK(unassigned[0].data["previous_agent_user_id"] == ana.c_str());
  CHECK(unassigned[0].data["unassigned_by_user_id"] == root.c_str());
  CHECK(unassigned[0].data["department"] == d.column("conversations", "department", first).c_str());
  auto [p2, second] = d.chat("quero falar com alguém");
  d.apply(topics::ai_events, event(types::ai_handoff_requested, handoff(second, p2)));
  REQUIRE(d.column("conversations", "assigned_to", first) == "<null>");
  REQUIRE(d.column("conversations", "assigned_to", second) == "<null>");
  const auto assigned_before = d.sent(types::conversation_assigned).size();

  // A supervisor made or a user left inactive takes nothing.
  auto boss = d.call(
      "POST", "/api/users",
      R"({"username":"boss","password":"longenough","full_name":"Chefe","role":"SUPERVISOR"})",
      admin_token);
  REQUIRE(boss.status == 201);
  REQUIRE(
      d.call("PATCH", "/api/users/" + ana, R"({"full_name":"Ana Souza"})", admin_token).status ==
      200);
  CHECK(d.column("conversations", "assigned_to", first) == "<null>");
  CHECK(d.sent(types::conversation_assigned).size() == assigned_before);

  // A new agent takes both, oldest transfer first, and can answer them.
  auto created = d.call(
      "POST", "/api/users",
      R"({"username":"bia","password":"password123","full_name":"Bia","role":"AGENT","departments":["financial"]})",
      admin_token);
  INFO(created.raw);
  REQUIRE(created.status == 201);
  const std::string bia = created.body["id"].GetString();
  CHECK(d.column("conversations", "assigned_to", first) == bia);
  CHECK(d.column("conversations", "assigned_to", second) == bia);
  auto assigned = d.sent(types::conversation_assigned);
  REQUIRE(assigned.size() == assigned_before + 2);
  CHECK(assigned[assigned_before].data["conversation_id"] == first.c_str());
  CHECK(assigned.back().data["agent_user_id"] == bia.c_str());
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'create_user' AND "
                "details->>'assigned_waiting_conversations' = '2'") == 1);
  CHECK(d.call("POST", "/api/conversations/" + second + "/messages",
               R"({"text":"Olá, sou a Bia."})", d.login("bia"))
            .status == 202);

  // Bia leaves; Ana, made active again, takes them back.
  REQUIRE(d.call("PATCH", "/api/users/" + bia, R"({"status":"INACTIVE"})", admin_token).status ==
          200);
  REQUIRE(d.column("conversations", "assigned_to", first) == "<null>");
  auto back = d.call("PATCH", "/api/users/" + ana, R"({"status":"ACTIVE"})", admin_token);
  REQUIRE(back.status == 200);
  CHECK(d.column("conversations", "assigned_to", first) == ana);
  CHECK(d.column("conversations", "assigned_to", second) == ana);
  CHECK(d.count("SELECT count(*) FROM " + d.t("activity_logs") +
                " WHERE action = 'update_user' AND "
                "details->>'assigned_waiting_conversations' = '2'") == 1);
}

TEST_CASE("supervisors transfer conversations to a chosen agent") {
  Desk d;
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto boss = d.user("boss", auth::Role::supervisor);
  const auto gone = d.user("gone", auth::Role::agent);
  REQUIRE(d.pool()
              .exec("UPDATE " + d.t("users") + " SET status = 'INACTIVE' WHERE id = '" + gone + "'")
              .ok());
  auto [p, conv] = d.chat("oi");
  (void)p;
  const auto token = d.login("boss");
  // While the assistant answers it, nobody writes beside it, a supervisor neither.
  auto beside = d.call("POST", "/api/conversations/" + conv + "/messages",
                       R"({"text":"Olá, aqui é o supervisor"})", token);
  CHECK(beside.status == 409);
  CHECK(error_message(beside).find("transfer it to a person first") != std::string::npos);
  const auto sends_before = d.sent(types::notification_send_text).size();

  CHECK(d.call("POST", "/api/conversations/" + conv + "/transfer",
               R"({"agent_id":")" + ana + R"("})", d.login("ana"))
            .status == 403);
  auto inactive = d.call("POST", "/api/conversations/" + conv + "/transfer",
                         R"({"agent_id":")" + gone + R"("})", token);
  CHECK(inactive.status == 400);
  CHECK(error_message(inactive).find("'agent_id'") != std::string::npos);

  auto r = d.call("POST", "/api/conversations/" + conv + "/transfer",
                  R"({"agent_id":")" + ana + R"(","reason":"cliente VIP"})", token);
  INFO(r.raw);
  REQUIRE(r.status == 200);
  CHECK(d.sent(types::notification_send_text).size() == sends_before);
  // Transferred, a person answers there: the supervisor may write too.
  CHECK(d.call("POST", "/api/conversations/" + conv + "/messages",
               R"({"text":"Olá, aqui é o supervisor"})", token)
            .status == 202);
  CHECK(r.body["status"] == "transferred");
  CHECK(r.body["mode"] == "human");
  CHECK(r.body["assigned_to"] == ana.c_str());
  const auto transferred = d.sent(types::conversation_transferred);
  REQUIRE(transferred.size() == 1);
  CHECK(transferred[0].data["requested_by"] == "supervisor");
  CHECK(transferred[0].data["requested_by_user_id"] == boss.c_str());
  const auto assigned = d.sent(types::conversation_assigned);
  REQUIRE(assigned.size() == 1);
  CHECK(assigned[0].data["assigned_by_user_id"] == boss.c_str());
  CHECK(d.count("SELECT count(*) FROM " + d.t("supervisor_actions") +
                " WHERE action = 'transfer'") == 1);

  // Hybrid, then another agent without a mode: it stays hybrid, and only the agent changes.
  const auto bia = d.user("bia", auth::Role::agent, {"support"});
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/transfer",
                 R"({"agent_id":")" + ana + R"(","mode":"hybrid"})", token)
              .status == 200);
  REQUIRE(d.sent(types::conversation_transferred).size() == 2);
  auto again = d.call("POST", "/api/conversations/" + conv + "/transfer",
                      R"({"agent_id":")" + bia + R"("})", token);
  INFO(again.raw);
  REQUIRE(again.status == 200);
  CHECK(again.body["mode"] == "hybrid");
  CHECK(again.body["assigned_to"] == bia.c_str());
  CHECK(d.sent(types::conversation_transferred).size() == 2);
}

TEST_CASE("a deactivated user's or a demoted supervisor's earlier token stops working at once") {
  Desk d;
  const auto maria = d.user("maria", auth::Role::agent, {"support"});
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto rui = d.user("rui", auth::Role::agent, {"support"});
  d.user("boss", auth::Role::supervisor);
  const auto conv = d.chat("oi").second;
  const auto maria_token = d.login("maria");
  const auto boss_token = d.login("boss");
  const auto transfer = [&](const std::string& agent) {
    return d.call("POST", "/api/conversations/" + conv + "/transfer",
                  R"({"agent_id":")" + agent + R"("})", boss_token);
  };
  // Both tokens work while their users are as they were at login.
  REQUIRE(d.call("GET", "/api/conversations", {}, maria_token).status == 200);
  REQUIRE(transfer(ana).status == 200);

  {  // deactivated: 401
    REQUIRE(
        d.pool()
            .exec("UPDATE " + d.t("users") + " SET status = 'INACTIVE' WHERE id = '" + maria + "'")
            .ok());
    REQUIRE(auth::verify_jwt(maria_token, secret()).ok());  // the token itself is still valid
    auto inactive = d.call("GET", "/api/conversations", {}, maria_token);
    INFO(inactive.raw);
    CHECK(inactive.status == 401);
    const auto* type = inactive.headers.find("Content-Type");
    REQUIRE(type != nullptr);
    CHECK(type->starts_with("application/json"));
    CHECK(inactive.body["error"]["code"] == "unauthorized");
    CHECK(error_message(inactive) == "user is unknown or inactive");
  }
  {  // demoted: 403
    REQUIRE(d.pool()
                .exec("UPDATE " + d.t("users") + " SET role = 'AGENT' WHERE username = 'boss'")
                .ok());
    auto claims = auth::verify_jwt(boss_token, secret());
    REQUIRE(claims.ok());
    CHECK(claims->role == auth::Role::supervisor);  // what the token still says
    auto demoted = transfer(rui);
    INFO(demoted.raw);
    CHECK(demoted.status == 403);
    CHECK(demoted.body["error"]["code"] == "forbidden");
    CHECK(error_message(demoted) == "requires role SUPERVISOR or above");
    // Nothing of the refused transfer happened.
    CHECK(d.column("conversations", "assigned_to", conv) == ana);
    CHECK(d.count("SELECT count(*) FROM " + d.t("supervisor_actions") +
                  " WHERE action = 'transfer'") == 1);
  }
}

TEST_CASE("a login whose user is deactivated while the password is checked gets no token") {
  Desk d;
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  // The deactivation holds the user's row, not committed yet: the login still reads her active.
  auto other = d.pool().acquire();
  REQUIRE(other.ok());
  REQUIRE((*other)->exec("BEGIN").ok());
  REQUIRE((*other)
              ->exec("UPDATE " + d.t("users") +
                         " SET status = 'INACTIVE', tokens_valid_from = now() WHERE id = $1::uuid",
                     ana)
              .ok());
  auto login = std::async(std::launch::async, [&] {
    http::Request req;
    req.method = "POST";
    req.path = "/api/auth/login";
    req.body = R"({"username":"ana","password":"password123"})";
    return d.api().login(req);
  });
  // The login waits for the row (this test's schema only: others run on the same PostgreSQL).
  CHECK(lia::testing::wait_until(
      [&] {
        return d.count(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                   "query LIKE '%" +
                   d.schema() + "%'") > 0;
      },
      std::chrono::seconds{20}));
  REQUIRE((*other)->exec("COMMIT").ok());
  const auto answer = login.get();
  INFO(answer.body);
  CHECK(answer.status == 403);
  CHECK(answer.body.find("user is inactive") != std::string::npos);
  CHECK(answer.body.find("token") == std::string::npos);
}

TEST_CASE("a token issued before a deactivation stays refused after the user is reactivated") {
  Desk d;
  d.user("root", auth::Role::admin);
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto admin_token = d.login("root");
  const auto before = d.login("ana");
  REQUIRE(d.call("GET", "/api/conversations", {}, before).status == 200);
  const auto set_status = [&](const char* status) {
    return d.call("PATCH", "/api/users/" + ana, std::string(R"({"status":")") + status + "\"}",
                  admin_token);
  };
  CHECK_FALSE(d.sent(types::user_upserted).back().data.HasMember("tokens_valid_from"));
  REQUIRE(set_status("INACTIVE").status == 200);
  std::string deactivated;
  {
    const auto ups = d.sent(types::user_upserted);
    REQUIRE(ups.back().data.HasMember("tokens_valid_from"));
    deactivated = ups.back().data["tokens_valid_from"].GetString();
  }
  REQUIRE(set_status("ACTIVE").status == 200);
  {
    // users.v1 carries the date on, so the other services refuse the old token too
    // (lia::runtime::DeskUsers).
    const auto ups = d.sent(types::user_upserted);
    CHECK(ups.back().data["active"].IsTrue());
    REQUIRE(ups.back().data.HasMember("tokens_valid_from"));
    CHECK(ups.back().data["tokens_valid_from"].GetString() == deactivated);
  }
  // Active again, and the old token is still well signed and unexpired: refused all the same.
  REQUIRE(auth::verify_jwt(before, secret()).ok());
  auto old = d.call("GET", "/api/conversations", {}, before);
  INFO(old.raw);
  CHECK(old.status == 401);
  CHECK(old.body["error"]["code"] == "unauthorized");
  CHECK(error_message(old) == "token was issued before the user was deactivated; log in again");
  // A login after the reactivation works, even within the deactivation's second (iat has
  // whole seconds) or from a replica whose clock is behind the one that deactivated: here the
  // deactivation is dated 1.5 s ahead.
  REQUIRE(d.pool()
              .exec("UPDATE " + d.t("users") +
                    " SET tokens_valid_from = clock_timestamp() + interval '1500 ms' WHERE id = '" +
                    ana + "'")
              .ok());
  const auto after = d.login("ana");
  CHECK(d.call("GET", "/api/conversations", {}, after).status == 200);
  // Other changes to the user end no token.
  REQUIRE(
      d.call("PATCH", "/api/users/" + ana, R"({"full_name":"Ana Souza"})", admin_token).status ==
      200);
  CHECK(d.call("GET", "/api/conversations", {}, after).status == 200);
}

TEST_CASE("a token from a pod whose clock runs ahead is still before a deactivation after it") {
  Desk d;
  d.user("root", auth::Role::admin);
  const auto ana = d.user("ana", auth::Role::agent, {"support"});
  const auto admin_token = d.login("root");
  // Ana logs in through another replica, whose clock is 2 s ahead of the database's and of
  // the admin's replica (the token checks allow up to a minute).
  const core::ManualClock ahead(core::SystemClock::instance().now() + std::chrono::seconds{2});
  Api fast(d.pool_ptr(), d.schema(), test_api_config(), ahead);
  http::Server server(http::ServerOptions{.address = "127.0.0.1", .port = 0}, routes(fast));
  REQUIRE(server.start().ok());
  http::ClientRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/api/auth/login";
  req.body = R"({"username":"ana","password":"password123"})";
  req.headers.add("Content-Type", "application/json");
  http::Client client;
  auto res = client.request(req);
  server.stop(std::chrono::seconds{2});
  REQUIRE(res.ok());
  REQUIRE(res->status == 200);
  auto body = json::parse(res->body);
  REQUIRE(body.ok());
  const std::string token = (*body)["token"].GetString();
  REQUIRE(d.call("GET", "/api/conversations", {}, token).status == 200);
  // Deactivated by the admin's replica right after, then reactivated: the token ends with it.
  REQUIRE(d.call("PATCH", "/api/users/" + ana, R"({"status":"INACTIVE"})", admin_token).status ==
          200);
  REQUIRE(d.call("PATCH", "/api/users/" + ana, R"({"status":"ACTIVE"})", admin_token).status ==
          200);
  CHECK(d.call("GET", "/api/conversations", {}, token).status == 401);
}

TEST_CASE("a reopen in a batch that began before the resolution starts its session after it") {
  Desk d;
  d.user("sup", auth::Role::supervisor);
  const auto ana = d.user("ana", auth::Role::agent, {"general"});
  const auto sup_token = d.login("sup");
  const auto ana_token = d.login("ana");
  auto [p, conv] = d.chat("Oi");
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/transfer",
                 R"({"agent_id":")" + ana + "\"}", sup_token)
              .status == 200);
  // A consumer's batch: its first record (another chat) sends the BEGIN, which fixes now().
  auto batch = pg::Batch::open(d.pool());
  REQUIRE(batch.ok());
  (void)d.chat("Olá");
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  // Meanwhile, at the desk (the API's own threads): the agent's last words, then the resolve.
  REQUIRE(
      d.call("POST", "/api/conversations/" + conv + "/messages", R"({"text":"Tchau!"})", ana_token)
          .status == 202);
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, ana_token).status == 200);
  // The customer writes again, in that batch: the conversation reopens.
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "AGAIN-" + p, "Outra coisa")));
  // And once more in the same batch: a message of the new session too, so the AI's answer
  // to it is not dropped as an earlier session's.
  d.apply(topics::whatsapp_inbound,
          event(types::whatsapp_message_received, received(p, "MORE-" + p, "E mais uma")));
  REQUIRE((*batch)->commit().ok());
  CHECK(d.count("SELECT count(*) FROM " + d.t("conversations") + " c WHERE c.id = '" + conv +
                "' AND c.status = 'active' AND c.opened_at >= (SELECT max(created_at) FROM " +
                d.t("messages") + " WHERE conversation_id = c.id AND content = 'Tchau!')") == 1);
  // The new session holds the customer's two messages alone, and the AI's answer to the second
  // is kept, as one of that session's.
  CHECK(d.count("SELECT count(*) FROM " + d.t("messages") + " m JOIN " + d.t("conversations") +
                " c ON c.id = m.conversation_id WHERE c.id = '" + conv +
                "' AND m.created_at >= c.opened_at") == 2);
  const auto more = d.text("SELECT id::text FROM " + d.t("messages") +
                           " WHERE whatsapp_message_id = 'MORE-" + p + "'");
  REQUIRE(more);
  const auto reply_id = core::Uuid::v7().str();
  d.apply(topics::ai_events,
          event(types::ai_reply_generated, reply(conv, p, reply_id, *more, "Claro, me conte.")));
  CHECK(d.count("SELECT count(*) FROM " + d.t("messages") + " m JOIN " + d.t("conversations") +
                " c ON c.id = m.conversation_id WHERE m.id = '" + reply_id +
                "' AND m.created_at >= c.opened_at") == 1);
  REQUIRE(d.call("POST", "/api/conversations/" + conv + "/resolve", {}, sup_token).status == 200);
  const auto resolved = d.sent(types::conversation_resolved);
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[1].data["message_count"].GetInt64() == 3);
}

TEST_CASE("a message written while a resolve waits for the conversation belongs to its session") {
  Desk d;
  d.user("sup", auth::Role::supervisor);
  const auto sup_token = d.login("sup");
  const std::string conv = d.chat("Oi").second;  // (a plain name: the lambdas below take it)
  // Another transaction holds the conversation (a consumer's batch storing the AI's reply);
  // the resolve begins and waits for it. (FOR NO KEY UPDATE, as the batch's UPDATE of the row
  // takes: the message written below, in a transaction of its own, may still name the row.)
  lia::testing::HeldTransaction batch(d.pool(), [&](pg::Tx& tx) -> core::Status {
    auto l = tx.exec(
        "SELECT 1 FROM " + d.t("conversations") + " WHERE id = $1::uuid FOR NO KEY UPDATE", conv);
    if (!l) return l.error();
    return {};
  });
  std::optional<Desk::Reply> resolved;
  std::thread t(
      [&] { resolved = d.call("POST", "/api/conversations/" + conv + "/resolve", {}, sup_token); });
  const bool waited = lia::testing::wait_until(
      [&] { return batch.waiters() >= 1; }, std::chrono::seconds{10}, std::chrono::milliseconds{5});
  // Meanwhile the reply is written, dated when written (as store.cpp's insert does).
  const auto reply_id = core::Uuid::v7().str();
  REQUIRE(d.pool()
              .exec("INSERT INTO " + d.t("messages") + " SELECT (jsonb_populate_record(NULL::" +
                        d.t("messages") + ", to_jsonb(m) || jsonb_build_object('id', $2::text, " +
                        "'whatsapp_message_id', NULL, 'command_id', NULL, 'created_at', " +
                        "clock_timestamp()))).* FROM " + d.t("messages") +
                        " m WHERE m.conversation_id = $1::uuid LIMIT 1",
                    conv, reply_id)
              .ok());
  REQUIRE(batch.release().ok());
  t.join();
  CHECK(waited);
  REQUIRE(resolved);
  REQUIRE(resolved->status == 200);
  // The resolution comes after it, so the reply is the ended session's, never the next one's.
  CHECK(d.count("SELECT count(*) FROM " + d.t("messages") + " m JOIN " + d.t("conversations") +
                " c ON c.id = m.conversation_id WHERE m.id = '" + reply_id +
                "' AND m.created_at < c.resolved_at") == 1);
}

TEST_CASE("LIA_ADMIN_PASSWORD's admin is created once") {
  World w;
  auto first = ensure_admin(w.pool(), w.schema(), "admin-password", kTestPasswordIterations);
  REQUIRE(first.ok());
  CHECK(*first);
  auto second = ensure_admin(w.pool(), w.schema(), "another-password", kTestPasswordIterations);
  REQUIRE(second.ok());
  CHECK_FALSE(*second);
  CHECK(w.count("SELECT count(*) FROM " + w.t("users") +
                " WHERE username = 'admin' AND role = 'ADMIN'") == 1);
  const auto hash =
      w.text("SELECT password_hash FROM " + w.t("users") + " WHERE username = 'admin'");
  CHECK(auth::verify_password("admin-password", *hash));
  CHECK(w.sent(types::user_upserted).size() == 1);
}

TEST_CASE("with the database unreachable the API answers 503 JSON, login included") {
  Desk d(lia::testing::unreachable_pool());
  const auto id = d.user("sofia", auth::Role::supervisor, {"support"});
  // A valid token of an active supervisor (login needs the database too).
  auth::Claims c;
  c.subject = id;
  c.username = "sofia";
  c.role = auth::Role::supervisor;
  c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  c.expires_at = c.issued_at + 600;
  const auto token = auth::sign_jwt(c, secret());

  auto list = d.call("GET", "/api/conversations", {}, token);
  INFO(list.raw);
  CHECK(list.status == 503);
  CHECK(list.body["error"]["code"] == "unavailable");
  CHECK_FALSE(error_message(list).empty());
  auto login =
      d.call("POST", "/api/auth/login", R"({"username":"sofia","password":"password123"})");
  INFO(login.raw);
  CHECK(login.status == 503);
  CHECK(login.body["error"]["code"] == "unavailable");

  // The same token with the database reachable: it was the database, not the token.
  http::Request req;
  req.method = "GET";
  req.headers.add("Authorization", "Bearer " + token);
  CHECK(d.api().list_conversations(req).status == 200);
}
