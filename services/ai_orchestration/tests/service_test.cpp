// The real executable on a private development broker and its own schema: conversation
// events in, AI events out through the outbox relay. Nothing here touches the shared
// topics or the service's real schema.
#include <csignal>
#include <fstream>
#include <mutex>
#include <regex>

#include <catch2/catch.hpp>

#include <lia/http/client.hpp>
#include <lia/kafka/kafka.hpp>

#include "support.hpp"

using namespace lia::ai_orchestration::test;
using lia::testing::Process;
using lia::testing::wait_until;
using namespace std::chrono_literals;
namespace types = lia::events::types;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("the service answers a customer end to end on a private broker") {
  // A broker of our own.
  const std::string bootstrap_file =
      "/tmp/" + lia::testing::unique_name("ai-broker") + ".bootstrap";
  Process broker({lia::testing::binary("lia-dev-broker"), "--bootstrap-file", bootstrap_file,
                  "--partitions", "2"});
  REQUIRE(wait_until([&] { return !read_file(bootstrap_file).empty(); }, 20s));
  const std::string bootstrap = read_file(bootstrap_file);

  const std::string schema = lia::testing::unique_name("ai_svc");
  std::map<std::string, std::string> env = {
      {"LIA_PG_URL", lia::testing::pg_url()},
      {"LIA_KAFKA_BOOTSTRAP", bootstrap},
      {"LIA_AI_SCHEMA", schema},
      {"LIA_HTTP_PORT", "0"},
      {"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
      {"LIA_LOG_LEVEL", "debug"},
      {"LIA_AI_CONSUMERS", "1"}};
  struct DropSchema {
    std::string schema;
    ~DropSchema() { lia::testing::drop_schema(schema); }
  } drop{schema};

  Process migrate({lia::testing::binary("lia-ai-orchestration"), "--migrate"}, env);
  REQUIRE(migrate.wait() == 0);

  Process service({lia::testing::binary("lia-ai-orchestration")}, env);
  const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  std::string port;
  REQUIRE(wait_until(
      [&] {
        // The match points into `out`: take the port while `out` lives (ASan caught a read
        // of the freed copy once).
        const auto out = service.output();
        std::smatch m;
        if (std::regex_search(out, m, ready)) port = m[1].str();
        return !port.empty();
      },
      30s));
  const std::string base = "http://127.0.0.1:" + port;

  // What ai_orchestration publishes, read back from the private broker.
  std::mutex mu;
  std::vector<lia::events::CloudEvent> seen;
  lia::kafka::ConsumerConfig cc;
  cc.bootstrap = bootstrap;
  cc.group_id = lia::testing::unique_name("ai-reader");
  cc.topics = {"ai.events.v1"};
  auto reader = lia::kafka::Consumer::create(
      cc,
      [&](const lia::kafka::Message& msg) -> lia::core::Status {
        auto ev = lia::runtime::decode_event(msg);  // validates against the schema
        if (!ev) return ev.error();
        std::lock_guard lock(mu);
        seen.push_back(*ev);
        return lia::core::ok();
      },
      nullptr);
  REQUIRE(reader.ok());
  (*reader)->start();

  auto producer = lia::kafka::Producer::create({.bootstrap = bootstrap});
  REQUIRE(producer.ok());
  Chat chat;
  for (const auto& msg : {chat.created(), chat.inbound("Oi! Preciso da segunda via do boleto")}) {
    lia::kafka::Record rec{msg.topic, msg.key, msg.value, msg.headers};
    auto sent = (*producer)->produce(rec).get();
    REQUIRE(sent.ok());
  }

  auto count = [&](std::string_view type) {
    std::lock_guard lock(mu);
    return std::count_if(seen.begin(), seen.end(), [&](const auto& e) { return e.type == type; });
  };
  REQUIRE(wait_until([&] { return count(types::ai_reply_generated) == 1; }, 30s));
  CHECK(wait_until([&] { return count(types::ai_analysis_completed) == 1; }, 10s));
  CHECK(count(types::ai_assistant_changed) == 1);
  {
    std::lock_guard lock(mu);
    for (const auto& e : seen) {
      CHECK(e.source == "/lia/ai_orchestration");
      CHECK(e.subject == chat.conversation_id);
      if (e.type == types::ai_reply_generated) {
        CHECK(e.data.find(R"("assistant":"financeiro")") != std::string::npos);
        CHECK(e.data.find(R"("delivery":"send")") != std::string::npos);
      }
    }
  }

  lia::http::Client client;
  CHECK(client.get(base + "/healthz")->status == 200);
  CHECK(client.get(base + "/readyz")->status == 200);
  const auto metrics = client.get(base + "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("lia_ai_replies_total") != std::string::npos);
  CHECK(client.get(base + "/api/ai/assistants")->status == 401);
  // Neither the customer's message nor the reply reaches the logs: the reply's line (debug)
  // is there, with the text masked.
  CHECK(service.output().find("segunda via do boleto") == std::string::npos);
  CHECK(service.output().find("CPF do titular") == std::string::npos);
  CHECK(service.output().find(R"("text":"[masked )") != std::string::npos);

  (*reader)->close();
  service.signal(SIGTERM);
  CHECK(service.wait(30s) == 0);
  broker.signal(SIGTERM);
  broker.wait(10s);
  std::remove(bootstrap_file.c_str());
}
