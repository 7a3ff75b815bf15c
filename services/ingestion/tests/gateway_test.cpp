// The gateway's request handling without a server or a broker: signatures, apikeys, the
// answer only after every ack, 503 on a failed or late ack, audit rows of rejections.

#include "src/gateway.hpp"

#include <functional>
#include <set>

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>
#include <lia/events/names.hpp>
#include <lia/http/router.hpp>
#include <lia/runtime/events.hpp>
#include <lia/testing/log_lines.hpp>
#include <lia/testing/testing.hpp>

#include "src/app.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using lia::http::Request;
using lia::http::Responder;
using lia::http::Response;
using lia::ingestion::AuditRow;
using lia::ingestion::Gateway;
using lia::ingestion::GatewayConfig;
using lia::ingestion::test::FakeProducer;
using lia::ingestion::test::fixture;
using lia::ingestion::test::meta_signature;

namespace {

constexpr const char* kSecret = "meta-app-secret-for-tests";
constexpr const char* kApikey = "B6D711FCDE4D4FD5936544120E713976";

class MemoryAudit final : public lia::ingestion::AuditSink {
 public:
  void record(AuditRow row) override {
    std::lock_guard lock(mu_);
    rows_.push_back(std::move(row));
  }
  std::vector<AuditRow> rows() const {
    std::lock_guard lock(mu_);
    return rows_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<AuditRow> rows_;
};

// What a Responder was given.
struct Answer {
  std::mutex mu;
  std::optional<Response> response;
  bool answered() {
    std::lock_guard lock(mu);
    return response.has_value();
  }
  Response get() {
    std::lock_guard lock(mu);
    REQUIRE(response.has_value());
    return *response;
  }
};

struct Fixture {
  std::shared_ptr<FakeProducer> producer = std::make_shared<FakeProducer>();
  std::shared_ptr<MemoryAudit> audit = std::make_shared<MemoryAudit>();
  std::unique_ptr<Gateway> gateway;

  explicit Fixture(std::chrono::milliseconds ack_timeout = 10s,
                   const std::function<void(GatewayConfig&)>& configure = {},
                   const lia::core::Clock& clock = lia::core::SystemClock::instance()) {
    GatewayConfig c;
    c.meta_verify_token = "verify-me";
    c.meta_app_secret = kSecret;
    c.evolution_apikey = kApikey;
    c.ack_timeout = ack_timeout;
    if (configure) configure(c);
    gateway = std::make_unique<Gateway>(c, producer, audit, clock);
  }

  std::shared_ptr<Answer> post_meta(const std::string& body, std::optional<std::string> signature) {
    Request r;
    r.method = "POST";
    r.path = "/webhooks/meta";
    r.body = body;
    if (signature) r.headers.add("X-Hub-Signature-256", *signature);
    auto a = std::make_shared<Answer>();
    gateway->meta(std::move(r), Responder::to([a](Response&& res) {
                    std::lock_guard lock(a->mu);
                    a->response = std::move(res);
                  }));
    return a;
  }
  std::shared_ptr<Answer> post_signed(const std::string& body) {
    return post_meta(body, meta_signature(kSecret, body));
  }

