// lia-ingestion as a process against the real broker and database: 200 only once the
// records are in Kafka, forged signatures produce nothing, 400 / 413 / 503, redeliveries keep
// their event ids, and the audit log gets its rows.

#include <regex>
#include <set>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lia/auth/auth.hpp>
#include <lia/http/client.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/events.hpp>
#include <lia/testing/pg.hpp>
#include <lia/testing/testing.hpp>

#include "src/normalize.hpp"
#include "support.hpp"

using lia::ingestion::test::fixture;
using lia::ingestion::test::meta_signature;
using lia::testing::Process;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "integration-app-secret";
constexpr const char* kApikey = "integration-evolution-key";

int ready_port(const Process& p) {
  static const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  std::smatch m;
  const std::string out = p.output();
  return std::regex_search(out, m, ready) ? std::stoi(m[1]) : 0;
}

// One lia-ingestion process with topics and a schema of its own.
struct Service {
  std::string schema = lia::testing::unique_name("ingestion_t");
  std::string inbound = lia::testing::unique_name("it.inbound");
  std::string status = lia::testing::unique_name("it.status");
  std::map<std::string, std::string> env;
  std::unique_ptr<Process> process;
  std::string base;
  int port = 0;
  bool kill_at_end = false;  // a broker that never answers makes a graceful stop slow

  // `serve_only`: settings of the server alone, after the migration (e.g. a database gone).
  explicit Service(const std::map<std::string, std::string>& extra = {},
                   const std::string& bootstrap = lia::testing::kafka_bootstrap(),
                   const std::map<std::string, std::string>& serve_only = {}) {
    env = {{"LIA_META_VERIFY_TOKEN", "verify-token"},
           {"LIA_META_APP_SECRET", kSecret},
           {"LIA_EVOLUTION_APIKEY", kApikey},
           {"LIA_INGESTION_SCHEMA", schema},
           {"LIA_INGESTION_TOPIC_INBOUND", inbound},
           {"LIA_INGESTION_TOPIC_STATUS", status},
           {"LIA_HTTP_PORT", "0"},
           {"LIA_PG_URL", lia::testing::pg_url()},
           {"LIA_KAFKA_BOOTSTRAP", bootstrap}};
    for (const auto& [k, v] : extra) env[k] = v;
    Process migrate({lia::testing::binary("lia-ingestion"), "--migrate"}, env);
    const auto code = migrate.wait(60s);
    INFO(migrate.output());
    REQUIRE(code == std::optional<int>(0));
    for (const auto& [k, v] : serve_only) env[k] = v;
    process = std::make_unique<Process>(
        std::vector<std::string>{lia::testing::binary("lia-ingestion")}, env);
    REQUIRE(lia::testing::wait_until(
        [&] { return ready_port(*process) > 0 || !process->running(); }, 30s));
    INFO(process->output());
    port = ready_port(*process);
    REQUIRE(port > 0);
    base = "http://127.0.0.1:" + std::to_string(port);
  }

  ~Service() {
    if (process) {
      process->signal(kill_at_end ? SIGKILL : SIGTERM);
      (void)process->wait(30s);
    }
    lia::testing::drop_schema(schema);
  }

  lia::http::ClientResponse post(const std::string& path, const std::string& body,
                                 lia::http::Headers headers = {}) {
    static lia::http::Client client;
    headers.add("Content-Type", "application/json");
    auto r = client.request(
        {.method = "POST", .url = base + path, .headers = headers, .body = body, .timeout = 30s});
    INFO((r.ok() ? std::string() : r.error().describe()));
    REQUIRE(r.ok());
    return *r;
  }
  lia::http::ClientResponse post_meta(const std::string& body) {
    return post("/webhooks/meta", body, {{"X-Hub-Signature-256", meta_signature(kSecret, body)}});
  }
};

// Reads every record of the topics from the start (a fresh group) until `want` arrived.
std::vector<lia::kafka::Message> consume(const std::vector<std::string>& topics, std::size_t want,
                                         std::chrono::milliseconds timeout = 30s) {
  auto seen = std::make_shared<std::vector<lia::kafka::Message>>();
  auto mu = std::make_shared<std::mutex>();
  lia::kafka::ConsumerConfig cc;
  cc.bootstrap = lia::testing::kafka_bootstrap();
  cc.group_id = lia::testing::unique_name("it.reader");
  cc.topics = topics;
  cc.session_timeout = 6000ms;
  cc.heartbeat_interval = 500ms;
  auto consumer = lia::kafka::Consumer::create(
      cc,
      [seen, mu](const lia::kafka::Message& m) {
        std::lock_guard lock(*mu);
        seen->push_back(m);
        return lia::core::Status{};
      },
      nullptr);
  REQUIRE(consumer.ok());
  (*consumer)->start();
  lia::testing::wait_until(
      [&] {
        std::lock_guard lock(*mu);
        return seen->size() >= want;
      },
      timeout, 50ms);
  (*consumer)->close();
  std::lock_guard lock(*mu);
  return *seen;
}

