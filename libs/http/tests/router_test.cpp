#include <stdexcept>

#include <catch2/catch.hpp>

#include <lia/http/router.hpp>

using namespace lia::http;

namespace {
SyncHandler answer(int status) {
  return [status](const Request&) { return Response::json(status, "{}"); };
}
}  // namespace

TEST_CASE("routes match literal paths and capture decoded parameters") {
  Router r;
  r.add("POST", "/webhooks/evolution/{event}", answer(200));
  r.add("GET", "/conversations/{id}/messages/{message_id}", answer(201));
  r.add("GET", "/", answer(202));

  StringMap params;
  auto m = r.match("POST", "/webhooks/evolution/messages-upsert", &params);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(m.endpoint->pattern == "/webhooks/evolution/{event}");
  CHECK(params.at("event") == "messages-upsert");

  params.clear();
  m = r.match("GET", "/conversations/c%201/messages/42", &params);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(params.at("id") == "c 1");
  CHECK(params.at("message_id") == "42");
  CHECK(m.endpoint->sync(Request{}).status == 201);

  m = r.match("GET", "/", nullptr);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(m.endpoint->pattern == "/");
}

TEST_CASE("unknown paths are not found, empty segments never match a parameter") {
  Router r;
  r.add("POST", "/webhooks/evolution/{event}", answer(200));
  CHECK(r.match("POST", "/webhooks/evolution", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "/webhooks/evolution/", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "/webhooks/evolution/a/b", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "/webhooks/evolution/a/", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "/other", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "", nullptr).outcome == Router::Outcome::not_found);
  CHECK(r.match("POST", "webhooks", nullptr).outcome == Router::Outcome::not_found);
}

TEST_CASE("a known path with another method is 405 and lists what is allowed") {
  Router r;
  r.add("GET", "/users/{id}", answer(200));
  r.add("DELETE", "/users/{id}", answer(204));
  r.add("PUT", "/users/me", answer(200));
  auto m = r.match("POST", "/users/7", nullptr);
  CHECK(m.outcome == Router::Outcome::method_not_allowed);
  CHECK(m.allow == "GET, DELETE");
  // Both patterns match /users/me: the Allow list is their union, without repeats.
  m = r.match("POST", "/users/me", nullptr);
  CHECK(m.outcome == Router::Outcome::method_not_allowed);
  CHECK(m.allow == "PUT, GET, DELETE");
}

TEST_CASE("literal segments win over parameters whatever the order of add") {
  Router r;
  r.add("GET", "/users/{id}", answer(200));
  r.add("GET", "/users/me", answer(201));
  r.add("GET", "/users/{id}/profile", answer(202));
  StringMap params;
  auto m = r.match("GET", "/users/me", &params);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(m.endpoint->pattern == "/users/me");
  CHECK(params.empty());
  // A method only the parameter route has still reaches it.
  r.add("DELETE", "/users/{id}", answer(204));
  m = r.match("DELETE", "/users/me", &params);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(m.endpoint->pattern == "/users/{id}");
  CHECK(params.at("id") == "me");
}

TEST_CASE("HEAD falls back to GET and methods are normalized to upper case") {
  Router r;
  r.add("get", "/healthz", answer(200));
  auto m = r.match("HEAD", "/healthz", nullptr);
  REQUIRE(m.outcome == Router::Outcome::found);
  CHECK(m.endpoint->method == "GET");
  CHECK(r.match("GET", "/healthz", nullptr).outcome == Router::Outcome::found);
}

TEST_CASE("endpoints are indexed by id and keep their options") {
  Router r;
  r.add("GET", "/a", answer(200));
  r.add("POST", "/b", [](Request&&, const Responder&) {});
  r.add("GET", "/c", answer(200), RouteOptions{.blocking = true});
  REQUIRE(r.endpoints().size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(r.endpoints()[i]->id == i);
  CHECK(r.endpoints()[1]->async);
  CHECK_FALSE(r.endpoints()[1]->sync);
  CHECK(r.endpoints()[2]->blocking);
  CHECK(r.has_pattern("/b"));
  CHECK_FALSE(r.has_pattern("/d"));
}

TEST_CASE("bad patterns and duplicates are refused at start-up") {
  Router r;
  r.add("GET", "/a/{x}", answer(200));
  CHECK_THROWS_AS(r.add("GET", "/a/{x}", answer(200)), std::invalid_argument);
  CHECK_THROWS_AS(r.add("POST", "/a/{y}", answer(200)), std::invalid_argument);  // same shape
  CHECK_THROWS_AS(r.add("GET", "no-slash", answer(200)), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/a/x{y}", answer(200)), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/a/{}", answer(200)), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/b/{x}/{x}", answer(200)), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/c", SyncHandler{}), std::invalid_argument);
  CHECK_NOTHROW(r.add("POST", "/a/{x}", answer(200)));  // another method, same spelling
}

TEST_CASE("a Responder made for tests hands over one answer, or a 500 when dropped") {
  std::vector<Response> got;
  {
    Responder r = Responder::to([&](Response&& res) { got.push_back(std::move(res)); });
    // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): the copy is what is tested
    Responder copy = r;
    CHECK_FALSE(r.answered());
    copy(Response::json(202, R"({"queued":true})"));
    r(Response::json(500, "{}"));  // ignored: one answer per request
    CHECK(r.answered());
  }
  REQUIRE(got.size() == 1);
  CHECK(got[0].status == 202);

  got.clear();
  {
    Responder forgotten = Responder::to([&](Response&& res) { got.push_back(std::move(res)); });
  }
  REQUIRE(got.size() == 1);
  CHECK(got[0].status == 500);

  // An async handler can be unit-tested through it.
  Router router;
  router.add("POST", "/hooks/{kind}", [](Request&& req, const Responder& respond) {
    respond(Response::json(200, "{\"kind\":\"" + *req.param("kind") + "\"}"));
  });
  Request req;
  auto m = router.match("POST", "/hooks/meta", &req.params);
  REQUIRE(m.outcome == Router::Outcome::found);
  got.clear();
  m.endpoint->async(std::move(req), Responder::to([&](Response&& res) { got.push_back(res); }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].body == R"({"kind":"meta"})");
}