  std::shared_ptr<Answer> post_evolution(const std::string& body, std::optional<std::string> apikey,
                                         std::optional<std::string> event = std::nullopt) {
    Request r;
    r.method = "POST";
    r.path = "/webhooks/evolution";
    r.body = body;
    if (apikey) r.headers.add("apikey", *apikey);
    if (event) r.params["event"] = *event;
    auto a = std::make_shared<Answer>();
    gateway->evolution(std::move(r), Responder::to([a](Response&& res) {
                         std::lock_guard lock(a->mu);
                         a->response = std::move(res);
                       }));
    return a;
  }
};

std::string without_apikey(std::string body) {
  const auto pos = body.find(R"("apikey": ")");
  REQUIRE(pos != std::string::npos);
  return body.replace(pos, 8, R"("notkey")");
}

lia::events::CloudEvent decode(const lia::kafka::Record& r) {
  lia::kafka::Message m;
  m.topic = r.topic;
  m.key = r.key;
  m.value = r.value;
  m.headers = r.headers;
  auto ev = lia::runtime::decode_event(m);
  INFO(r.value);
  REQUIRE(ev.ok());
  return *ev;
}

}  // namespace

TEST_CASE("GET /webhooks/meta answers Meta's challenge only for the right token") {
  Fixture f;
  auto get = [&](lia::http::StringMap query) {
    Request r;
    r.method = "GET";
    r.path = "/webhooks/meta";
    r.query = std::move(query);
    return f.gateway->verify(r);
  };
  auto ok = get({{"hub.mode", "subscribe"},
                 {"hub.verify_token", "verify-me"},
                 {"hub.challenge", "1158201444"}});
  CHECK(ok.status == 200);
  CHECK(ok.body == "1158201444");
  CHECK(ok.content_type.rfind("text/plain", 0) == 0);
  auto wrong =
      get({{"hub.mode", "subscribe"}, {"hub.verify_token", "guess"}, {"hub.challenge", "1"}});
  CHECK(wrong.status == 403);
  CHECK(wrong.content_type == "application/json");
  CHECK(wrong.body.find("\"forbidden\"") != std::string::npos);
  CHECK(
      get({{"hub.mode", "unsubscribe"}, {"hub.verify_token", "verify-me"}, {"hub.challenge", "1"}})
          .status == 403);
  CHECK(get({{"hub.challenge", "1"}}).status == 403);
  CHECK(get({{"hub.mode", "subscribe"}, {"hub.verify_token", "verify-me"}}).status == 400);
}

TEST_CASE("routes: the four webhook endpoints are registered, each provider's on its budget") {
  Fixture f;
  lia::http::Router router;
  f.gateway->add_routes(router);
  using O = lia::http::Router::Outcome;
  CHECK(router.match("GET", "/webhooks/meta", nullptr).outcome == O::found);
  CHECK(router.match("POST", "/webhooks/meta", nullptr).outcome == O::found);
  CHECK(router.match("POST", "/webhooks/evolution", nullptr).outcome == O::found);
  lia::http::StringMap params;
  CHECK(router.match("POST", "/webhooks/evolution/messages-upsert", &params).outcome == O::found);
  CHECK(params["event"] == "messages-upsert");
  // Each provider's bodies on a budget of their own, Evolution's two routes on one.
  const auto budget = [&](const char* path) {
    return router.match("POST", path, nullptr).endpoint->body_budget;
  };
  REQUIRE(budget("/webhooks/meta") != nullptr);
  REQUIRE(budget("/webhooks/evolution") != nullptr);
  CHECK(budget("/webhooks/meta")->limit == lia::ingestion::kMetaBodyBudget);
  CHECK(budget("/webhooks/evolution")->limit == std::size_t{64} * 1024 * 1024);
  CHECK(budget("/webhooks/evolution") == budget("/webhooks/evolution/messages-upsert"));
  CHECK(budget("/webhooks/meta") != budget("/webhooks/evolution"));
  // Twice the largest Evolution body when that is more.
  CHECK(lia::ingestion::evolution_body_budget(std::size_t{48} * 1024 * 1024) ==
        std::size_t{96} * 1024 * 1024);
  // What the other routes may hold: a body sent to them (or to no route) at most.
  CHECK(lia::ingestion::spec().http_body_budget == lia::ingestion::kOtherRoutesBodyBudget);
}

TEST_CASE("a signed Meta webhook is answered 200 only after Kafka acknowledged every event") {
  Fixture f;
  const auto body = fixture("meta_multi.json");
  auto a = f.post_signed(body);
  CHECK_FALSE(a->answered());  // waiting for the acks
  const auto records = f.producer->records();
  REQUIRE(records.size() == 5);
  std::size_t inbound = 0;
  for (const auto& r : records) {
    const auto ev = decode(r);  // a valid CloudEvent whose data matches its schema
    CHECK(ev.source == "/lia/ingestion");
    CHECK(ev.subject == std::optional<std::string>(r.key));
    if (ev.type == lia::events::types::whatsapp_message_received) {
      CHECK(r.topic == "whatsapp.inbound.v1");
      ++inbound;
    } else {
      CHECK(ev.type == lia::events::types::whatsapp_message_status);
      CHECK(r.topic == "whatsapp.status.v1");
    }
    CHECK(r.key.rfind("106540352242922:55", 0) == 0);
    const std::string* id = nullptr;
    for (const auto& h : r.headers) {
      if (h.key == "lia.event_id") id = &h.value;
    }
    REQUIRE(id != nullptr);
    CHECK(*id == ev.id);
  }
  CHECK(inbound == 3);
  CHECK(f.producer->ack_all() == 5);
  REQUIRE(a->answered());
  const auto res = a->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":5,"ignored":1})");  // the template status update
  // One processed audit row per acknowledged event, with the event's id.
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 5);
  std::set<std::string> ids;
  for (const auto& r : records) ids.insert(decode(r).id);
  for (const auto& row : rows) {
    CHECK(row.status == "processed");
    CHECK(ids.count(row.id) == 1);
    CHECK(row.provider == "meta");
    CHECK(row.provider_event == "messages");
    CHECK(row.instance == "106540352242922");
    CHECK(!row.provider_message_id.empty());
    CHECK(!row.received_at.empty());
  }
}

