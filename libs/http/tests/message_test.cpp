#include <catch2/catch.hpp>

#include <lia/http/message.hpp>

using namespace lia::http;

TEST_CASE("header lookup ignores case and keeps repeated fields") {
  Headers h{{"Content-Type", "application/json"}, {"X-Hub-Signature-256", "sha256=ab"}};
  h.add("Set-Cookie", "a=1");
  h.add("set-cookie", "b=2");
  REQUIRE(h.find("content-type") != nullptr);
  CHECK(*h.find("CONTENT-TYPE") == "application/json");
  CHECK(*h.find("x-hub-signature-256") == "sha256=ab");
  CHECK(h.find("missing") == nullptr);
  CHECK(h.size() == 4);
  CHECK(*h.find("SET-COOKIE") == "a=1");

  h.set("Set-Cookie", "c=3");
  CHECK(h.size() == 3);
  CHECK(*h.find("set-cookie") == "c=3");
  h.remove("content-type");
  CHECK_FALSE(h.contains("Content-Type"));
}

TEST_CASE("request accessors find params, query and headers") {
  Request r;
  r.params["event"] = "messages-upsert";
  r.query["hub.mode"] = "subscribe";
  r.headers.add("apikey", "k");
  REQUIRE(r.param("event") != nullptr);
  CHECK(*r.param("event") == "messages-upsert");
  CHECK(r.param("other") == nullptr);
  CHECK(*r.query_param("hub.mode") == "subscribe");
  CHECK(*r.header("APIKEY") == "k");
}

TEST_CASE("an Idempotency-Key is one field of 1..200 printable ASCII characters") {
  Request r;
  auto none = idempotency_key(r);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());

  r.headers.add("idempotency-key", "0190e0a4-8000-7abc-9def-000000000001");
  auto one = idempotency_key(r);
  REQUIRE(one);
  CHECK(one->value() == "0190e0a4-8000-7abc-9def-000000000001");

  r.headers.add("Idempotency-Key", "another");
  auto twice = idempotency_key(r);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message().find("not several") != std::string::npos);

  for (const std::string& bad :
       {std::string(), std::string(201, 'k'), std::string("a\tb"), std::string("chave-\xc3\xa7")}) {
    Request b;
    b.headers.add("Idempotency-Key", bad);
    auto e = idempotency_key(b);
    REQUIRE_FALSE(e);
    CHECK(e.error().code() == lia::core::Errc::invalid_argument);
  }
  Request longest;
  longest.headers.add("Idempotency-Key", std::string(200, 'k'));
  CHECK(idempotency_key(longest));
}

TEST_CASE("percent decoding and encoding") {
  CHECK(url_decode("a%20b%2Fc", false) == "a b/c");
  CHECK(url_decode("a+b", false) == "a+b");
  CHECK(url_decode("a+b", true) == "a b");
  CHECK(url_decode("100%", true) == "100%");    // truncated escape kept
  CHECK(url_decode("%zz%4", true) == "%zz%4");  // invalid escapes kept
  CHECK(url_decode("%C3%A9", false) == "\xC3\xA9");
  CHECK(url_encode("a b/é~") == "a%20b%2F%C3%A9~");
  CHECK(url_decode(url_encode("x=1&y=ção"), false) == "x=1&y=ção");
}

TEST_CASE("query strings parse into decoded maps") {
  auto q =
      parse_query("hub.mode=subscribe&hub.challenge=123&hub.verify_token=t%2Bk&flag&&x=a+b&x=c");
  CHECK(q.size() == 5);
  CHECK(q["hub.mode"] == "subscribe");
  CHECK(q["hub.challenge"] == "123");
  CHECK(q["hub.verify_token"] == "t+k");
  CHECK(q["flag"].empty());
  CHECK(q["x"] == "c");  // the last one wins
  CHECK(parse_query("").empty());
}

TEST_CASE("request targets split into path and query") {
  std::string path;
  StringMap query;
  REQUIRE(split_target("/webhooks/meta?a=1&b=%20", path, query));
  CHECK(path == "/webhooks/meta");
  CHECK(query.at("a") == "1");
  CHECK(query.at("b") == " ");

  REQUIRE(split_target("/plain", path, query));
  CHECK(path == "/plain");
  CHECK(query.empty());

  REQUIRE(split_target("http://example.com/x/y?z=1", path, query));
  CHECK(path == "/x/y");
  CHECK(query.at("z") == "1");
  REQUIRE(split_target("https://example.com", path, query));
  CHECK(path == "/");

  CHECK_FALSE(split_target("", path, query));
  CHECK_FALSE(split_target("*", path, query));
  CHECK_FALSE(split_target("example.com/x", path, query));
  // An escaped NUL, in the path or the query: the server answers 400.
  CHECK_FALSE(split_target("/api/users?after=ab%00zz", path, query));
  CHECK_FALSE(split_target("/api/users/x%00y", path, query));
  REQUIRE(split_target("/api/users?after=ab%2500", path, query));  // "%" then "00"
  CHECK(query.at("after") == "ab%00");
}

TEST_CASE("json_error escapes code and message") {
  auto r = json_error(400, "bad_request", "field \"phone\" is\nmissing");
  CHECK(r.status == 400);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"error":{"code":"bad_request","message":"field \"phone\" is\nmissing"}})");
}

TEST_CASE("response helpers") {
  auto j = Response::json(201, R"({"id":1})");
  CHECK(j.status == 201);
  CHECK(j.content_type == "application/json");
  auto t = Response::text(200, "hi");
  CHECK(t.content_type.rfind("text/plain", 0) == 0);
  auto e = Response::empty(204);
  CHECK(e.body.empty());
  CHECK(e.content_type.empty());
  CHECK(Response{}.status == 200);
  CHECK(reason_phrase(413) == "Payload Too Large");
  CHECK(reason_phrase(799) == "Unknown");
  CHECK(iequals("Content-Length", "content-length"));
  CHECK_FALSE(iequals("Content-Length", "content-lengt"));
}