// Announces a body of `length` bytes (by default one past Meta's 4 MiB limit), sends a little
// of it, and reads the answer (a raw socket: the client would block writing the
// megabytes the server won't read).
std::string post_oversized(int port, const std::string& path = "/webhooks/meta",
                           std::size_t length = std::size_t{4} * 1024 * 1024 + 1) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string head = "POST " + path +
                           " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           "X-Hub-Signature-256: sha256=00\r\napikey: " +
                           kApikey + "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" +
                           std::string(1024, ' ');
  REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  std::string got;
  char buf[4096];
  for (;;) {  // the answer, to the server's close after it
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

lia::events::CloudEvent decode(const lia::kafka::Message& m) {
  auto ev = lia::runtime::decode_event(m);
  INFO(m.value);
  REQUIRE(ev.ok());
  return *ev;
}

std::int64_t count_rows(const std::string& schema, const std::string& where) {
  lia::pg::PoolConfig pc;
  pc.url = lia::testing::pg_url();
  auto pool = lia::pg::Pool::create(pc);
  REQUIRE(pool.ok());
  auto rows = (*pool)->exec("SELECT count(*) FROM " + schema + ".webhook_events WHERE " + where);
  REQUIRE(rows.ok());
  return (*rows)[0].get<std::int64_t>(0);
}

}  // namespace

TEST_CASE("a signed Meta webhook: 200 after the acks, every event in Kafka, audited as processed") {
  Service svc;
  auto res = svc.post_meta(fixture("meta_multi.json"));
  INFO(res.body);
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"accepted":5,"ignored":1})");  // the template status update

  // The 200 came after the acks: the records are there to be read.
  const auto records = consume({svc.inbound, svc.status}, 5);
  REQUIRE(records.size() == 5);
  std::size_t inbound = 0;
  for (const auto& m : records) {
    const auto ev = decode(m);
    if (m.topic == svc.inbound) {
      ++inbound;
      CHECK(ev.type == "lia.whatsapp.message.received");
    } else {
      CHECK(ev.type == "lia.whatsapp.message.status");
    }
    CHECK(m.key.rfind("106540352242922:55", 0) == 0);
  }
  CHECK(inbound == 3);

  // One processed row per event (written when Kafka acknowledged it).
  std::int64_t processed = 0;
  lia::testing::wait_until(
      [&] {
        processed = count_rows(svc.schema, "status = 'processed'");
        return processed == 5;
      },
      30s, 100ms);
  CHECK(processed == 5);
  CHECK(count_rows(svc.schema, "provider_message_id = 'wamid.MULTI.3' AND detail = 'image'") == 1);
}

TEST_CASE("a forged signature is 401 and produces nothing, broken JSON is 400, oversized is 413") {
  Service svc;
  const auto body = fixture("meta_text.json");
  auto forged = svc.post("/webhooks/meta", body,
                         {{"X-Hub-Signature-256", meta_signature("not-the-secret", body)}});
  CHECK(forged.status == 401);
  CHECK(forged.body.find("\"unauthorized\"") != std::string::npos);
  auto unsigned_ = svc.post("/webhooks/meta", body);
  CHECK(unsigned_.status == 401);

  auto broken = svc.post_meta("{\"object\": \"whatsapp_business_account\", \"entry\": [");
  CHECK(broken.status == 400);
  CHECK(broken.body.find("invalid JSON") != std::string::npos);
  auto shape =
      svc.post_meta(R"({"object":"whatsapp_business_account","entry":[{"changes":"no"}]})");
  CHECK(shape.status == 400);
  CHECK(shape.body.find("entry[0].changes") != std::string::npos);

  const auto oversized = post_oversized(svc.port);
  CHECK(oversized.rfind("HTTP/1.1 413", 0) == 0);

  // Then one valid webhook: it is the only record on the topics, so nothing came before it.
  auto ok = svc.post_meta(body);
  REQUIRE(ok.status == 200);
  const auto records = consume({svc.inbound, svc.status}, 1);
  REQUIRE(records.size() == 1);
  CHECK(decode(records[0]).id ==
        lia::ingestion::message_event_id(
            lia::ingestion::Provider::meta, "106540352242922",
            "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBCQjM3RTk5QkI3N0Y5NDQwAA=="));

  // Every rejected request is in the audit log (written off the request path).
  std::int64_t rejected = 0;
  lia::testing::wait_until(
      [&] {
        rejected = count_rows(svc.schema, "status = 'rejected' AND event_kind = 'webhook'");
        return rejected == 4;
      },
      30s, 100ms);
  CHECK(rejected == 4);
  CHECK(count_rows(svc.schema, "http_status = 401 AND body_sha256 = '" +
                                   lia::auth::to_hex(lia::auth::sha256(body)) + "'") == 2);
}