TEST_CASE("with the audit consumer on, acknowledged events are left to it") {
  Fixture f;
  {
    GatewayConfig c;
    c.meta_app_secret = kSecret;
    c.audit_acked = false;
    f.gateway = std::make_unique<Gateway>(c, f.producer, f.audit);
  }
  f.producer->auto_ack = true;
  CHECK(f.post_signed(fixture("meta_multi.json"))->get().status == 200);
  CHECK(f.audit->rows().empty());
}

TEST_CASE("one ack short means no answer yet, a failed ack means 503 and failed audit rows") {
  Fixture f;
  auto a = f.post_signed(fixture("meta_statuses.json"));
  REQUIRE(f.producer->records().size() == 4);
  CHECK_FALSE(a->answered());
  CHECK(f.producer->fail_all(lia::core::Error(lia::core::Errc::unavailable, "broker down")) == 4);
  const auto res = a->get();
  CHECK(res.status == 503);
  CHECK(res.body.find("\"unavailable\"") != std::string::npos);
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 4);
  for (const auto& row : rows) {
    CHECK(row.status == "failed");
    CHECK(row.http_status == 503);
    CHECK(row.event_kind == "lia.whatsapp.message.status");
    CHECK(!row.id.empty());
  }
}

TEST_CASE("no ack within the ack timeout: 503, and a late ack changes nothing") {
  Fixture f(50ms);
  auto a = f.post_signed(fixture("meta_text.json"));
  REQUIRE(lia::testing::wait_until([&] { return a->answered(); }, 10s, 5ms));
  const auto res = a->get();
  CHECK(res.status == 503);
  CHECK(res.body.find("within 50 ms") != std::string::npos);
  CHECK(f.producer->ack_all() == 1);  // arrives late: already answered, nothing breaks
  CHECK(a->get().status == 503);
  // The audit says it failed, then that it was processed after all (same id: processed wins).
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].status == "failed");
  CHECK(rows[1].status == "processed");
  CHECK(rows[0].id == rows[1].id);
}

TEST_CASE("a missing or wrong Meta signature is 401 and nothing is parsed or produced") {
  Fixture f;
  const auto body = fixture("meta_text.json");
  auto missing = f.post_meta(body, std::nullopt);
  CHECK(missing->get().status == 401);
  auto forged = f.post_meta(body, meta_signature("another-secret", body));
  CHECK(forged->get().status == 401);
  auto tampered = f.post_meta(body + " ", meta_signature(kSecret, body));
  CHECK(tampered->get().status == 401);
  auto garbage = f.post_meta("{not json", "sha256=zz");
  CHECK(garbage->get().status == 401);  // the signature is checked before the body is read
  CHECK(f.producer->records().empty());
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 4);
  for (const auto& row : rows) {
    CHECK(row.status == "rejected");
    CHECK(row.http_status == 401);
    CHECK(row.event_kind == "webhook");
    CHECK(row.body_sha256.size() == 64);
    CHECK(row.reason.rfind("bad_signature", 0) == 0);
  }
  CHECK(rows[0].body_bytes == static_cast<std::int64_t>(body.size()));
}

TEST_CASE(
    "rejected webhooks past the rows allowed a second are answered and counted, not audited") {
  lia::core::ManualClock clock;
  Fixture f(
      10s, [](GatewayConfig& c) { c.rejected_rows_per_s = 3; }, clock);
  auto& unrecorded =
      lia::core::metrics().counter("lia_ingestion_audit_rejections_unrecorded_total", "");
  const double before = unrecorded.value();
  const auto body = fixture("meta_text.json");
  for (int i = 0; i < 5; ++i) CHECK(f.post_meta(body, std::nullopt)->get().status == 401);
  CHECK(f.audit->rows().size() == 3);
  CHECK(unrecorded.value() - before == 2);
  clock.advance(1s);  // a new second, a new allowance
  CHECK(f.post_evolution(fixture("evo_conversation.json"), "wrong-key")->get().status == 401);
  CHECK(f.audit->rows().size() == 4);
  // An accepted webhook's rows are not held to it.
  auto ok = f.post_signed(body);
  f.producer->ack_all();
  CHECK(ok->get().status == 200);
  CHECK(f.audit->rows().size() == 5);
  CHECK(f.audit->rows().back().status == "processed");
}

