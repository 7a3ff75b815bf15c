#include <filesystem>
#include <regex>

#include <catch2/catch.hpp>
#include <signal.h>

#include <lia/http/client.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "probe_support.hpp"

using lia::testing::Process;
using namespace std::chrono_literals;

using lia::probe::test::migrated_probe;
using lia::probe::test::own_group;
using lia::probe::test::probe;
using lia::probe::test::ready_port;
using lia::testing::drop_schema;

TEST_CASE("bad settings stop the start with exit 2, naming every variable") {
  Process p({probe()}, {{"LIA_HTTP_PORT", "80x"},
                        {"LIA_PROBE_MODE", "loud"},
                        {"LIA_PROBE_TOKEN", ""},
                        {"LIA_LOG_LEVEL", "chatty"},
                        {"LIA_PROBE_SCHEMA", "Probe-1"},
                        {"LIA_PG_URL", "mysql://nope"}});
  auto code = p.wait(10s);
  REQUIRE(code);
  CHECK(*code == 2);
  const auto out = p.output();
  INFO(out);
  CHECK(out.find("LIA_HTTP_PORT: expected an integer, got '80x'") != std::string::npos);
  CHECK(out.find("LIA_PROBE_MODE: must be one of plain, fancy, got 'loud'") != std::string::npos);
  CHECK(out.find("LIA_PROBE_TOKEN: is required but not set") != std::string::npos);
  CHECK(out.find("LIA_LOG_LEVEL") != std::string::npos);
  CHECK(out.find("LIA_PG_URL") != std::string::npos);
  CHECK(out.find("LIA_PROBE_SCHEMA: expected a lower-case SQL name, got 'Probe-1'") !=
        std::string::npos);
}

TEST_CASE("a PostgreSQL URL libpq would refuse stops the start with exit 2, naming it") {
  Process p({probe()}, {{"LIA_PROBE_TOKEN", "t"},
                        {"LIA_PG_URL", "postgresql://lia:s3cr3t@127.0.0.1:1/lia?sslmod=require"}});
  REQUIRE(p.wait(10s) == std::optional<int>(2));
  const auto out = p.output();
  INFO(out);
  CHECK(out.find("LIA_PG_URL: libpq does not take it") != std::string::npos);
  CHECK(out.find("sslmod") != std::string::npos);
  CHECK(out.find("s3cr3t") == std::string::npos);

  // libpq quotes a malformed token back whole: a password with a stray '%' stays hidden.
  for (const char* url : {"postgresql://lia:ab%zzs3cr3t@127.0.0.1:1/lia",
                          "postgresql://lia@127.0.0.1:1/lia?password=s3%g1s3cr3t"}) {
    Process bad({probe()}, {{"LIA_PROBE_TOKEN", "t"}, {"LIA_PG_URL", url}});
    REQUIRE(bad.wait(10s) == std::optional<int>(2));
    INFO(bad.output());
    CHECK(bad.output().find("LIA_PG_URL: libpq does not take it") != std::string::npos);
    CHECK(bad.output().find("s3cr3t") == std::string::npos);
  }
}

TEST_CASE("one missing setting is named alone, and unknown arguments are refused") {
  Process missing({probe()}, {{"LIA_PROBE_TOKEN", ""}});
  REQUIRE(missing.wait(10s) == std::optional<int>(2));
  CHECK(missing.output().find("LIA_PROBE_TOKEN: is required but not set") != std::string::npos);
  CHECK(missing.output().find("LIA_HTTP_PORT") == std::string::npos);

  // --migrate checks the service's own settings too, before touching the database.
  Process migrate({probe(), "--migrate"}, {{"LIA_PROBE_TOKEN", ""}, {"LIA_PROBE_MODE", "loud"}});
  REQUIRE(migrate.wait(10s) == std::optional<int>(2));
  CHECK(migrate.output().find("LIA_PROBE_TOKEN: is required but not set") != std::string::npos);
  CHECK(migrate.output().find("LIA_PROBE_MODE") != std::string::npos);

  Process bad_arg({probe(), "--frobnicate"}, {{"LIA_PROBE_TOKEN", "t"}});
  REQUIRE(bad_arg.wait(10s) == std::optional<int>(2));
  CHECK(bad_arg.output().find("unknown argument '--frobnicate'") != std::string::npos);
}

