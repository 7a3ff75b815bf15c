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
  // A password with characters that end a URL's parts; a '/' must be percent-encoded.
  for (const auto& [url, hidden] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://lia:ab/c+d==@db:5432/lia", "postgresql://lia:***@db:5432/lia"},
           {"postgresql://lia:ab?cd@db/lia", "postgresql://lia:***@db/lia"},
           {"postgresql://lia:ab#c@d@db/lia?sslmode=require",
            "postgresql://lia:***@db/lia?sslmode=require"}}) {
    auto odd = Env::from_map({{"LIA_PG_URL", url}});
    (void)odd.pg_url("LIA_PG_URL", std::nullopt);
    REQUIRE(odd.summary().size() == 1);
    CHECK(odd.summary()[0].second == hidden);
    CHECK(odd.problems().size() == (url.find("ab/") != std::string::npos ? 1U : 0U));
  }
  auto slash = Env::from_map({{"LIA_PG_URL", "postgresql://lia:ab/c@db/lia"}});
  (void)slash.pg_url("LIA_PG_URL", std::nullopt);
  REQUIRE(slash.problems().size() == 1);
  CHECK(slash.problems()[0].find("%2F") != std::string::npos);
  CHECK(slash.problems()[0].find("ab/c") == std::string::npos);
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

TEST_CASE("url refuses what an HTTP client would refuse later, and never echoes credentials") {
  for (const char* good : {"http://evolution:8080", "https://graph.facebook.com/v25.0",
                           "http://[::1]:9/x", "http://h:65535/"}) {
    INFO(good);
    auto env = Env::from_map({{"LIA_U", good}});
    (void)env.url("LIA_U", std::nullopt);
    CHECK(env.problems().empty());
  }
  for (const char* bad :
       {"https://evo:80x", "https:///x", "http://:8080", "http://h:0", "http://h:65536",
        "http://h:", "http://my host", "http://[::1", "http://h\n", "evolution:8080"}) {
    INFO(bad);
    auto env = Env::from_map({{"LIA_U", bad}});
    CHECK(env.url("LIA_U", std::nullopt).empty());
    REQUIRE(env.problems().size() == 1);
    CHECK(env.problems()[0].find("LIA_U: expected an http:// or https:// URL") == 0);
  }
  // A base whose paths would land in its query or fragment (Azure's ?api-version=).
  for (const char* bad :
       {"https://r.openai.azure.com/openai?api-version=2024-10-21", "https://h/v1#x"}) {
    INFO(bad);
    auto env = Env::from_map({{"LIA_U", bad}});
    CHECK(env.url("LIA_U", std::nullopt).empty());
    REQUIRE(env.problems().size() == 1);
    CHECK(env.problems()[0].find("paths are appended to it") != std::string::npos);
  }
  auto creds = Env::from_map({{"LIA_U", "https://user:hunter2@evo.example.com"}});
  CHECK(creds.url("LIA_U", std::nullopt).empty());
  REQUIRE(creds.problems().size() == 1);
  CHECK(creds.problems()[0].find("credentials in URLs are not supported") != std::string::npos);
  CHECK(creds.problems()[0].find("hunter2") == std::string::npos);
  for (const auto& [name, shown] : creds.summary())
    CHECK(shown.find("hunter2") == std::string::npos);
}

TEST_CASE("a credential with whitespace at an end or a control character stops the start") {
  auto env = Env::from_map({{"LIA_OK", "tok en"},
                            {"LIA_NL", "s3cr3t\n"},
                            {"LIA_SP", " s3cr3t"},
                            {"LIA_CTL", "s3\x01cr3t"}});
  CHECK(env.credential("LIA_OK") == "tok en");  // inside is the secret's own business
  CHECK(env.credential("LIA_UNSET", std::string("dflt")) == "dflt");
  CHECK(env.problems().empty());
  (void)env.credential("LIA_NL");
  (void)env.credential("LIA_SP");
  (void)env.credential("LIA_CTL");
  REQUIRE(env.problems().size() == 3);
  CHECK(env.problems()[0].find("LIA_NL: has whitespace at its start or end") == 0);
  CHECK(env.problems()[1].find("LIA_SP: has whitespace") == 0);
  CHECK(env.problems()[2].find("LIA_CTL: holds a control character") == 0);
  for (const auto& p : env.problems()) CHECK(p.find("s3cr3t") == std::string::npos);
  for (const auto& [name, shown] : env.summary()) CHECK(shown.find("s3cr3t") == std::string::npos);
}

TEST_CASE("topic names follow Kafka's rule") {
  auto env = Env::from_map(
      {{"LIA_T", "whatsapp.inbound.v1"}, {"LIA_BAD", "whatsapp inbound"}, {"LIA_DOT", ".."}});
  CHECK(env.topic("LIA_T", "x") == "whatsapp.inbound.v1");
  CHECK(env.topic("LIA_UNSET", "dflt_topic-1") == "dflt_topic-1");
  CHECK(env.problems().empty());
  (void)env.topic("LIA_BAD", "x");
  (void)env.topic("LIA_DOT", "x");
  auto long_name = Env::from_map({{"LIA_T", std::string(250, 'a')}});
  (void)long_name.topic("LIA_T", "x");
  REQUIRE(env.problems().size() == 2);
  CHECK(env.problems()[0].find("LIA_BAD: expected a Kafka topic name") == 0);
  CHECK(env.problems()[0].find("'whatsapp inbound'") != std::string::npos);
  CHECK(long_name.problems().size() == 1);
}

TEST_CASE("LIA_KAFKA_BOOTSTRAP must be host:port pairs") {
  for (const char* good : {"127.0.0.1:9092", "kafka-0.kafka:9093,kafka-1.kafka:9093",
                           "SSL://broker:9094", "[::1]:9092"}) {
    INFO(good);
    auto env = Env::from_map({{"LIA_KAFKA_BOOTSTRAP", good}});
    (void)lia::core::CommonConfig::read(env, "test", 8080);
    CHECK(env.problems().empty());
  }
  for (const char* bad : {"kafka", "kafka:", "kafka:99999", "kafka:9092,", ":9092", "kafka:90 92",
                          "http://kafka:9092/x"}) {
    INFO(bad);
    auto env = Env::from_map({{"LIA_KAFKA_BOOTSTRAP", bad}});
    (void)lia::core::CommonConfig::read(env, "test", 8080);
    REQUIRE(env.problems().size() == 1);
    CHECK(env.problems()[0].find("LIA_KAFKA_BOOTSTRAP: expected host:port") == 0);
  }
}
