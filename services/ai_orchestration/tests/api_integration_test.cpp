// The REST API on a real server and database.
#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/testing/pg.hpp>

#include "api.hpp"
#include "handler.hpp"
#include "store.hpp"
#include "support.hpp"

using namespace lia::ai_orchestration;
using namespace lia::ai_orchestration::test;
using namespace std::chrono_literals;
namespace http = lia::http;

namespace {

constexpr const char* kSecret = "test-jwt-secret";

std::string token(lia::auth::Role role, const std::string& subject = lia::core::Uuid::v7().str()) {
  lia::auth::Claims c;
  c.subject = subject;
  c.username = "ana";
  c.role = role;
  c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  c.expires_at = c.issued_at + 3600;
  return lia::auth::sign_jwt(c, kSecret);
}

// The routes on a real server; with `pool`, on that pool instead of the schema's (e.g. one
// whose database is unreachable).
struct Api {
  Db db;
  std::shared_ptr<lia::pg::Pool> served;
  std::shared_ptr<PgPrompts> prompts;
  std::shared_ptr<lia::runtime::DeskUsers> users;
  std::unique_ptr<http::Server> server;
  http::Client client;

  explicit Api(std::string secret = kSecret, std::shared_ptr<lia::pg::Pool> pool = nullptr)
      : served(pool ? std::move(pool) : db.pool),
        prompts(std::make_shared<PgPrompts>(served, db.schema)),
        users(std::make_shared<lia::runtime::DeskUsers>(served, db.schema)) {
    http::Router router;
    add_api_routes(router, {served, db.schema, std::move(secret), prompts, users});
    http::ServerOptions opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    server = std::make_unique<http::Server>(opts, std::move(router));
    REQUIRE(server->start().ok());
  }
  ~Api() { server->stop(1s); }

  http::ClientResponse call(const std::string& method, const std::string& path,
                            std::optional<lia::auth::Role> role, std::string body = {},
                            const std::string& subject = lia::core::Uuid::v7().str()) {
    http::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(server->port()) + path;
    if (role) req.headers.add("Authorization", "Bearer " + token(*role, subject));
    if (!body.empty()) req.headers.add("Content-Type", "application/json");
    req.body = std::move(body);
    req.timeout = 5s;
    auto res = client.request(req);
    REQUIRE(res.ok());
    return *res;
  }
};

bool has(const std::string& body, const std::string& s) {
  return body.find(s) != std::string::npos;
}

// The code of a JSON error answer ({"error":{"code","message"}}), or "" for anything else.
std::string error_code(const http::ClientResponse& res) {
  const auto* type = res.header("Content-Type");
  if (type == nullptr || !has(*type, "application/json")) return {};
  auto doc = lia::json::parse(res.body);
  if (!doc || !doc->IsObject() || !doc->HasMember("error") || !(*doc)["error"].IsObject() ||
      !(*doc)["error"].HasMember("code") || !(*doc)["error"]["code"].IsString()) {
    return {};
  }
  return (*doc)["error"]["code"].GetString();
}

}  // namespace

TEST_CASE("the API needs a valid token and the right role") {
  Api api;
  CHECK(api.call("GET", "/api/ai/assistants", std::nullopt).status == 401);
  auto ok = api.call("GET", "/api/ai/assistants", lia::auth::Role::agent);
  CHECK(ok.status == 200);
  CHECK(has(ok.body, R"("assistant":"suporte","department":"support")"));
  CHECK(api.call("GET", "/api/ai/prompts", lia::auth::Role::agent).status == 403);
  CHECK(
      api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::supervisor, R"({"content":"x"})")
          .status == 403);
}