TEST_CASE("the same webhook delivered twice carries the same event ids (audit by the consumer)") {
  Service svc(std::map<std::string, std::string>{{"LIA_INGESTION_AUDIT_CONSUMER", "true"}});
  const auto body = fixture("evo_image.json");
  const lia::http::Headers key{{"apikey", kApikey}};
  REQUIRE(svc.post("/webhooks/evolution", body, key).status == 200);
  REQUIRE(svc.post("/webhooks/evolution/messages-upsert", body, key).status == 200);
  const auto records = consume({svc.inbound}, 2);
  REQUIRE(records.size() == 2);
  const auto a = decode(records[0]);
  const auto b = decode(records[1]);
  CHECK(a.id == b.id);
  CHECK(records[0].key == records[1].key);
  CHECK(records[0].key == "lia-vendas:5511987654321@s.whatsapp.net");
  // The audit consumer keeps one row per event.
  std::int64_t processed = 0;
  lia::testing::wait_until(
      [&] {
        processed = count_rows(svc.schema, "id = '" + a.id + "' AND status = 'processed'");
        return processed == 1;
      },
      30s, 100ms);
  CHECK(processed == 1);
}

TEST_CASE(
    "an Evolution webhook with a wrong apikey is 401, one we don't publish is 200 accepted 0") {
  Service svc;
  auto wrong =
      svc.post("/webhooks/evolution", fixture("evo_conversation.json"), {{"apikey", "nope"}});
  CHECK(wrong.status == 401);
  auto ignored = svc.post("/webhooks/evolution/contacts-update",
                          fixture("evo_contacts_update.json"), {{"apikey", kApikey}});
  CHECK(ignored.status == 200);
  CHECK(ignored.body == R"({"accepted":0,"ignored":1})");
  auto lid =
      svc.post("/webhooks/evolution", fixture("evo_lid_unresolved.json"), {{"apikey", kApikey}});
  CHECK(lid.status == 200);
  CHECK(lid.body == R"({"accepted":0,"rejected":1})");

  // A media message with its file inlined as base64: 40 MiB, past what the route keeps
  // (24 MiB), is accepted: the file is dropped as it arrives.
  std::string video = fixture("evo_video.json");
  const std::string message_key = R"("message": {)";
  const auto at = video.find(message_key);
  REQUIRE(at != std::string::npos);
  video.insert(at + message_key.size(),
               R"("base64": ")" + std::string(std::size_t{40} * 1024 * 1024, 'A') + "\",");
  auto media = svc.post("/webhooks/evolution", video, {{"apikey", kApikey}});
  CHECK(media.status == 200);
  CHECK(media.body == R"({"accepted":1})");
  // Past what Evolution's routes read (192 MiB): 413 with the headers (Meta's route says 413
  // from 4 MiB on, in the test above).
  const auto wire =
      post_oversized(svc.port, "/webhooks/evolution", std::size_t{192} * 1024 * 1024 + 1);
  CHECK(wire.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(wire.find("exceeds 201326592 bytes") != std::string::npos);

  std::int64_t rows = 0;
  lia::testing::wait_until(
      [&] {
        rows = count_rows(
            svc.schema,
            "detail = 'lid_unresolved' AND provider_message_id = '3EB0LID0000000000003'");
        return rows == 1;
      },
      30s, 100ms);
  CHECK(rows == 1);
}

TEST_CASE("with the database gone the gateway stays ready and accepts webhooks") {
  Service svc({{"LIA_INGESTION_AUDIT_CONSUMER", "false"}}, lia::testing::kafka_bootstrap(),
              {{"LIA_PG_URL", "postgresql://lia@127.0.0.1:1/lia?connect_timeout=2"}});
  lia::http::Client client;
  lia::http::ClientResponse ready;
  // Ready on Kafka alone (the audit log waits in its queue), not taken out of the Service.
  CHECK(lia::testing::wait_until(
      [&] {
        auto r = client.get(svc.base + "/readyz");
        if (!r.ok()) return false;
        ready = *r;
        return ready.status == 200;
      },
      30s, 100ms));
  INFO(ready.body);
  CHECK(ready.body.find("postgres") == std::string::npos);
  CHECK(ready.body.find("kafka") != std::string::npos);
  auto res = svc.post_meta(fixture("meta_text.json"));
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":1})");
}

