// The sandbox's provider and control routes, called through its router (no sockets), and
// the webhook payloads it posts.
#include <chrono>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>
#include <lia/json/json.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

using namespace lia;
using provider_sandbox::Config;
using provider_sandbox::Sandbox;

namespace {

struct Harness {
  explicit Harness(Config c = {}) : sandbox(std::move(c)) { sandbox.install(router); }

  http::Response call(const std::string& method, const std::string& target, std::string body = {},
                      http::Headers headers = {}) {
    http::Request req;
    req.method = method;
    req.target = target;
    REQUIRE(http::split_target(target, req.path, req.query));
    req.headers = std::move(headers);
    req.body = std::move(body);
    auto m = router.match(method, req.path, &req.params);
    REQUIRE(m.outcome == http::Router::Outcome::found);
    REQUIRE(m.endpoint->sync);
    return m.endpoint->sync(req);
  }

  Sandbox sandbox;
  http::Router router;
};

json::Document parse(const std::string& text) {
  auto d = json::parse(text);
  REQUIRE(d.ok());
  return std::move(d).value();
}

const std::string kMetaText =
    R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321",)"
    R"("type":"text","text":{"body":"Olá!","preview_url":false}})";
const std::string kEvolutionText = R"({"number":"5511987654321","text":"Olá!"})";

Config with_credentials() {
  Config c;
  c.meta_token = "meta-token";
  c.evolution_apikey = "evo-key";
  return c;
}

}  // namespace

TEST_CASE("a Meta send with the right token is accepted with a wamid and recorded") {
  Harness h(with_credentials());
  auto res = h.call("POST", "/v25.0/106540352242922/messages", kMetaText,
                    {{"Authorization", "Bearer meta-token"}});
  REQUIRE(res.status == 200);
  auto doc = parse(res.body);
  const std::string id = doc["messages"][0]["id"].GetString();
  CHECK(id.rfind("wamid.", 0) == 0);
  CHECK(id.size() > 20);
  CHECK(std::string(doc["contacts"][0]["wa_id"].GetString()) == "5511987654321");

  auto sends = h.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].provider == "meta");
  CHECK(sends[0].instance == "106540352242922");
  CHECK(sends[0].to == "5511987654321");
  CHECK(sends[0].text == "Olá!");
  CHECK(sends[0].provider_message_id == id);

  // Without the version segment too, and every id is fresh.
  auto again = h.call("POST", "/106540352242922/messages", kMetaText,
                      {{"Authorization", "Bearer meta-token"}});
  REQUIRE(again.status == 200);
  CHECK(std::string(parse(again.body)["messages"][0]["id"].GetString()) != id);
  CHECK(h.sandbox.counts().accepted == 2);
}

TEST_CASE("a Meta send with a wrong or missing token gets 401 code 190 and is not recorded") {
  Harness h(with_credentials());
  auto wrong =
      h.call("POST", "/v25.0/1065/messages", kMetaText, {{"Authorization", "Bearer nope"}});
  CHECK(wrong.status == 401);
  CHECK(parse(wrong.body)["error"]["code"].GetInt() == 190);
  auto missing = h.call("POST", "/v25.0/1065/messages", kMetaText);
  CHECK(missing.status == 401);
  CHECK(h.sandbox.sends().empty());
  const auto c = h.sandbox.counts();
  CHECK(c.requests == 2);
  CHECK(c.rejected == 2);
  CHECK(c.accepted == 0);
}

TEST_CASE("without a configured token or key any credentials are accepted") {
  Harness h;
  CHECK(h.call("POST", "/v25.0/1065/messages", kMetaText).status == 200);
  CHECK(h.call("POST", "/message/sendText/lia-vendas", kEvolutionText).status == 201);
}