TEST_CASE(
    "a supervisor deactivated or demoted in conversation loses the AI API at once, and one "
    "promoted gains it") {
  Api api;
  const std::string me = "0190e0a4-7b2c-7def-8123-00000000ad07";
  auto upserted = [&](const std::string& role, bool active, const std::string& at) {
    const std::string data =
        R"({"user_id":")" + me + R"(","name":"Supervisora","email":"s@example.com","role":")" +
        role + R"(","active":)" + (active ? "true" : "false") + R"(,"updated_at":")" + at + R"("})";
    lia::kafka::Message m;
    m.topic = "users.v1";
    m.key = me;
    m.value = lia::events::encode(lia::events::make_event(lia::events::types::user_upserted, 1,
                                                          "/lia/conversation", "", data));
    return api.users->apply(m);
  };
  const auto supervisor = lia::auth::Role::supervisor;
  // Not heard of yet: the token decides.
  CHECK(api.call("GET", "/api/ai/prompts", supervisor, {}, me).status == 200);
  REQUIRE(upserted("SUPERVISOR", false, "2026-11-23T11:00:00Z").ok());
  auto off = api.call("GET", "/api/ai/prompts", supervisor, {}, me);
  CHECK(off.status == 401);
  CHECK(has(off.body, "user is inactive"));
  CHECK(api.call("POST", "/api/ai/outages", supervisor,
                 R"({"cep_prefix":"01310","region":"Paulista","description":"fibra"})", me)
            .status == 401);
  CHECK(api.db.count("outages") == 0);
  REQUIRE(upserted("AGENT", true, "2026-11-23T12:00:00Z").ok());
  CHECK(api.call("GET", "/api/ai/prompts", supervisor, {}, me).status == 403);
  CHECK(api.call("GET", "/api/ai/outages", supervisor, {}, me).status == 200);  // AGENT's route
  // Another user's token is not affected.
  CHECK(api.call("GET", "/api/ai/prompts", supervisor).status == 200);
  // Promoted again: the AGENT token they got meanwhile reaches the SUPERVISOR's routes at once.
  REQUIRE(upserted("SUPERVISOR", true, "2026-11-23T13:00:00Z").ok());
  CHECK(api.call("GET", "/api/ai/prompts", lia::auth::Role::agent, {}, me).status == 200);
}

TEST_CASE("without LIA_JWT_SECRET the API answers 503") {
  Api api("");
  auto r = api.call("GET", "/api/ai/assistants", lia::auth::Role::admin);
  CHECK(r.status == 503);
  CHECK(has(r.body, "LIA_JWT_SECRET"));
}

TEST_CASE("with the database unreachable the API answers 503 JSON") {
  Api api(kSecret, lia::testing::unreachable_pool());
  auto list = api.call("GET", "/api/ai/outages", lia::auth::Role::agent);
  INFO(list.body);
  CHECK(list.status == 503);
  CHECK(error_code(list) == "unavailable");
  auto create = api.call("POST", "/api/ai/outages", lia::auth::Role::supervisor,
                         R"({"cep_prefix":"01310","region":"Paulista","description":"fibra"})");
  INFO(create.body);
  CHECK(create.status == 503);
  CHECK(error_code(create) == "unavailable");
  CHECK(api.db.count("outages") == 0);
}

TEST_CASE("prompts are listed and a new version replaces the active one") {
  Api api;
  auto list = api.call("GET", "/api/ai/prompts", lia::auth::Role::supervisor);
  REQUIRE(list.status == 200);
  CHECK(has(list.body, R"("assistant":"cobranca")"));
  CHECK(has(list.body, R"("version":"1.0.0")"));

  // The cache sees the old prompt first, then the new one after the update.
  REQUIRE(api.prompts->prompt(Assistant::suporte)->content.find("suporte técnico") !=
          std::string::npos);
  auto put = api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::admin,
                      R"({"content":"Você é a LIA do suporte, versão nova.","temperature":15})");
  REQUIRE(put.status == 200);
  CHECK(has(put.body, R"("version":"1.1.0")"));
  CHECK(api.prompts->prompt(Assistant::suporte)->content ==
        "Você é a LIA do suporte, versão nova.");
  CHECK(api.prompts->prompt(Assistant::suporte)->temperature == 15);
  CHECK(api.db.count("prompt_templates WHERE assistant_type = 'suporte'") == 2);
  CHECK(api.db.count("prompt_templates WHERE assistant_type = 'suporte' AND status = 'active'") ==
        1);
  CHECK(has(put.body, R"("changed":true)"));
  // The same PUT again (a retry after a timeout) makes no new version.
  auto again = api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::admin,
                        R"({"content":"Você é a LIA do suporte, versão nova.","temperature":15})");
  REQUIRE(again.status == 200);
  CHECK(has(again.body, R"("version":"1.1.0")"));
  CHECK(has(again.body, R"("changed":false)"));
  CHECK(api.db.count("prompt_templates WHERE assistant_type = 'suporte'") == 2);
  // Another temperature is a change.
  auto warmer = api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::admin,
                         R"({"content":"Você é a LIA do suporte, versão nova.","temperature":30})");
  CHECK(has(warmer.body, R"("version":"1.2.0")"));
  CHECK(api.db.count("prompt_templates WHERE assistant_type = 'suporte'") == 3);

  CHECK(api.call("PUT", "/api/ai/prompts/marketing", lia::auth::Role::admin, R"({"content":"x"})")
            .status == 404);
  CHECK(api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::admin, R"({"content":""})")
            .status == 400);
  const auto long_instructions =
      api.call("PUT", "/api/ai/prompts/suporte", lia::auth::Role::admin,
               R"({"content":"x","instructions":")" + std::string(32 * 1024 + 1, 'i') + R"("})");
  CHECK(long_instructions.status == 400);
  CHECK(has(long_instructions.body, "'instructions' is longer than 32 KiB"));
}