TEST_CASE("a service migrates, serves, consumes, and stops on SIGTERM") {
  const auto schema = lia::testing::unique_name("probe");
  const auto topic = lia::testing::unique_name("probe.topic");
  const auto group = own_group();
  const std::map<std::string, std::string> env{
      {"LIA_PROBE_TOKEN", "t0k3n"},
      {"LIA_PROBE_SCHEMA", schema},
      {"LIA_PROBE_TOPIC", topic},
      {"LIA_PROBE_GROUP", group},
      {"LIA_HTTP_PORT", "0"},
      {"LIA_PG_URL", lia::testing::pg_url()},
      {"LIA_KAFKA_BOOTSTRAP", lia::testing::kafka_bootstrap()}};
  {
    Process migrate({probe(), "--migrate"}, env);
    auto code = migrate.wait(60s);
    INFO(migrate.output());
    REQUIRE(code == std::optional<int>(0));
    CHECK(migrate.output().find("migrations applied") != std::string::npos);
  }

  auto svc_env = env;
  svc_env["LIA_PG_STATEMENT_TIMEOUT_MS"] = "45000";
  Process svc({probe()}, svc_env);
  REQUIRE(lia::testing::wait_until([&] { return ready_port(svc) > 0 || !svc.running(); }, 30s));
  INFO(svc.output());
  const int port = ready_port(svc);
  REQUIRE(port > 0);
  // The token never shows in the start-up log; the schema setting is listed with the others.
  CHECK(svc.output().find("t0k3n") == std::string::npos);
  CHECK(svc.output().find("\"LIA_PROBE_SCHEMA\":\"" + schema + "\"") != std::string::npos);

  lia::http::Client client;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto health = client.get(base + "/healthz");
  REQUIRE(health.ok());
  CHECK(health->status == 200);
  auto route = client.get(base + "/probe");
  REQUIRE(route.ok());
  CHECK(route->body == R"({"mode":"plain"})");
  // The pool's sessions hold the statement timeout given and the default lock timeout.
  auto timeouts = client.get(base + "/probe/timeouts");
  REQUIRE(timeouts.ok());
  CHECK(timeouts->body == R"({"statement_timeout":"45s","lock_timeout":"30s"})");
  // Ready once its consumer has joined the group; until then /readyz names what it waits for.
  auto ready = client.get(base + "/readyz");
  REQUIRE(ready.ok());
  INFO(ready->body);
  if (ready->status != 200) {
    CHECK(ready->status == 503);
    CHECK(ready->body.find("waiting for the first assignment of group " + group) !=
          std::string::npos);
  }
  CHECK(lia::testing::wait_until(
      [&] {
        ready = client.get(base + "/readyz");
        return ready.ok() && ready->status == 200;
      },
      30s));
  CHECK(ready->body.find("postgres") != std::string::npos);
  CHECK(ready->body.find("kafka_consumers") != std::string::npos);

  // The consumer stores what arrives on the topic.
  auto producer = lia::kafka::Producer::create({lia::testing::kafka_bootstrap()});
  REQUIRE(producer.ok());
  // Sent together, so that the consumer fetches several at once (a batch).
  std::vector<decltype((*producer)->produce({}))> sent;
  sent.reserve(20);
  for (int i = 0; i < 20; ++i) {
    sent.push_back((*producer)->produce(
        {topic, "chat-" + std::to_string(i % 3), "note " + std::to_string(i)}));
  }
  for (auto& d : sent) REQUIRE(d.get().ok());
  lia::pg::PoolConfig pc;
  pc.url = lia::testing::pg_url();
  auto pool = lia::pg::Pool::create(pc);
  REQUIRE(pool.ok());
  std::int64_t stored = 0;
  lia::testing::wait_until(
      [&] {
        auto rows = (*pool)->exec("SELECT count(*) FROM " + schema + ".notes");
        stored = rows.ok() ? (*rows)[0].get<std::int64_t>(0) : -1;
        return stored == 20;
      },
      30s, 100ms);
  CHECK(stored == 20);
  // Those handled in a batch held an advisory lock on their records' keys (lock_keys); a
  // record fetched alone runs on its own, without.
  auto locked = (*pool)->exec("SELECT count(*) FROM " + schema +
                              ".notes WHERE body NOT LIKE '%[key locks 0]'");
  REQUIRE(locked.ok());
  CHECK((*locked)[0].get<std::int64_t>(0) > 0);

  auto metrics = client.get(base + "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("lia_build_info{service=\"probe\"} 1") != std::string::npos);

  svc.signal(SIGTERM);
  auto code = svc.wait(30s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(svc.output().find("\"msg\":\"stopped\"") != std::string::npos);

  lia::testing::drop_schema(**pool, schema);
}

namespace {

// Runs the probe with `hang` set, stops it with SIGTERM and a 500 ms grace, and returns its
// output once it exited with status 3 (the shutdown watch).
std::string stuck_shutdown_output(const std::string& hang) {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env[hang] = "true";
  env["LIA_SHUTDOWN_GRACE_MS"] = "500";
  Process svc({probe()}, env);
  REQUIRE(lia::testing::wait_until([&] { return ready_port(svc) > 0 || !svc.running(); }, 30s));
  INFO(svc.output());
  REQUIRE(ready_port(svc) > 0);

  svc.signal(SIGTERM);
  auto code = svc.wait(30s);
  drop_schema(schema);
  REQUIRE(code);
  CHECK(*code == 3);
  return svc.output();
}

}  // namespace

TEST_CASE("a shutdown stuck past its grace period exits with status 3, naming the step") {
  const auto out = stuck_shutdown_output("LIA_PROBE_HANG_ON_STOP");
  CHECK(out.find("shutdown did not finish within its grace period") != std::string::npos);
  CHECK(out.find(R"("step":"stopping the service")") != std::string::npos);
  CHECK(out.find(R"("msg":"stopped")") == std::string::npos);
}

TEST_CASE("a service whose teardown hangs exits with status 3 too, naming the step") {
  const auto out = stuck_shutdown_output("LIA_PROBE_HANG_WHEN_DESTROYED");
  CHECK(out.find(R"("step":"releasing the service")") != std::string::npos);
}

TEST_CASE("extra Kafka properties: bad ones stop the start naming the variable, secrets stay out") {
  Process bad({probe()}, {{"LIA_PROBE_TOKEN", "t"},
                          {"LIA_KAFKA_PROPERTIES", "linger.ms=5;no.such.property=1"},
                          {"LIA_KAFKA_SECRET_PROPERTIES", "sasl.password=hunter2;hunter3"}});
  REQUIRE(bad.wait(10s) == std::optional<int>(2));
  const auto out = bad.output();
  INFO(out);
  CHECK(out.find("LIA_KAFKA_PROPERTIES: property 'no.such.property'") != std::string::npos);
  CHECK(out.find("LIA_KAFKA_SECRET_PROPERTIES: item 2 is not name=value") != std::string::npos);
  CHECK(out.find("hunter") == std::string::npos);

  Process leaked({probe()}, {{"LIA_PROBE_TOKEN", "t"},
                             {"LIA_KAFKA_PROPERTIES", "sasl.password=hunter2"},
                             {"LIA_KAFKA_SECRET_PROPERTIES", "sasl.username=u; acks=1"}});
  REQUIRE(leaked.wait(10s) == std::optional<int>(2));
  const auto leaked_out = leaked.output();
  INFO(leaked_out);
  CHECK(leaked_out.find("LIA_KAFKA_PROPERTIES: property 'sasl.password' holds a secret: set it "
                        "in LIA_KAFKA_SECRET_PROPERTIES") != std::string::npos);
  CHECK(leaked_out.find("LIA_KAFKA_SECRET_PROPERTIES: property 'acks' can't be set here") !=
        std::string::npos);

  // One with a LIA_ setting of its own, and an inbox kept shorter than the topics' retention.
  Process owned({probe()}, {{"LIA_PROBE_TOKEN", "t"},
                            {"LIA_KAFKA_PROPERTIES", "fetch.wait.max.ms=500"},
                            {"LIA_INBOX_RETENTION_HOURS", "24"}});
  REQUIRE(owned.wait(10s) == std::optional<int>(2));
  const auto owned_out = owned.output();
  INFO(owned_out);
  CHECK(owned_out.find("LIA_KAFKA_PROPERTIES: property 'fetch.wait.max.ms' can't be set here: "
                       "set LIA_KAFKA_FETCH_WAIT_MS instead") != std::string::npos);
  CHECK(owned_out.find("LIA_INBOX_RETENTION_HOURS: must be 0 (keep every claim) or at least 720") !=
        std::string::npos);
}

TEST_CASE("extra Kafka properties reach every client (librdkafka's debug log, for one)") {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env["LIA_KAFKA_PROPERTIES"] = "debug=cgrp; client.rack=zone-a";
  env["LIA_LOG_LEVEL"] = "debug";
  Process svc({probe()}, env);
  REQUIRE(lia::testing::wait_until([&] { return ready_port(svc) > 0 || !svc.running(); }, 30s));
  const auto out = svc.output();
  REQUIRE(ready_port(svc) > 0);
  // Shown in the start-up summary, and the consumer's group debugging is on.
  CHECK(out.find(R"("LIA_KAFKA_PROPERTIES":"debug=cgrp; client.rack=zone-a")") !=
        std::string::npos);
  CHECK(out.find(R"("component":"librdkafka","client":"lia-probe#consumer)") != std::string::npos);
  CHECK(out.find(R"("facility":"CGRPSTATE")") != std::string::npos);
  // The consumer joined the case's own group (see own_group()), not the shared lia-probe.
  CHECK(out.find(R"(Group \")" + env["LIA_PROBE_GROUP"] + R"(\")") != std::string::npos);
  svc.signal(SIGTERM);
  CHECK(svc.wait(30s) == std::optional<int>(0));

  drop_schema(schema);
}

TEST_CASE("a consumer its KafkaUser could not run (group, catalog topic) stops the start") {
  const auto schema = lia::testing::unique_name("probe");
  auto env = migrated_probe(schema);
  env["LIA_PROBE_GROUP"] = "analytics-probe";  // the ACLs allow lia-probe[.-]* only
  Process svc({probe()}, env);
  REQUIRE(svc.wait(30s) == std::optional<int>(1));
  const auto out = svc.output();
  INFO(out);
  CHECK(out.find(R"("msg":"a consumer group must be named after its service","group":)"
                 R"("analytics-probe","expected_prefix":"lia-probe")") != std::string::npos);

  // A topic of the catalog that doesn't list the probe among its consumers.
  auto catalog_topic = env;
  catalog_topic["LIA_PROBE_GROUP"] = own_group();
  catalog_topic["LIA_PROBE_TOPIC"] = "whatsapp.inbound.v1";
  Process reader({probe()}, catalog_topic);
  REQUIRE(reader.wait(30s) == std::optional<int>(1));
  const auto reader_out = reader.output();
  INFO(reader_out);
  CHECK(reader_out.find(R"("msg":"the topic catalog does not list this service as a consumer )"
                        R"(of the topic","topic":"whatsapp.inbound.v1")") != std::string::npos);

  // Named after it, with a suffix: it starts.
  env["LIA_PROBE_GROUP"] = "lia-probe." + lia::testing::unique_name("notes");
  Process ok({probe()}, env);
  REQUIRE(lia::testing::wait_until([&] { return ready_port(ok) > 0 || !ok.running(); }, 30s));
  CHECK(ready_port(ok) > 0);
  ok.signal(SIGTERM);
  CHECK(ok.wait(30s) == std::optional<int>(0));
  drop_schema(schema);
}

TEST_CASE("a test process's own log file goes with it and a given one stays") {
  std::string own;
  {
    Process p({"/bin/echo", "hi"});
    REQUIRE(p.wait(5s) == std::optional<int>(0));
    CHECK(p.output() == "hi\n");
    own = p.log_path();
    CHECK(std::filesystem::exists(own));
  }
  CHECK_FALSE(std::filesystem::exists(own));

  const std::string given = own + ".given";
  {
    Process p({"/bin/echo", "kept"}, {}, given);
    REQUIRE(p.wait(5s) == std::optional<int>(0));
  }
  CHECK(std::filesystem::exists(given));
  std::filesystem::remove(given);
}