TEST_CASE("an Evolution sendText checks the apikey and answers 201 with an upper-case hex key id") {
  Harness h(with_credentials());
  CHECK(h.call("POST", "/message/sendText/lia-vendas", kEvolutionText, {{"apikey", "wrong"}})
            .status == 401);
  auto res =
      h.call("POST", "/message/sendText/lia-vendas", kEvolutionText, {{"apikey", "evo-key"}});
  REQUIRE(res.status == 201);
  auto doc = parse(res.body);
  const std::string id = doc["key"]["id"].GetString();
  CHECK(id.size() == 16);
  CHECK(id.find_first_not_of("0123456789ABCDEF") == std::string::npos);
  CHECK(std::string(doc["key"]["remoteJid"].GetString()) == "5511987654321@s.whatsapp.net");
  CHECK(doc["key"]["fromMe"].GetBool());
  auto sends = h.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].provider == "evolution");
  CHECK(sends[0].instance == "lia-vendas");
  CHECK(sends[0].provider_message_id == id);
}

TEST_CASE("bad bodies get the providers' own kind of 400") {
  Harness h;
  auto not_json = h.call("POST", "/v25.0/1065/messages", "{oops");
  CHECK(not_json.status == 400);
  CHECK(parse(not_json.body)["error"]["code"].GetInt() == 100);
  auto no_product =
      h.call("POST", "/v25.0/1065/messages", R"({"to":"55119","type":"text","text":{"body":"x"}})");
  CHECK(no_product.status == 400);
  auto no_body = h.call("POST", "/v25.0/1065/messages",
                        R"({"messaging_product":"whatsapp","to":"55119","type":"text","text":{}})");
  CHECK(no_body.status == 400);
  auto evo = h.call("POST", "/message/sendText/x", R"({"number":"55119"})");
  CHECK(evo.status == 400);
  CHECK(std::string(parse(evo.body)["response"]["message"][0].GetString()) == "text is required");
  CHECK(h.sandbox.sends().empty());
  CHECK(h.sandbox.counts().rejected == 4);
}

TEST_CASE("a Meta template send records the template and its parameters") {
  Harness h;
  auto res =
      h.call("POST", "/v25.0/1065/messages",
             R"({"messaging_product":"whatsapp","to":"5511987654321","type":"template",)"
             R"("template":{"name":"pesquisa_nps","language":{"code":"pt_BR"},)"
             R"("components":[{"type":"body","parameters":[{"type":"text","text":"Maria"}]}]}})");
  REQUIRE(res.status == 200);
  CHECK(std::string(parse(res.body)["messages"][0]["message_status"].GetString()) == "accepted");
  auto sends = h.sandbox.sends();
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].type == "template");
  CHECK(sends[0].template_name == "pesquisa_nps");
  CHECK(sends[0].template_parameters == std::vector<std::string>{"Maria"});
}

TEST_CASE("fail_next fails exactly that many sends, with Retry-After and the error code") {
  Harness h;
  auto set = h.call("POST", "/sandbox/faults", R"({"fail_next":2,"status":429,"retry_after":3})");
  REQUIRE(set.status == 200);
  CHECK(parse(set.body)["faults"].Size() == 1);
  for (int i = 0; i < 2; ++i) {
    auto res = h.call("POST", "/v25.0/1065/messages", kMetaText);
    CHECK(res.status == 429);
    REQUIRE(res.headers.find("Retry-After") != nullptr);
    CHECK(*res.headers.find("Retry-After") == "3");
    CHECK(parse(res.body)["error"]["code"].GetInt() == 130429);
  }
  CHECK(h.call("POST", "/v25.0/1065/messages", kMetaText).status == 200);
  const auto c = h.sandbox.counts();
  CHECK(c.requests == 3);
  CHECK(c.faulted == 2);
  CHECK(c.accepted == 1);
  CHECK(h.sandbox.sends().size() == 1);
  auto reqs = h.sandbox.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].status == 429);
  CHECK(reqs[2].status == 200);
}

