// The real lia-conversation binary: settings, --migrate, the admin user and the API.
// Its Kafka bootstrap points nowhere, so it never consumes or publishes the shared dev
// broker's topics (the handlers' Kafka-free tests cover the consumers).
#include <csignal>
#include <regex>
#include <thread>

#include <lia/http/client.hpp>

#include "support.hpp"

using namespace lia;
using lia::testing::Process;
using namespace std::chrono_literals;

namespace {

std::string binary() {
  return testing::binary("lia-conversation");
}

int ready_port(const Process& p) {
  static const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  std::smatch m;
  const std::string out = p.output();
  return std::regex_search(out, m, ready) ? std::stoi(m[1]) : 0;
}

}  // namespace

TEST_CASE("a binary waiting for its migrations stops at once on SIGTERM") {
  const auto schema = testing::unique_name("convwait");
  Process svc({binary()}, {{"LIA_CONVERSATION_SCHEMA", schema},
                           {"LIA_PG_URL", testing::pg_url()},
                           {"LIA_KAFKA_BOOTSTRAP", "127.0.0.1:1"},
                           {"LIA_HTTP_PORT", "0"},
                           {"LIA_JWT_SECRET", "process-test-secret-0123456789abcdef"}});
  REQUIRE(testing::wait_until(
      [&] {
        return svc.output().find("waiting for the schema's migrations") != std::string::npos ||
               !svc.running();
      },
      30s));
  svc.signal(SIGTERM);
  INFO(svc.output());
  CHECK(svc.wait(10s) == std::optional<int>(0));
  CHECK(svc.output().find("stopped while waiting for the schema's migrations") !=
        std::string::npos);
}

TEST_CASE("a binary that cannot read its schema's migrations waits for the database") {
  // A failover during a rollout: new code must not start on a schema it could not check.
  Process svc({binary()}, {{"LIA_PG_URL", "postgresql://lia@127.0.0.1:1/lia?connect_timeout=2"},
                           {"LIA_KAFKA_BOOTSTRAP", "127.0.0.1:1"},
                           {"LIA_HTTP_PORT", "0"},
                           {"LIA_JWT_SECRET", "process-test-secret-0123456789abcdef"}});
  const auto waiting = [&] {
    return svc.output().find("cannot read the schema's migrations: waiting for the database") !=
           std::string::npos;
  };
  REQUIRE(testing::wait_until([&] { return waiting() || !svc.running(); }, 30s));
  INFO(svc.output());
  REQUIRE(waiting());
  std::this_thread::sleep_for(3s);  // another round of the wait: still not started
  CHECK(svc.running());
  CHECK(ready_port(svc) == 0);
  svc.signal(SIGTERM);
  CHECK(svc.wait(10s) == std::optional<int>(0));
}

TEST_CASE("the binary refuses to start without LIA_JWT_SECRET, or with a short one") {
  Process missing({binary()}, {{"LIA_JWT_SECRET", ""}, {"LIA_HTTP_PORT", "0"}});
  REQUIRE(missing.wait(10s) == std::optional<int>(2));
  CHECK(missing.output().find("LIA_JWT_SECRET: is required but not set") != std::string::npos);

  Process bad_ttl({binary()}, {{"LIA_JWT_SECRET", "0123456789abcdef0123456789abcdef"},
                               {"LIA_JWT_TTL_MS", "soon"}});
  REQUIRE(bad_ttl.wait(10s) == std::optional<int>(2));
  CHECK(bad_ttl.output().find("LIA_JWT_TTL_MS") != std::string::npos);

  // Checked with the other settings, each named, before anything connects.
  Process short_secret({binary()}, {{"LIA_JWT_SECRET", "s3cr3t"},
                                    {"LIA_ADMIN_PASSWORD", "pw"},
                                    {"LIA_HTTP_PORT", "x"},
                                    // ai_orchestration's bounds too (1 min to 90 days)
                                    {"LIA_CAMPAIGN_ANSWER_WINDOW_MS", "7776000001"},
                                    {"LIA_PG_URL", testing::pg_url()},
                                    {"LIA_KAFKA_BOOTSTRAP", "127.0.0.1:1"}});
  REQUIRE(short_secret.wait(20s) == std::optional<int>(2));
  const auto out = short_secret.output();
  CHECK(out.find("LIA_JWT_SECRET: must be at least 32 bytes long") != std::string::npos);
  CHECK(out.find("LIA_ADMIN_PASSWORD: must be at least 8 characters long") != std::string::npos);
  CHECK(out.find("LIA_HTTP_PORT") != std::string::npos);
  CHECK(out.find("LIA_CAMPAIGN_ANSWER_WINDOW_MS: must be between 60000 and 7776000000") !=
        std::string::npos);
  CHECK(out.find("lia-conversation: ") == 0);
  CHECK(out.find("s3cr3t") == std::string::npos);  // a secret is never shown
  CHECK(out.find("\"msg\":\"starting\"") == std::string::npos);

  // Longer than the login takes: such an admin could never log in.
  Process long_password({binary()}, {{"LIA_JWT_SECRET", "0123456789abcdef0123456789abcdef"},
                                     {"LIA_ADMIN_PASSWORD", std::string(257, 'p')}});
  REQUIRE(long_password.wait(20s) == std::optional<int>(2));
  CHECK(long_password.output().find("LIA_ADMIN_PASSWORD: must be at most 256 bytes") !=
        std::string::npos);
}