TEST_CASE("signed broken JSON or a body of another shape is 400 naming the problem") {
  Fixture f;
  auto broken = f.post_signed("{\"object\": ");
  auto r1 = broken->get();
  CHECK(r1.status == 400);
  CHECK(r1.body.find("invalid JSON") != std::string::npos);
  auto shape = f.post_signed(R"({"object":"whatsapp_business_account","entry":{}})");
  auto r2 = shape->get();
  CHECK(r2.status == 400);
  CHECK(r2.body.find("'entry'") != std::string::npos);
  CHECK(f.producer->records().empty());
  CHECK(f.audit->rows().size() == 2);
}

TEST_CASE("a valid webhook that carries nothing we publish is 200, accepted 0 and ignored 1") {
  Fixture f;
  auto& ignored = lia::core::metrics().counter(
      "lia_ingestion_events_ignored_total",
      "Items of accepted webhooks with nothing to publish (presence, contacts, template "
      "updates, our own read receipts, ...)",
      {{"provider", "evolution"}});
  const double before = ignored.value();
  auto a = f.post_evolution(fixture("evo_contacts_update.json"), kApikey);
  auto res = a->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":0,"ignored":1})");
  CHECK(ignored.value() == before + 1);
  CHECK(f.producer->records().empty());
}

TEST_CASE("items we can't publish are audited, the rest of the webhook is still 200") {
  Fixture f;
  auto a = f.post_evolution(fixture("evo_lid_unresolved.json"), kApikey);
  auto res = a->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":0,"rejected":1})");
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "rejected");
  CHECK(rows[0].detail == "lid_unresolved");
  CHECK(rows[0].provider_message_id == "3EB0LID0000000000003");
  CHECK(rows[0].instance == "lia-vendas");
  CHECK(rows[0].event_kind == "lia.whatsapp.message.received");
  CHECK(rows[0].provider_event == "messages.upsert");
}

TEST_CASE("a Meta user known by username only is audited and counted as username_only") {
  Fixture f;
  auto body = fixture("meta_text.json");
  const std::string from = R"("from": "5511987654321")";
  body.replace(body.find(from), from.size(), R"("from_user_id": "BR.1386490286103987")");
  auto a = f.post_signed(body);
  auto res = a->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":0,"rejected":1})");
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].status == "rejected");
  CHECK(rows[0].detail == "username_only");
  CHECK(lia::core::metrics().render().find(
            R"(lia_ingestion_events_rejected_total{provider="meta",reason="username_only"} 1)") !=
        std::string::npos);
  CHECK(f.producer->records().empty());
}

TEST_CASE("Evolution's apikey: the header, or the body's field when there is no header") {
  Fixture f;
  f.producer->auto_ack = true;
  const auto body = fixture("evo_conversation.json");  // its body apikey is the right one

  CHECK(f.post_evolution(without_apikey(body), kApikey)->get().status == 200);  // header only
  CHECK(f.post_evolution(body, std::nullopt)->get().status == 200);             // body only
  CHECK(f.post_evolution(body, std::string("wrong"))->get().status ==
        401);  // a wrong header decides
  CHECK(f.post_evolution(without_apikey(body), std::nullopt)->get().status == 401);  // neither
  auto wrong_body = body;
  wrong_body.replace(wrong_body.find(kApikey), 4, "XXXX");
  CHECK(f.post_evolution(wrong_body, std::nullopt)->get().status == 401);
  CHECK(f.post_evolution("{broken", std::nullopt)->get().status ==
        401);  // can't authenticate itself
  CHECK(f.post_evolution("{broken", kApikey)->get().status == 400);
  CHECK(f.producer->records().size() == 2);
  std::size_t unauthorized = 0;
  for (const auto& row : f.audit->rows()) unauthorized += row.http_status == 401 ? 1 : 0;
  CHECK(unauthorized == 4);
}

TEST_CASE("Evolution webhook-by-events: the event in the path") {
  Fixture f;
  f.producer->auto_ack = true;
  auto body = fixture("evo_update_v2.json");
  body.replace(body.find(R"("event": "messages.update",)"), 28, "");
  auto res = f.post_evolution(body, kApikey, std::string("messages-update"))->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":1})");
  const auto records = f.producer->records();
  REQUIRE(records.size() == 1);
  CHECK(records[0].topic == "whatsapp.status.v1");
  CHECK(decode(records[0]).type == lia::events::types::whatsapp_message_status);
}

