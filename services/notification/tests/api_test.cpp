// GET /api/outbound/{command_id}: JWT, roles, and the send record it returns.
#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/events/names.hpp>
#include <lia/http/client.hpp>
#include <lia/json/json.hpp>
#include <lia/notification/app.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/testing/pg.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::notification;
using namespace lia::notification::test;

namespace {

constexpr const char* kSecret = "jwt-test-secret";
constexpr const char* kMaria = "0190e0a4-0000-7000-8000-000000000001";

std::string bearer(auth::Role role, const std::string& secret = kSecret) {
  auth::Claims c;
  c.subject = kMaria;
  c.username = "maria";
  c.role = role;
  c.issued_at = core::SystemClock::instance().now_ms() / 1000;
  c.expires_at = c.issued_at + 3600;
  return "Bearer " + auth::sign_jwt(c, secret);
}

// A command sent through the fixture's sandbox; its id.
std::string sent_command(Fixture& fx) {
  auto id = new_id();
  REQUIRE(fx.handler
              ->handle(fx.command(events::types::notification_send_text,
                                  Fixture::text_data(id, "meta", "5511987654321", "Olá")))
              .ok());
  return id;
}

}  // namespace

TEST_CASE("GET /api/outbound/{command_id} shows a send to supervisors and admins only") {
  Fixture fx;
  const auto id = sent_command(fx);

  http::Router router;
  add_routes(router, fx.store, kSecret);
  http::Server api(http::ServerOptions{.address = "127.0.0.1"}, std::move(router));
  REQUIRE(api.start().ok());
  const std::string base = "http://127.0.0.1:" + std::to_string(api.port()) + "/api/outbound/";
  http::Client client;
  auto get = [&](const std::string& target, const std::optional<std::string>& auth) {
    http::ClientRequest req{.method = "GET", .url = base + target};
    if (auth) req.headers.add("Authorization", *auth);
    auto res = client.request(req);
    REQUIRE(res.ok());
    return *res;
  };

  auto none = get(id, std::nullopt);
  CHECK(none.status == 401);
  CHECK(none.body.find("\"unauthorized\"") != std::string::npos);
  CHECK(get(id, bearer(auth::Role::supervisor, "other-secret")).status == 401);
  auto agent = get(id, bearer(auth::Role::agent));
  CHECK(agent.status == 403);
  CHECK(agent.body.find("\"forbidden\"") != std::string::npos);
  CHECK(get("not-a-uuid", bearer(auth::Role::admin)).status == 400);
  CHECK(get(new_id(), bearer(auth::Role::admin)).status == 404);

  auto ok = get(id, bearer(auth::Role::supervisor));
  REQUIRE(ok.status == 200);
  auto doc = json::parse(ok.body);
  REQUIRE(doc.ok());
  auto& d = *doc;
  CHECK(std::string(d["command_id"].GetString()) == id);
  CHECK(std::string(d["status"].GetString()) == "sent");
  CHECK(std::string(d["provider"].GetString()) == "meta");
  CHECK(std::string(d["type"].GetString()) == "send_text");
  CHECK(std::string(d["text"].GetString()) == "Olá");
  CHECK(d["attempts"].GetInt() == 1);
  CHECK(std::string(d["provider_message_id"].GetString()) ==
        fx.sandbox.sends().at(0).provider_message_id);
  CHECK(std::string(d["delivery_status"].GetString()) == "SERVER_ACK");
  CHECK(d.HasMember("sent_at"));
  CHECK(get(id, bearer(auth::Role::admin)).status == 200);
  api.stop(std::chrono::seconds{1});
}

TEST_CASE("a supervisor deactivated or demoted in conversation stops reading sends at once") {
  Fixture fx;
  const auto id = sent_command(fx);
  auto users = std::make_shared<runtime::DeskUsers>(fx.pool, fx.schema);
  auto upserted = [&](const std::string& role, bool active, const std::string& at) {
    const std::string data = std::string(R"({"user_id":")") + kMaria +
                             R"(","name":"Maria","email":"m@example.com","role":")" + role +
                             R"(","active":)" + (active ? "true" : "false") + R"(,"updated_at":")" +
                             at + R"("})";
    kafka::Message m;
    m.topic = std::string(events::topics::users);
    m.key = kMaria;
    m.value = events::encode(
        events::make_event(events::types::user_upserted, 1, "/lia/conversation", "", data));
    return users->apply(m);
  };
  http::Router router;
  add_routes(router, fx.store, kSecret, users);
  http::Server api(http::ServerOptions{.address = "127.0.0.1"}, std::move(router));
  REQUIRE(api.start().ok());
  http::Client client;
  auto get = [&] {
    http::ClientRequest req{
        .method = "GET",
        .url = "http://127.0.0.1:" + std::to_string(api.port()) + "/api/outbound/" + id};
    req.headers.add("Authorization", bearer(auth::Role::supervisor));
    auto res = client.request(req);
    REQUIRE(res.ok());
    return res->status;
  };
  // Not heard of yet: the token decides.
  CHECK(get() == 200);
  REQUIRE(upserted("SUPERVISOR", false, "2026-11-23T11:00:00Z").ok());
  CHECK(get() == 401);
  REQUIRE(upserted("AGENT", true, "2026-11-23T12:00:00Z").ok());
  CHECK(get() == 403);
  REQUIRE(upserted("SUPERVISOR", true, "2026-11-23T13:00:00Z").ok());
  CHECK(get() == 200);
  api.stop(std::chrono::seconds{1});
}

TEST_CASE("with the database unreachable GET /api/outbound/{command_id} answers 503 JSON") {
  Fixture fx;
  http::Router router;
  add_routes(router, std::make_shared<OutboundStore>(lia::testing::unreachable_pool(), fx.schema),
             kSecret);
  http::Server api(http::ServerOptions{.address = "127.0.0.1"}, std::move(router));
  REQUIRE(api.start().ok());
  http::ClientRequest req{
      .method = "GET",
      .url = "http://127.0.0.1:" + std::to_string(api.port()) + "/api/outbound/" + new_id()};
  req.headers.add("Authorization", bearer(auth::Role::supervisor));
  http::Client client;
  auto res = client.request(req);
  REQUIRE(res.ok());
  INFO(res->body);
  CHECK(res->status == 503);
  const auto* type = res->header("Content-Type");
  CHECK((type != nullptr && type->find("application/json") != std::string::npos));
  auto doc = json::parse(res->body);
  REQUIRE(doc.ok());
  REQUIRE(doc->IsObject());
  REQUIRE(doc->HasMember("error"));
  CHECK(std::string((*doc)["error"]["code"].GetString()) == "unavailable");
  api.stop(std::chrono::seconds{1});
}