TEST_CASE("an unreachable broker: 503 after the ack timeout, audited as failed") {
  Service svc({{"LIA_INGESTION_ACK_TIMEOUT_MS", "300"}, {"LIA_INGESTION_AUDIT_CONSUMER", "false"}},
              "127.0.0.1:1");
  svc.kill_at_end = true;
  const auto started = std::chrono::steady_clock::now();
  auto res = svc.post_meta(fixture("meta_statuses.json"));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(res.status == 503);
  CHECK(res.body.find("\"unavailable\"") != std::string::npos);
  CHECK(res.body.find("300 ms") != std::string::npos);
  CHECK(took < 20s);
  std::int64_t failed = 0;
  lia::testing::wait_until(
      [&] {
        failed = count_rows(svc.schema, "status = 'failed' AND http_status = 503");
        return failed == 4;
      },
      30s, 100ms);
  CHECK(failed == 4);
}

TEST_CASE("a full local queue (the broker away): 503 at once, not after the ack timeout") {
  // Room for one record: the webhook's first status waits for the broker in the queue, and
  // the others find it full.
  Service svc({{"LIA_INGESTION_ACK_TIMEOUT_MS", "20000"},
               {"LIA_INGESTION_AUDIT_CONSUMER", "false"},
               {"LIA_KAFKA_PROPERTIES", "queue.buffering.max.messages=1"}},
              "127.0.0.1:1");
  svc.kill_at_end = true;
  auto res = svc.post_meta(fixture("meta_statuses.json"));
  INFO(res.body);
  CHECK(res.status == 503);
  CHECK(res.body.find("the local queue is full") != std::string::npos);
  CHECK(res.body.find("20000 ms") == std::string::npos);  // not the ack timeout's answer
  // The server still answers while that first record waits.
  lia::http::Client client;
  auto health = client.get(svc.base + "/healthz");
  REQUIRE(health.ok());
  CHECK(health->status == 200);
}

TEST_CASE("the gateway's producer takes LIA_KAFKA_PROPERTIES (TLS and SASL settings reach it)") {
  // A record limit below the webhook's events: the gateway's own producer must refuse them.
  Service svc(std::map<std::string, std::string>{{"LIA_KAFKA_PROPERTIES", "message.max.bytes=1000"},
                                                 {"LIA_INGESTION_AUDIT_CONSUMER", "false"}});
  std::string body = fixture("meta_text.json");
  const std::string text = "Oi, minha internet caiu desde ontem à noite 😞";
  const auto at = body.find(text);
  REQUIRE(at != std::string::npos);
  body.replace(at, text.size(), std::string(2000, 'a'));
  auto res = svc.post_meta(body);
  INFO(res.body);
  CHECK(res.status == 503);
  // The same webhook with the body it came with fits: the limit, not the broker, refused it.
  auto fits = svc.post_meta(fixture("meta_text.json"));
  CHECK(fits.status == 200);
}

TEST_CASE("the Meta handshake and missing secrets") {
  Service svc;
  lia::http::Client client;
  auto ok = client.get(
      svc.base +
      "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-token&hub.challenge=42");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
  CHECK(ok->body == "42");
  auto no = client.get(svc.base +
                       "/webhooks/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=42");
  REQUIRE(no.ok());
  CHECK(no->status == 403);
  auto metrics = client.get(svc.base + "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("lia_ingestion_webhooks_received_total{provider=\"meta\"}") !=
        std::string::npos);

  Process bad({lia::testing::binary("lia-ingestion")},
              {{"LIA_META_VERIFY_TOKEN", ""},
               {"LIA_META_APP_SECRET", ""},
               {"LIA_EVOLUTION_APIKEY", ""},
               {"LIA_INGESTION_ACK_TIMEOUT_MS", "soon"},
               {"LIA_INGESTION_EVOLUTION_BODY_LIMIT_MIB", "32"},
               {"LIA_INGESTION_EVOLUTION_WIRE_LIMIT_MIB", "16"},
               {"LIA_EVOLUTION_INSTANCE_NUMBERS", "lia-cloud=551140028922,lia-cloud"}});
  REQUIRE(bad.wait(10s) == std::optional<int>(2));
  const auto out = bad.output();
  CHECK(out.find("LIA_META_VERIFY_TOKEN") != std::string::npos);
  CHECK(out.find("LIA_META_APP_SECRET") != std::string::npos);
  CHECK(out.find("LIA_EVOLUTION_APIKEY") != std::string::npos);
  CHECK(out.find("LIA_INGESTION_ACK_TIMEOUT_MS") != std::string::npos);
  CHECK(out.find("LIA_INGESTION_EVOLUTION_WIRE_LIMIT_MIB: must be at least "
                 "LIA_INGESTION_EVOLUTION_BODY_LIMIT_MIB") != std::string::npos);
  CHECK(out.find("LIA_EVOLUTION_INSTANCE_NUMBERS: entry 2 is not instance=number") !=
        std::string::npos);
}
