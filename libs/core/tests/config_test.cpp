#include <catch2/catch.hpp>

#include <lia/core/config.hpp>

using lia::core::ConfigError;
using lia::core::Env;

TEST_CASE("typed settings with defaults") {
  auto env = Env::from_map({{"LIA_HTTP_PORT", "9000"}, {"LIA_FLAG", "yes"}, {"LIA_T", "250"}});
  CHECK(env.port("LIA_HTTP_PORT", 8080) == 9000);
  CHECK(env.port("LIA_OTHER_PORT", 8081) == 8081);
  CHECK(env.boolean("LIA_FLAG", false));
  CHECK(env.millis("LIA_T", std::chrono::milliseconds{5}).count() == 250);
  CHECK(env.string("LIA_NAME", "x") == "x");
  CHECK_NOTHROW(env.check());
}

TEST_CASE("every bad or missing setting is named") {
  auto env = Env::from_map({{"LIA_HTTP_PORT", "80a"},
                            {"LIA_WORKERS", "999"},
                            {"LIA_MODE", "fast"},
                            {"LIA_URL", "ftp://x"},
                            {"LIA_ON", "maybe"}});
  env.port("LIA_HTTP_PORT", 8080);
  env.integer("LIA_WORKERS", 2, 1, 64);
  env.one_of("LIA_MODE", "local", {"local", "openai"});
  env.url("LIA_URL", std::nullopt);
  env.boolean("LIA_ON", false);
  env.required("LIA_SECRET_THING");
  REQUIRE(env.problems().size() == 6);
  try {
    env.check();
    FAIL("check() should have thrown");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    for (const char* name :
         {"LIA_HTTP_PORT", "LIA_WORKERS", "LIA_MODE", "LIA_URL", "LIA_ON", "LIA_SECRET_THING"}) {
      INFO(name);
      CHECK(what.find(name) != std::string::npos);
    }
    CHECK(what.find("expected an integer, got '80a'") != std::string::npos);
  }
}

TEST_CASE("secrets and passwords never reach the summary") {
  auto env = Env::from_map({{"LIA_TOKEN", "s3cr3t"}, {"LIA_PG_URL", "postgresql://u:pw@h:1/db"}});
  CHECK(env.secret("LIA_TOKEN") == "s3cr3t");
  CHECK(env.pg_url("LIA_PG_URL", std::nullopt) == "postgresql://u:pw@h:1/db");
  for (const auto& [name, shown] : env.summary()) {
    CHECK(shown.find("s3cr3t") == std::string::npos);
    CHECK(shown.find("pw") == std::string::npos);
  }
  // A password given as a parameter too.
  auto query = Env::from_map(
      {{"LIA_PG_URL", "postgresql://u@h:1/db?sslmode=require&password=hunter2&connect_timeout=3"}});
  (void)query.pg_url("LIA_PG_URL", std::nullopt);
  for (const auto& [name, shown] : query.summary()) {
    INFO(shown);
    CHECK(shown.find("hunter2") == std::string::npos);
    CHECK(shown.find("connect_timeout=3") != std::string::npos);
  }
}

TEST_CASE("url trims the trailing slash and empty values count as unset") {
  auto env = Env::from_map({{"LIA_GRAPH", "http://127.0.0.1:9/v19.0/"}, {"LIA_EMPTY", ""}});
  CHECK(env.url("LIA_GRAPH", std::nullopt) == "http://127.0.0.1:9/v19.0");
  CHECK(env.string("LIA_EMPTY", "fallback") == "fallback");
}

TEST_CASE("ip_address takes numeric IPv4 and IPv6 addresses and names anything else") {
  auto env = Env::from_map({{"LIA_HTTP_ADDRESS", "127.0.0.1"}, {"LIA_V6", "::1"}});
  CHECK(env.ip_address("LIA_HTTP_ADDRESS", "0.0.0.0") == "127.0.0.1");
  CHECK(env.ip_address("LIA_V6", "0.0.0.0") == "::1");
  CHECK(env.ip_address("LIA_UNSET", "0.0.0.0") == "0.0.0.0");
  CHECK(env.problems().empty());
  for (const char* bad : {"localhost", "127.0.0.256", "10.0.0.1:80", "0"}) {
    auto b = Env::from_map({{"LIA_HTTP_ADDRESS", bad}});
    (void)b.ip_address("LIA_HTTP_ADDRESS", "0.0.0.0");
    REQUIRE(b.problems().size() == 1);
    CHECK(b.problems()[0].find("LIA_HTTP_ADDRESS") == 0);
  }
}