TEST_CASE("always_fail holds until cleared, and faults can target one number or provider") {
  Harness h;
  REQUIRE(
      h.sandbox.apply_faults(R"({"always_fail":true,"status":503,"provider":"evolution"})").ok());
  for (int i = 0; i < 3; ++i) {
    auto res = h.call("POST", "/message/sendText/x", kEvolutionText);
    CHECK(res.status == 503);
    CHECK(parse(res.body)["status"].GetInt() == 503);
  }
  CHECK(h.call("POST", "/v25.0/1065/messages", kMetaText).status == 200);  // Meta unaffected
  REQUIRE(h.call("POST", "/sandbox/faults", R"({"clear":true})").status == 200);
  CHECK(h.call("POST", "/message/sendText/x", kEvolutionText).status == 201);

  REQUIRE(
      h.sandbox.apply_faults(R"({"fail_next":1,"status":400,"code":"131026","to":"5511900000000"})")
          .ok());
  CHECK(h.call("POST", "/message/sendText/x", kEvolutionText).status == 201);  // other number
  auto hit = h.call(
      "POST", "/v25.0/1065/messages",
      R"({"messaging_product":"whatsapp","to":"5511900000000","type":"text","text":{"body":"x"}})");
  CHECK(hit.status == 400);
  CHECK(parse(hit.body)["error"]["code"].GetInt() == 131026);
}

TEST_CASE("slow_next takes the send and answers it late") {
  Harness h;
  REQUIRE(h.call("POST", "/sandbox/faults", R"({"slow_next":1,"delay_ms":300})").status == 200);
  auto rules = parse(h.call("GET", "/sandbox/faults").body);
  REQUIRE(rules["faults"].Size() == 1);
  CHECK(rules["faults"][0]["delay_ms"].GetInt() == 300);
  const auto t0 = std::chrono::steady_clock::now();
  auto late = h.call("POST", "/v25.0/1065/messages", kMetaText);
  CHECK(late.status == 200);  // taken, as the customer would get it
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds{300});
  CHECK(h.sandbox.sends().size() == 1);
  CHECK(parse(h.call("GET", "/sandbox/faults").body)["faults"].Size() == 0);  // used up
}

TEST_CASE("invalid fault specifications are refused with a reason") {
  Harness h;
  for (const char* body :
       {R"({"fail_next":0})", R"({"status":200,"fail_next":1})", R"({})", R"([1])",
        R"({"always_fail":"yes"})", R"({"fail_next":1,"provider":"telegram"})",
        R"({"fail_next":1,"retry_after":-1})", R"({"slow_next":1})", R"({"delay_ms":10})",
        R"({"slow_next":1,"delay_ms":0})", R"({"slow_next":1,"delay_ms":10,"fail_next":1})",
        R"({"undeliver_next":0})", R"({"undeliver_next":1,"always_fail":true})",
        R"({"undeliver_next":1,"slow_next":1,"delay_ms":10})", "not json"}) {
    INFO(body);
    auto res = h.call("POST", "/sandbox/faults", body);
    CHECK(res.status == 400);
    CHECK(res.body.find("\"invalid_argument\"") != std::string::npos);
  }
  CHECK(parse(h.call("GET", "/sandbox/faults").body)["faults"].Size() == 0);
}

TEST_CASE("GET /sandbox/sends lists and filters, DELETE resets") {
  Harness h;
  REQUIRE(h.call("POST", "/v25.0/1065/messages", kMetaText).status == 200);
  REQUIRE(h.call("POST", "/message/sendText/lia-vendas", R"({"number":"5511911112222","text":"b"})")
              .status == 201);
  auto all = parse(h.call("GET", "/sandbox/sends").body);
  CHECK(all["sends"].Size() == 2);
  CHECK(all["requests"].Size() == 2);
  CHECK(all["counts"]["accepted"].GetInt() == 2);
  auto evo = parse(h.call("GET", "/sandbox/sends?provider=evolution").body);
  REQUIRE(evo["sends"].Size() == 1);
  CHECK(std::string(evo["sends"][0]["to"].GetString()) == "5511911112222");
  // A JID and its bare number name the same chat.
  auto by_to = parse(h.call("GET", "/sandbox/sends?to=5511911112222%40s.whatsapp.net").body);
  CHECK(by_to["sends"].Size() == 1);

  REQUIRE(h.call("DELETE", "/sandbox/sends").status == 200);
  auto after = parse(h.call("GET", "/sandbox/sends").body);
  CHECK(after["sends"].Size() == 0);
  CHECK(after["counts"]["requests"].GetInt() == 0);
}

