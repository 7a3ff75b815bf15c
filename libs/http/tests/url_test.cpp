#include <catch2/catch.hpp>

#include <lia/http/client.hpp>

using namespace lia::http;
using lia::core::Errc;

TEST_CASE("URLs parse into scheme, host, port and target") {
  auto u = parse_url("http://127.0.0.1:8080/send/text?instance=a%20b#frag");
  REQUIRE(u.ok());
  CHECK(u->scheme == "http");
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8080);
  CHECK(u->target == "/send/text?instance=a%20b");

  u = parse_url("HTTPS://graph.facebook.com");
  REQUIRE(u.ok());
  CHECK(u->scheme == "https");
  CHECK(u->port == 443);
  CHECK(u->target == "/");

  u = parse_url("http://example.com?x=1");
  REQUIRE(u.ok());
  CHECK(u->port == 80);
  CHECK(u->target == "/?x=1");

  u = parse_url("http://[::1]:9000/v1");
  REQUIRE(u.ok());
  CHECK(u->host == "::1");
  CHECK(u->port == 9000);
}

TEST_CASE("bad URLs are invalid arguments, never retryable") {
  for (const char* bad :
       {"", "example.com/x", "ftp://example.com/", "http://", "http:///x", "http://host:0/",
        "http://host:70000/", "http://host:12a/", "http://host:/", "http://user:pw@host/",
        "http://[::1/", "http://host/a b", "http://ho st/"}) {
    INFO(bad);
    auto u = parse_url(bad);
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().code() == Errc::invalid_argument);
    CHECK_FALSE(u.error().retryable());
  }
}