TEST_CASE("an Evolution instance over the Cloud API: its own sends are published with its number") {
  const auto body = fixture("evo_cloud_send_message.json");  // no `sender`
  SECTION("named in the configuration") {
    Fixture f(10s, [](GatewayConfig& c) { c.evolution_numbers = {{"lia-cloud", "551140028922"}}; });
    f.producer->auto_ack = true;
    auto res = f.post_evolution(body, kApikey)->get();
    CHECK(res.status == 200);
    CHECK(res.body == R"({"accepted":1})");
    const auto records = f.producer->records();
    REQUIRE(records.size() == 1);
    const auto ev = decode(records[0]);
    CHECK(ev.type == lia::events::types::whatsapp_message_received);
    CHECK(ev.data.find(R"("from":"551140028922")") != std::string::npos);
  }
  SECTION("not named: 200 still (a retry would change nothing), the item rejected and audited") {
    const lia::testing::LogLines log;
    Fixture f;
    f.producer->auto_ack = true;
    auto res = f.post_evolution(body, kApikey)->get();
    CHECK(res.status == 200);
    CHECK(res.body == R"({"accepted":0,"rejected":1})");
    CHECK(f.producer->records().empty());
    // A warning names the setting, once for the instance, however many messages follow.
    CHECK(f.post_evolution(body, kApikey)->get().status == 200);
    CHECK(log.count("until LIA_EVOLUTION_INSTANCE_NUMBERS names its number") == 1);
    bool audited = false;
    for (const auto& row : f.audit->rows()) {
      audited = audited || (row.status == "rejected" &&
                            row.reason.find("LIA_EVOLUTION_INSTANCE_NUMBERS") != std::string::npos);
    }
    CHECK(audited);
  }
}

TEST_CASE("connection updates go to the status topic keyed by the instance") {
  Fixture f;
  f.producer->auto_ack = true;
  CHECK(f.post_evolution(fixture("evo_connection_close.json"), kApikey)->get().status == 200);
  const auto records = f.producer->records();
  REQUIRE(records.size() == 1);
  CHECK(records[0].topic == "whatsapp.status.v1");
  CHECK(records[0].key == "lia-vendas");
  CHECK(decode(records[0]).type == lia::events::types::whatsapp_connection_updated);
}

TEST_CASE("the same webhook delivered twice produces the same event ids") {
  Fixture f;
  f.producer->auto_ack = true;
  const auto body = fixture("meta_multi.json");
  CHECK(f.post_signed(body)->get().status == 200);
  CHECK(f.post_signed(body)->get().status == 200);
  const auto records = f.producer->records();
  REQUIRE(records.size() == 10);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(decode(records[i]).id == decode(records[i + 5]).id);
    CHECK(records[i].key == records[i + 5].key);
  }
}

TEST_CASE("an item outside the schema's limits is rejected, the others published") {
  Fixture f;
  f.producer->auto_ack = true;
  // A location outside the globe is not a location.
  auto body = fixture("meta_location.json");
  body.replace(body.find("-23.5648"), 8, "-123.5648");
  auto res = f.post_signed(body)->get();
  CHECK(res.status == 200);
  CHECK(res.body == R"({"accepted":0,"rejected":1})");
  const auto rows = f.audit->rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].detail == "bad_item");
  CHECK(rows[0].reason.find("latitude") != std::string::npos);
  CHECK(f.producer->records().empty());
}

TEST_CASE(
    "with LIA_INGESTION_VALIDATE_EVENTS the records are built by runtime::make_record, the same") {
  Fixture plain;
  Fixture validating;
  {
    GatewayConfig c;
    c.meta_app_secret = kSecret;
    c.evolution_apikey = kApikey;
    c.validate_events = true;
    validating.gateway = std::make_unique<Gateway>(c, validating.producer, validating.audit);
  }
  plain.producer->auto_ack = true;
  validating.producer->auto_ack = true;
  const auto body = fixture("meta_multi.json");
  CHECK(plain.post_signed(body)->get().status == 200);
  CHECK(validating.post_signed(body)->get().status == 200);
  const auto a = plain.producer->records();
  const auto b = validating.producer->records();
  REQUIRE(a.size() == 5);
  REQUIRE(b.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto ea = decode(a[i]);
    auto eb = decode(b[i]);
    CHECK(a[i].topic == b[i].topic);
    CHECK(a[i].key == b[i].key);
    REQUIRE(a[i].headers.size() == b[i].headers.size());
    for (std::size_t h = 0; h < a[i].headers.size(); ++h) {
      CHECK(a[i].headers[h].key == b[i].headers[h].key);
      CHECK(a[i].headers[h].value == b[i].headers[h].value);
    }
    eb.time = ea.time;  // made a moment apart
    CHECK(ea == eb);
  }
}