TEST_CASE("the Meta status webhook has Meta's statuses shape") {
  const auto body = provider_sandbox::meta_status_webhook("106540352242922", "wamid.X",
                                                          "5511987654321", "delivered", 1700000000);
  auto doc = parse(body);
  CHECK(std::string(doc["object"].GetString()) == "whatsapp_business_account");
  const auto& change = doc["entry"][0]["changes"][0];
  CHECK(std::string(change["field"].GetString()) == "messages");
  const auto& value = change["value"];
  CHECK(std::string(value["messaging_product"].GetString()) == "whatsapp");
  CHECK(std::string(value["metadata"]["phone_number_id"].GetString()) == "106540352242922");
  const auto& st = value["statuses"][0];
  CHECK(std::string(st["id"].GetString()) == "wamid.X");
  CHECK(std::string(st["status"].GetString()) == "delivered");
  CHECK(std::string(st["timestamp"].GetString()) == "1700000000");
  CHECK(std::string(st["recipient_id"].GetString()) == "5511987654321");
}

TEST_CASE("the Evolution messages.update webhook names the instance, key and status") {
  const auto body = provider_sandbox::evolution_update_webhook(
      "lia-vendas", "3EB0ABCDEF012345", "5511987654321@s.whatsapp.net", "READ",
      "2026-11-22T12:53:24.123Z", "evo-key", "http://127.0.0.1:8090");
  auto doc = parse(body);
  CHECK(std::string(doc["event"].GetString()) == "messages.update");
  CHECK(std::string(doc["instance"].GetString()) == "lia-vendas");
  CHECK(std::string(doc["apikey"].GetString()) == "evo-key");
  const auto& data = doc["data"];
  CHECK(std::string(data["keyId"].GetString()) == "3EB0ABCDEF012345");
  CHECK(std::string(data["remoteJid"].GetString()) == "5511987654321@s.whatsapp.net");
  CHECK(std::string(data["status"].GetString()) == "READ");
  CHECK(data["fromMe"].GetBool());
  CHECK(std::string(data["key"]["id"].GetString()) == "3EB0ABCDEF012345");
}

TEST_CASE("the webhook signature is what Meta's check expects") {
  const std::string body = R"({"object":"whatsapp_business_account"})";
  const auto sig = provider_sandbox::meta_signature("app-secret", body);
  CHECK(sig.rfind("sha256=", 0) == 0);
  CHECK(auth::verify_meta_signature(sig, "app-secret", body));
  CHECK_FALSE(auth::verify_meta_signature(sig, "other-secret", body));
  CHECK(provider_sandbox::remote_jid("5511987654321") == "5511987654321@s.whatsapp.net");
  CHECK(provider_sandbox::remote_jid("123@g.us") == "123@g.us");
}

TEST_CASE("the settings are read and bad ones are named") {
  auto good = core::Env::from_map({{"LIA_SANDBOX_WEBHOOK_URL", "http://127.0.0.1:8080/"},
                                   {"LIA_SANDBOX_TICK_DELAY_MS", "50"},
                                   {"LIA_SANDBOX_META_WEBHOOK_PATH", "hooks/meta"}});
  auto c = Config::read(good);
  CHECK(good.problems().empty());
  CHECK(c.webhook_url == "http://127.0.0.1:8080");
  CHECK(c.tick_delay == std::chrono::milliseconds{50});
  CHECK(c.meta_webhook_path == "/hooks/meta");
  CHECK(c.evolution_webhook_path == "/webhooks/evolution");

  auto bad = core::Env::from_map({{"LIA_SANDBOX_WEBHOOK_URL", "ftp://x"},
                                  {"LIA_SANDBOX_TICK_DELAY_MS", "soon"},
                                  {"LIA_SANDBOX_WEBHOOK_ATTEMPTS", "0"}});
  (void)Config::read(bad);
  std::string all;
  for (const auto& p : bad.problems()) all += p + "\n";
  INFO(all);
  CHECK(bad.problems().size() == 3);
  CHECK(all.find("LIA_SANDBOX_WEBHOOK_URL") != std::string::npos);
  CHECK(all.find("LIA_SANDBOX_TICK_DELAY_MS") != std::string::npos);
  CHECK(all.find("LIA_SANDBOX_WEBHOOK_ATTEMPTS") != std::string::npos);
}