TEST_CASE("the binary waits for its migrations, then creates admin and serves the API") {
  const auto schema = testing::unique_name("convproc");
  const std::map<std::string, std::string> env{
      {"LIA_CONVERSATION_SCHEMA", schema},
      {"LIA_PG_URL", testing::pg_url()},
      {"LIA_KAFKA_BOOTSTRAP", "127.0.0.1:1"},
      {"LIA_HTTP_PORT", "0"},
      // Both as Kubernetes Secrets made from files
      // (the newline `openssl rand` writes): the JWT
      // key is taken as it is, the admin password
      // without its newline.
      {"LIA_JWT_SECRET", "process-test-secret-0123456789abcdef\n"},
      {"LIA_ADMIN_PASSWORD", "admin-pass-123\n"}};
  struct Drop {
    std::string schema;
    ~Drop() { testing::drop_schema(schema); }
  } drop{schema};

  // Started before the migration Job has run (a rollout): it waits, naming what is missing,
  // and serves nothing on the old schema.
  Process svc({binary()}, env);
  const auto waiting = [&] {
    return svc.output().find("waiting for the schema's migrations") != std::string::npos;
  };
  REQUIRE(testing::wait_until([&] { return waiting() || !svc.running(); }, 30s));
  INFO(svc.output());
  REQUIRE(waiting());
  CHECK(svc.output().find("lia-conversation --migrate") != std::string::npos);
  CHECK(svc.output().find("lia.platform 0001_") != std::string::npos);
  CHECK(svc.output().find("conversation 0001_core") != std::string::npos);
  CHECK(ready_port(svc) == 0);
  {
    // Its port answers the probes meanwhile: alive, not ready (no restart by a startup probe).
    static const std::regex listening(
        R"("msg":"http server listening","address":"[^"]*","port":([0-9]+))");
    std::smatch m;
    std::string out;
    // (its line may come just after the waiting one)
    REQUIRE(testing::wait_until(
        [&] {
          out = svc.output();
          return std::regex_search(out, m, listening);
        },
        30s));
    const std::string probes = "http://127.0.0.1:" + std::string(m[1]);
    http::Client client;
    auto health = client.get(probes + "/healthz");
    REQUIRE(health.ok());
    CHECK(health->status == 200);
    auto ready = client.get(probes + "/readyz");
    REQUIRE(ready.ok());
    CHECK(ready->status == 503);
    CHECK(ready->body.find("waiting for migrations") != std::string::npos);
  }

  Process migrate({binary(), "--migrate"}, env);
  REQUIRE(migrate.wait(30s) == std::optional<int>(0));
  CHECK(migrate.output().find("migrations applied") != std::string::npos);

  // Within seconds of the migrations, it starts.
  REQUIRE(testing::wait_until([&] { return ready_port(svc) != 0 || !svc.running(); }, 30s));
  const int port = ready_port(svc);
  INFO(svc.output());
  REQUIRE(port != 0);
  CHECK(svc.output().find("admin-pass-123") == std::string::npos);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  http::Client client;
  auto login =
      client.post(base + "/api/auth/login", R"({"username":"admin","password":"admin-pass-123"})");
  REQUIRE(login.ok());
  REQUIRE(login->status == 200);
  auto body = json::parse(login->body);
  REQUIRE(body.ok());
  const std::string token = (*body)["token"].GetString();
  CHECK((*body)["user"]["role"] == "ADMIN");

  http::ClientRequest users;
  users.url = base + "/api/users";
  users.headers.add("Authorization", "Bearer " + token);
  auto list = client.request(users);
  REQUIRE(list.ok());
  CHECK(list->status == 200);
  CHECK(list->body.find("\"username\":\"admin\"") != std::string::npos);

  auto anonymous = client.get(base + "/api/conversations");
  REQUIRE(anonymous.ok());
  CHECK(anonymous->status == 401);
  auto health = client.get(base + "/healthz");
  REQUIRE(health.ok());
  CHECK(health->status == 200);
}
