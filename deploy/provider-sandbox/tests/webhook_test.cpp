// The sandbox over real sockets: delivery ticks posted to a fake ingestion, retries while it
// refuses them, and the binary's start-up contract (ready line, exit 2 on a bad setting).
#include <regex>

#include <catch2/catch.hpp>
#include <signal.h>

#include <lia/auth/auth.hpp>
#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/json/json.hpp>
#include <lia/provider_sandbox/sandbox.hpp>
#include <lia/testing/testing.hpp>

using namespace lia;
using namespace std::chrono_literals;

namespace {

struct Post {
  std::string path;
  std::string body;
  http::Headers headers;
};

// A stand-in for ingestion: records every webhook; refuses the first `refuse` with 500.
class Receiver {
 public:
  explicit Receiver(int refuse = 0) : refuse_(refuse) {
    http::Router r;
    auto record = [this](const http::Request& req) {
      std::lock_guard lock(mu_);
      if (refuse_ > 0) {
        --refuse_;
        ++refused_;
        return http::json_error(500, "internal", "not now");
      }
      posts_.push_back({req.path, req.body, req.headers});
      return http::Response::json(200, "{}");
    };
    r.add("POST", "/webhooks/meta", record);
    r.add("POST", "/webhooks/evolution", record);
    server_ =
        std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1"}, std::move(r));
    REQUIRE(server_->start().ok());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<Post> posts() const {
    std::lock_guard lock(mu_);
    return posts_;
  }
  int refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }

 private:
  mutable std::mutex mu_;
  int refuse_;
  int refused_ = 0;
  std::vector<Post> posts_;
  std::unique_ptr<http::Server> server_;
};

// The sandbox on its own port.
struct Running {
  explicit Running(provider_sandbox::Config c) : sandbox(std::move(c)) {
    http::Router r;
    sandbox.install(r);
    server =
        std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1"}, std::move(r));
    REQUIRE(server->start().ok());
    sandbox.set_server_url(url());
  }
  ~Running() {
    server->stop(1s);
    sandbox.stop();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }

  provider_sandbox::Sandbox sandbox;
  std::unique_ptr<http::Server> server;
};

json::Document parse(const std::string& text) {
  auto d = json::parse(text);
  REQUIRE(d.ok());
  return std::move(d).value();
}

}  // namespace

TEST_CASE("Meta ticks sent, delivered, read are posted in order and signed") {
  Receiver ingestion;
  provider_sandbox::Config c;
  c.webhook_url = ingestion.url();
  c.meta_app_secret = "app-secret";
  c.tick_delay = 20ms;
  Running sb(c);

  http::Client client;
  auto res = client.post(
      sb.url() + "/v25.0/106540352242922/messages",
      R"({"messaging_product":"whatsapp","to":"5511987654321","type":"text","text":{"body":"oi"}})");
  REQUIRE(res.ok());
  REQUIRE(res->status == 200);
  const std::string wamid = parse(res->body)["messages"][0]["id"].GetString();

  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 3; }, 10s));
  const auto posts = ingestion.posts();
  const std::vector<std::string> expected{"sent", "delivered", "read"};
  for (std::size_t i = 0; i < posts.size(); ++i) {
    INFO(posts[i].body);
    CHECK(posts[i].path == "/webhooks/meta");
    const auto* sig = posts[i].headers.find("X-Hub-Signature-256");
    REQUIRE(sig != nullptr);
    CHECK(auth::verify_meta_signature(*sig, "app-secret", posts[i].body));
    auto doc = parse(posts[i].body);
    const auto& value = doc["entry"][0]["changes"][0]["value"];
    CHECK(std::string(value["metadata"]["phone_number_id"].GetString()) == "106540352242922");
    CHECK(std::string(value["statuses"][0]["id"].GetString()) == wamid);
    CHECK(std::string(value["statuses"][0]["status"].GetString()) == expected[i]);
  }
  // The sandbox counts a post once its answer is back, after the receiver has it.
  CHECK(testing::wait_until(
      [&] {
        const auto n = sb.sandbox.counts();
        return n.webhooks_posted == 3 && n.webhooks_pending == 0;
      },
      10s));
}

TEST_CASE("Evolution ticks DELIVERY_ACK then READ carry the apikey") {
  Receiver ingestion;
  provider_sandbox::Config c;
  c.webhook_url = ingestion.url();
  c.evolution_apikey = "evo-key";
  c.tick_delay = 10ms;
  Running sb(c);

  http::Client client;
  http::ClientRequest req{.method = "POST",
                          .url = sb.url() + "/message/sendText/lia-vendas",
                          .headers = {{"apikey", "evo-key"}, {"Content-Type", "application/json"}},
                          .body = R"({"number":"5511987654321","text":"oi"})"};
  auto res = client.request(req);
  REQUIRE(res.ok());
  REQUIRE(res->status == 201);
  const std::string id = parse(res->body)["key"]["id"].GetString();

  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 2; }, 10s));
  const auto posts = ingestion.posts();
  const std::vector<std::string> expected{"DELIVERY_ACK", "READ"};
  for (std::size_t i = 0; i < posts.size(); ++i) {
    CHECK(posts[i].path == "/webhooks/evolution");
    REQUIRE(posts[i].headers.find("apikey") != nullptr);
    CHECK(*posts[i].headers.find("apikey") == "evo-key");
    auto doc = parse(posts[i].body);
    CHECK(std::string(doc["event"].GetString()) == "messages.update");
    CHECK(std::string(doc["instance"].GetString()) == "lia-vendas");
    CHECK(std::string(doc["data"]["keyId"].GetString()) == id);
    CHECK(std::string(doc["data"]["status"].GetString()) == expected[i]);
    CHECK(std::string(doc["server_url"].GetString()) == sb.url());
  }
}