TEST_CASE("a new prompt version without instructions or temperature keeps the old ones") {
  Api api;
  REQUIRE(
      api.call("PUT", "/api/ai/prompts/comercial", lia::auth::Role::admin,
               R"({"content":"v1","instructions":"Ofereça o plano de 500 Mega.","temperature":20})")
          .status == 200);
  REQUIRE(
      api.call("PUT", "/api/ai/prompts/comercial", lia::auth::Role::admin, R"({"content":"v2"})")
          .status == 200);
  auto kept = api.prompts->prompt(Assistant::comercial);
  REQUIRE(kept);
  CHECK(kept->content == "v2");
  CHECK(kept->instructions == "Ofereça o plano de 500 Mega.");
  CHECK(kept->temperature == 20);
  // null is left out too; "" clears them.
  REQUIRE(api.call("PUT", "/api/ai/prompts/comercial", lia::auth::Role::admin,
                   R"({"content":"v3","instructions":null})")
              .status == 200);
  CHECK(api.prompts->prompt(Assistant::comercial)->instructions == "Ofereça o plano de 500 Mega.");
  REQUIRE(api.call("PUT", "/api/ai/prompts/comercial", lia::auth::Role::admin,
                   R"({"content":"v4","instructions":""})")
              .status == 200);
  CHECK(api.prompts->prompt(Assistant::comercial)->instructions.empty());
}

TEST_CASE("outages are registered, found by the tool and closed") {
  Api api;
  auto created = api.call(
      "POST", "/api/ai/outages", lia::auth::Role::supervisor,
      R"({"cep_prefix":"01310","region":"Bela Vista","description":"fibra rompida","eta":"2026-11-22T21:00:00Z"})");
  REQUIRE(created.status == 201);
  auto doc = lia::json::parse(created.body);
  REQUIRE(doc.ok());
  const std::string id = (*doc)["id"].GetString();

  PgOutages outages(api.db.pool, api.db.schema);
  auto found = outages.find("01310100");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->region == "Bela Vista");
  CHECK((*found)->eta == "2026-11-22T18:00:00-03:00");
  CHECK_FALSE(outages.find("20040002")->has_value());

  auto list = api.call("GET", "/api/ai/outages", lia::auth::Role::agent);
  CHECK(has(list.body, "Bela Vista"));
  CHECK(api.call("POST", "/api/ai/outages", lia::auth::Role::supervisor, R"({"cep_prefix":"x"})")
            .status == 400);
  CHECK(api.call("POST", "/api/ai/outages", lia::auth::Role::agent, R"({})").status == 403);
  // A year PostgreSQL has no place for: 400, not the database's 500.
  auto year_zero = api.call(
      "POST", "/api/ai/outages", lia::auth::Role::supervisor,
      R"({"cep_prefix":"01310","region":"r","description":"d","eta":"0000-01-01T00:00:00Z"})");
  CHECK(year_zero.status == 400);
  CHECK(has(year_zero.body, "'eta'"));

  CHECK(api.call("POST", "/api/ai/outages/" + id + "/close", lia::auth::Role::supervisor).status ==
        200);
  CHECK(api.call("POST", "/api/ai/outages/" + id + "/close", lia::auth::Role::supervisor).status ==
        404);
  CHECK_FALSE(outages.find("01310100")->has_value());
  CHECK(api.call("POST", "/api/ai/outages/nope/close", lia::auth::Role::supervisor).status == 400);
}

TEST_CASE("a conversation's threads are listed to supervisors, not to agents") {
  Api api;
  auto handler = std::make_shared<Handler>(
      api.db.pool, std::make_shared<const Orchestrator>(nullptr, nullptr, nullptr),
      HandlerOptions{api.db.schema, 20, 55});
  Chat chat;
  REQUIRE(handler->handle(chat.created()).ok());
  REQUIRE(handler->handle(chat.inbound("oi")).ok());
  const std::string path = "/api/ai/conversations/" + chat.conversation_id + "/threads";
  auto r = api.call("GET", path, lia::auth::Role::supervisor);
  REQUIRE(r.status == 200);
  CHECK(has(r.body, R"("message_count":1)"));
  // An agent may see only some conversations, which this service cannot tell: none here.
  CHECK(api.call("GET", path, lia::auth::Role::agent).status == 403);
  CHECK(api.call("GET", "/api/ai/conversations/xyz/threads", lia::auth::Role::supervisor).status ==
        400);
}
