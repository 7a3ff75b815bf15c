// Whole webhook requests as the gateway's handlers get them from the HTTP server: a signature
// or apikey header (right or wrong) and any body, with a producer that acknowledges at once.
// Input: byte 0 chooses the provider (bit 0), whether the request is authentic (bit 1) and, for
// Evolution, whether the path names an {event} (bit 2); then, for an inauthentic request, the
// header's value up to the first new line; then the body.
// Properties:
//   - the answer is 200, 400 or 401 (the producer never fails here), with a JSON body; a 4xx
//     carries error.code and error.message;
//   - an inauthentic request is 401 and produces nothing;
//   - a 200 says how many events it accepted, exactly as many records were produced, and each
//     is a CloudEvent with its id header whose data matches its schema.

#include <mutex>
#include <optional>
#include <vector>

#include <lia/auth/auth.hpp>
#include <lia/json/json.hpp>
#include <lia/runtime/events.hpp>

#include "events_check.hpp"
#include "src/gateway.hpp"

namespace {

using lia::fuzz::require;
namespace ing = lia::ingestion;
namespace http = lia::http;
namespace kafka = lia::kafka;

constexpr std::string_view kSecret = "meta-app-secret-for-fuzzing";
constexpr std::string_view kApikey = "B6D711FCDE4D4FD5936544120E713976";

// Acknowledges every record at once, and keeps it.
class AckingProducer final : public kafka::Producer {
 public:
  void produce(kafka::Record record, kafka::DeliveryCallback done) override {
    {
      std::lock_guard lock(mu_);
      records_.push_back(record);
    }
    done(kafka::Delivery{record.topic, 0, 0});
  }
  lia::core::Status flush(std::chrono::milliseconds /*timeout*/) override { return {}; }
  std::size_t in_flight() const override { return 0; }
  std::vector<kafka::Record> take() {
    std::lock_guard lock(mu_);
    return std::exchange(records_, {});
  }

 private:
  std::mutex mu_;
  std::vector<kafka::Record> records_;
};

struct Fixture {
  std::shared_ptr<AckingProducer> producer = std::make_shared<AckingProducer>();
  ing::Gateway gateway{[] {
                         ing::GatewayConfig c;
                         c.meta_verify_token = "verify-me";
                         c.meta_app_secret = std::string(kSecret);
                         c.evolution_apikey = std::string(kApikey);
                         return c;
                       }(),
                       producer, nullptr};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = lia::fuzz::split_choice(data, size);
  if (!in) return 0;
  const auto [pick, input] = *in;
  const bool evolution = (pick & 1U) != 0;
  const bool authentic = (pick & 2U) != 0;
  std::string_view header;
  std::string_view body = input;
  if (!authentic) {
    const auto nl = input.find('\n');
    header = input.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  }

  static Fixture fx;
  http::Request request;
  request.method = "POST";
  request.body = std::string(body);
  if (evolution) {
    request.path = "/webhooks/evolution";
    if ((pick & 4U) != 0) request.params["event"] = "messages-upsert";
    request.headers.add("apikey", authentic ? std::string(kApikey) : std::string(header));
  } else {
    request.path = "/webhooks/meta";
    request.headers.add(
        "X-Hub-Signature-256",
        authentic ? "sha256=" + lia::auth::to_hex(lia::auth::hmac_sha256(kSecret, request.body))
                  : std::string(header));
  }
  std::optional<http::Response> answer;
  auto respond = http::Responder::to([&](http::Response&& r) { answer = std::move(r); });
  if (evolution) {
    fx.gateway.evolution(std::move(request), respond);
  } else {
    fx.gateway.meta(std::move(request), respond);
  }
  require(answer.has_value(), "a request acknowledged at once is answered at once");
  const auto records = fx.producer->take();

  const int status = answer->status;
  require(status == 200 || status == 400 || status == 401, "the answer is 200, 400 or 401",
          std::to_string(status));
  auto doc = lia::json::parse(answer->body);
  require(doc.ok() && doc->IsObject(), "the answer is a JSON object", answer->body);
  if (status != 200) {
    require(records.empty(), "a refused request produces nothing", answer->body);
    const auto& error = (*doc)["error"];
    require(doc->HasMember("error") && error.IsObject() && error.HasMember("code") &&
                error.HasMember("message"),
            "a refused request says why", answer->body);
    if (!authentic && !evolution) require(status == 401, "a wrong signature is 401");
    return 0;
  }
  require(authentic, "only an authentic request is accepted", answer->body);
  require(doc->HasMember("accepted") && (*doc)["accepted"].IsUint64() &&
              (*doc)["accepted"].GetUint64() == records.size(),
          "a 200 accepts exactly the records it produced", answer->body);
  for (const auto& r : records) {
    kafka::Message m;
    m.topic = r.topic;
    m.key = r.key;
    m.value = r.value;
    m.headers = r.headers;
    require(!r.key.empty() && m.header("lia.event_id") != nullptr,
            "every record has a key and its event id header", r.value);
    auto event = lia::runtime::decode_event(m);
    require(event.ok(), "every record is a CloudEvent", r.value);
    lia::fuzz::require_valid_event(event->type, event->data, "every record matches its schema");
  }
  return 0;
}