TEST_CASE("undeliver_next accepts sends whose ticks end in Meta's failed or Evolution's ERROR") {
  Receiver ingestion;
  provider_sandbox::Config c;
  c.webhook_url = ingestion.url();
  c.tick_delay = 10ms;
  Running sb(c);
  http::Client client;
  const auto fault = [&](const std::string& body) {
    auto r = client.post(sb.url() + "/sandbox/faults", body);
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
  };
  const auto meta_send = [&] {
    auto res = client.post(
        sb.url() + "/v25.0/106540352242922/messages",
        R"({"messaging_product":"whatsapp","to":"5511987654321","type":"text","text":{"body":"oi"}})");
    REQUIRE(res.ok());
    REQUIRE(res->status == 200);  // accepted: the failure comes later
    return std::string(parse(res->body)["messages"][0]["id"].GetString());
  };
  fault(R"({"undeliver_next":1,"code":131047})");
  const std::string wamid = meta_send();
  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 2; }, 10s));
  auto posts = ingestion.posts();
  auto first = parse(posts[0].body);
  CHECK(
      std::string(first["entry"][0]["changes"][0]["value"]["statuses"][0]["status"].GetString()) ==
      "sent");
  auto failed = parse(posts[1].body);
  const auto& st = failed["entry"][0]["changes"][0]["value"]["statuses"][0];
  CHECK(std::string(st["id"].GetString()) == wamid);
  CHECK(std::string(st["status"].GetString()) == "failed");
  CHECK(st["errors"][0]["code"].GetInt() == 131047);
  CHECK(std::string(st["errors"][0]["title"].GetString()) == "Re-engagement message");
  // Only the next one: the send after it is delivered and read.
  meta_send();
  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 5; }, 10s));
  CHECK(parse(ingestion.posts()[4].body)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
            .GetString() == std::string("read"));

  fault(R"({"undeliver_next":1,"provider":"evolution"})");
  auto res = client.post(sb.url() + "/message/sendText/lia-vendas",
                         R"({"number":"5511987654321","text":"oi"})");
  REQUIRE(res.ok());
  REQUIRE(res->status == 201);
  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 6; }, 10s));
  auto evo = parse(ingestion.posts()[5].body);
  CHECK(std::string(evo["data"]["status"].GetString()) == "ERROR");
  CHECK(std::string(evo["data"]["keyId"].GetString()) == parse(res->body)["key"]["id"].GetString());
}

TEST_CASE("a tick the receiver refuses is posted again until it is taken") {
  Receiver ingestion(/*refuse=*/2);
  provider_sandbox::Config c;
  c.webhook_url = ingestion.url();
  c.tick_delay = 5ms;
  c.webhook_backoff = 10ms;
  Running sb(c);

  http::Client client;
  auto res =
      client.post(sb.url() + "/message/sendText/x", R"({"number":"5511987654321","text":"oi"})");
  REQUIRE(res.ok());
  REQUIRE(res->status == 201);
  REQUIRE(testing::wait_until([&] { return ingestion.posts().size() == 2; }, 10s));
  CHECK(ingestion.refused() == 2);
  auto first = parse(ingestion.posts()[0].body);
  CHECK(std::string(first["data"]["status"].GetString()) == "DELIVERY_ACK");  // order kept
  CHECK(sb.sandbox.counts().webhooks_failed == 0);
}

TEST_CASE("the binary logs its ready port, serves, and exits 2 naming a bad setting") {
  testing::Process bad({testing::binary("lia-provider-sandbox")},
                       {{"LIA_SANDBOX_TICK_DELAY_MS", "later"}});
  REQUIRE(bad.wait(10s) == std::optional<int>(2));
  CHECK(bad.output().find("LIA_SANDBOX_TICK_DELAY_MS") != std::string::npos);

  testing::Process p({testing::binary("lia-provider-sandbox")},
                     {{"LIA_HTTP_PORT", "0"}, {"LIA_SANDBOX_META_TOKEN", "s3cr3t-token"}});
  static const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  int port = 0;
  REQUIRE(testing::wait_until(
      [&] {
        std::smatch m;
        const auto out = p.output();
        if (std::regex_search(out, m, ready)) port = std::stoi(m[1]);
        return port > 0 || !p.running();
      },
      15s));
  INFO(p.output());
  REQUIRE(port > 0);
  CHECK(p.output().find("s3cr3t-token") == std::string::npos);
  http::Client client;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  http::ClientRequest req{
      .method = "POST",
      .url = base + "/v25.0/1065/messages",
      .headers = {{"Authorization", "Bearer s3cr3t-token"}},
      .body =
          R"({"messaging_product":"whatsapp","to":"5511987654321","type":"text","text":{"body":"x"}})"};
  auto res = client.request(req);
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  auto list = client.get(base + "/sandbox/sends");
  REQUIRE(list.ok());
  CHECK(parse(list->body)["sends"].Size() == 1);
  p.signal(SIGTERM);
  CHECK(p.wait(10s) == std::optional<int>(0));
}
