// The providers' HTTP requests, byte for byte, and how their answers are read.
#include <catch2/catch.hpp>

#include <lia/notification/provider.hpp>
#include <lia/notification/settings.hpp>

using namespace lia;
using namespace lia::notification;
using namespace std::chrono_literals;

namespace {

ProviderConfig config() {
  ProviderConfig c;
  c.meta_graph_url = "https://graph.facebook.com/v25.0";
  c.meta_access_token = "EAAG-token";
  c.evolution_url = "http://evo.local:8080";
  c.evolution_apikey = "evo-key";
  c.timeout = 7s;
  return c;
}

SendCommand text_command(Provider p) {
  SendCommand c;
  c.kind = CommandKind::text;
  c.command_id = "0190e0a4-8000-7abc-9def-0000000c0001";
  c.provider = p;
  c.instance = p == Provider::meta ? "106540352242922" : "lia vendas";
  c.to = "5511987654321";
  c.text = "Olá \"Maria\"!\nTudo bem?";
  return c;
}

std::string header(const http::ClientRequest& r, std::string_view name) {
  const auto* v = r.headers.find(name);
  return v != nullptr ? *v : "<absent>";
}

core::Result<http::ClientResponse> answer(int status, std::string body,
                                          http::Headers headers = {}) {
  http::ClientResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

const core::SysTime kNow = core::SysTime{std::chrono::seconds{1'700'000'000}};

}  // namespace

TEST_CASE("a Meta text request: URL, bearer token and body exactly") {
  auto req = build_request(text_command(Provider::meta), std::nullopt, config());
  REQUIRE(req.ok());
  CHECK(req->method == "POST");
  CHECK(req->url == "https://graph.facebook.com/v25.0/106540352242922/messages");
  CHECK(header(*req, "Authorization") == "Bearer EAAG-token");
  CHECK(header(*req, "Content-Type") == "application/json");
  CHECK(header(*req, "apikey") == "<absent>");
  CHECK(req->timeout == 7s);
  CHECK(req->body ==
        R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321",)"
        R"("type":"text","text":{"body":"Olá \"Maria\"!\nTudo bem?","preview_url":false}})");
}

TEST_CASE("a Meta text request quotes the replied message and can preview links") {
  auto cmd = text_command(Provider::meta);
  cmd.reply_to = "wamid.ABC";
  cmd.preview_url = true;
  cmd.text = "veja https://lia.example";
  auto req = build_request(cmd, std::nullopt, config());
  REQUIRE(req.ok());
  CHECK(req->body ==
        R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321",)"
        R"("context":{"message_id":"wamid.ABC"},"type":"text",)"
        R"("text":{"body":"veja https://lia.example","preview_url":true}})");
}

TEST_CASE("a Meta template request names the template, language and body parameters") {
  auto cmd = text_command(Provider::meta);
  cmd.kind = CommandKind::template_message;
  cmd.tmpl = {"pesquisa_nps", "pt_BR", {"Maria", "Teresópolis"}};
  auto req = build_request(cmd, std::string("ignored for Meta"), config());
  REQUIRE(req.ok());
  CHECK(req->url == "https://graph.facebook.com/v25.0/106540352242922/messages");
  CHECK(req->body ==
        R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321",)"
        R"("type":"template","template":{"name":"pesquisa_nps","language":{"code":"pt_BR"},)"
        R"("components":[{"type":"body","parameters":[{"type":"text","text":"Maria"},)"
        R"({"type":"text","text":"Teresópolis"}]}]}})");

  // Meta refuses new lines, tabs and more than four spaces in a row in a parameter.
  cmd.tmpl.parameters = {"Rua A, 10\nApto 2\r\n", "MARIA      SILVA\tSP"};
  auto cleaned = build_request(cmd, std::nullopt, config());
  REQUIRE(cleaned.ok());
  CHECK(cleaned->body.find(R"("text":"Rua A, 10 Apto 2  ")") != std::string::npos);
  CHECK(cleaned->body.find(R"("text":"MARIA    SILVA SP")") != std::string::npos);

  cmd.tmpl.parameters.clear();
  auto bare = build_request(cmd, std::nullopt, config());
  REQUIRE(bare.ok());
  CHECK(bare->body ==
        R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321",)"
        R"("type":"template","template":{"name":"pesquisa_nps","language":{"code":"pt_BR"}}})");
}

TEST_CASE("an Evolution text request: URL with the encoded instance, apikey and body exactly") {
  auto cmd = text_command(Provider::evolution);
  auto req = build_request(cmd, std::nullopt, config());
  REQUIRE(req.ok());
  CHECK(req->method == "POST");
  CHECK(req->url == "http://evo.local:8080/message/sendText/lia%20vendas");
  CHECK(header(*req, "apikey") == "evo-key");
  CHECK(header(*req, "Authorization") == "<absent>");
  CHECK(header(*req, "Content-Type") == "application/json");
  // linkPreview said either way: Evolution previews links unless it is false.
  CHECK(req->body ==
        R"({"number":"5511987654321","text":"Olá \"Maria\"!\nTudo bem?","linkPreview":false})");

  cmd.reply_to = "3EB0AA";
  cmd.preview_url = true;
  auto quoted = build_request(cmd, std::nullopt, config());
  REQUIRE(quoted.ok());
  CHECK(quoted->body == R"({"number":"5511987654321","text":"Olá \"Maria\"!\nTudo bem?",)"
                        R"("linkPreview":true,"quoted":{"key":{"id":"3EB0AA"}}})");
}

TEST_CASE("an Evolution template request sends the rendered text") {
  auto cmd = text_command(Provider::evolution);
  cmd.kind = CommandKind::template_message;
  cmd.tmpl = {"pesquisa_nps", "pt_BR", {"Maria"}};
  auto req = build_request(cmd, std::string("Olá Maria! De 0 a 10?"), config());
  REQUIRE(req.ok());
  CHECK(req->body ==
        R"({"number":"5511987654321","text":"Olá Maria! De 0 a 10?","linkPreview":false})");
  auto unrendered = build_request(cmd, std::nullopt, config());
  REQUIRE_FALSE(unrendered.ok());
  CHECK_FALSE(unrendered.error().retryable());
}

TEST_CASE("missing credentials are a clear, final error naming the setting") {
  auto c = config();
  c.meta_access_token.clear();
  c.evolution_apikey.clear();
  auto meta = build_request(text_command(Provider::meta), std::nullopt, c);
  REQUIRE_FALSE(meta.ok());
  CHECK(meta.error().message().find("LIA_META_ACCESS_TOKEN") != std::string::npos);
  CHECK_FALSE(meta.error().retryable());
  auto evo = build_request(text_command(Provider::evolution), std::nullopt, c);
  REQUIRE_FALSE(evo.ok());
  CHECK(evo.error().message().find("LIA_EVOLUTION_APIKEY") != std::string::npos);
}

TEST_CASE("a provider's success answer gives its message id") {
  auto meta = interpret(
      Provider::meta,
      answer(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"55","wa_id":"55"}],)"
                  R"("messages":[{"id":"wamid.HBgN"}]})"),
      kNow);
  CHECK(meta.verdict == Verdict::sent);
  CHECK(meta.provider_message_id == "wamid.HBgN");
  CHECK(meta.http_status == 200);
  auto evo = interpret(
      Provider::evolution,
      answer(
          201,
          R"({"key":{"remoteJid":"55@s.whatsapp.net","fromMe":true,"id":"3EB0C767"},"status":"PENDING"})"),
      kNow);
  CHECK(evo.verdict == Verdict::sent);
  CHECK(evo.provider_message_id == "3EB0C767");
}

TEST_CASE("a 2xx without a message id is not retried: it may have been accepted") {
  for (const char* body :
       {"", "{}", R"({"messages":[]})", R"({"messages":[{"id":""}]})", "<html>"}) {
    INFO(body);
    auto r = interpret(Provider::meta, answer(200, body), kNow);
    CHECK(r.verdict == Verdict::reject);
    CHECK(r.reason.find("without a message id") != std::string::npos);
    // Said as unknown: a campaign must not send it again either.
    CHECK(r.code == std::optional<std::string>("outcome_unknown"));
  }
}

TEST_CASE("429, 408, 5xx and transport errors are retried, other 4xx are not") {
  CHECK(interpret(Provider::meta, answer(429, "{}"), kNow).verdict == Verdict::retry);
  CHECK(interpret(Provider::evolution, answer(408, ""), kNow).verdict == Verdict::retry);
  CHECK(interpret(Provider::evolution, answer(500, "oops"), kNow).verdict == Verdict::retry);
  CHECK(interpret(Provider::meta, answer(503, ""), kNow).verdict == Verdict::retry);
  CHECK(interpret(Provider::meta, answer(401, ""), kNow).verdict == Verdict::reject);
  CHECK(interpret(Provider::evolution, answer(404, ""), kNow).verdict == Verdict::reject);

  auto refused =
      interpret(Provider::meta, core::Error(core::Errc::unavailable, "connection refused"), kNow);
  CHECK(refused.verdict == Verdict::retry);
  CHECK(refused.reason.find("connection refused") != std::string::npos);
  CHECK_FALSE(refused.http_status);
  auto timeout = interpret(Provider::meta, core::Error(core::Errc::timeout, "deadline"), kNow);
  CHECK(timeout.verdict == Verdict::retry);
  // Once the whole request went out, no answer (or one too large or broken to read) is an
  // unknown outcome: never sent twice.
  for (const auto& e : {core::Error(core::Errc::timeout, "deadline"),
                        core::Error(core::Errc::unavailable, "connection reset while reading"),
                        core::Error(core::Errc::too_large, "response body past 64 MiB")}) {
    auto unknown = interpret(Provider::evolution, e, kNow, /*request_sent=*/true);
    CHECK(unknown.verdict == Verdict::reject);
    CHECK(unknown.reason.rfind("outcome unknown", 0) == 0);
    CHECK(unknown.code == std::optional<std::string>("outcome_unknown"));
  }
  auto tls =
      interpret(Provider::meta,
                core::Error(core::Errc::unavailable, "certificate verify failed", false), kNow);
  CHECK(tls.verdict == Verdict::reject);
}

TEST_CASE("a gateway that may have passed the request on is an unknown outcome, not a retry") {
  const std::string html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
  for (const auto& [status, body] :
       std::vector<std::pair<int, std::string>>{{504, ""},
                                                {504, R"({"error":{"message":"x","code":2}})"},
                                                {524, ""},
                                                {502, html},
                                                {520, html}}) {
    INFO(status << " " << body);
    auto r = interpret(Provider::evolution, answer(status, body), kNow);
    CHECK(r.verdict == Verdict::reject);
    CHECK(r.code == std::optional<std::string>("outcome_unknown"));
    CHECK(r.reason.find("gateway answered HTTP " + std::to_string(status)) != std::string::npos);
  }
  // A gateway's own JSON (Kong, API Gateway) is no answer of the provider's either.
  for (const auto provider : {Provider::meta, Provider::evolution}) {
    for (const char* body :
         {R"({"message":"An invalid response was received from the upstream server"})",
          R"({"message":"Internal server error"})", R"({"error":"Bad Gateway"})"}) {
      INFO(to_string(provider) << " " << body);
      const auto r = interpret(provider, answer(502, body), kNow);
      CHECK(r.verdict == Verdict::reject);
      CHECK(r.code == std::optional<std::string>("outcome_unknown"));
    }
  }
  // The provider's own 502 (its error body), a gateway that never reached it, or a 503: retried.
  CHECK(
      interpret(Provider::meta,
                answer(502, R"({"error":{"message":"Service temporarily unavailable","code":2}})"),
                kNow)
          .verdict == Verdict::retry);
  CHECK(interpret(Provider::evolution,
                  answer(502, R"({"status":502,"error":"Bad Gateway","response":{"message":)"
                              R"("Connection Failure"}})"),
                  kNow)
            .verdict == Verdict::retry);
  for (int status : {503, 521, 522, 523}) {
    INFO(status);
    CHECK(interpret(Provider::evolution, answer(status, html), kNow).verdict == Verdict::retry);
  }
}

TEST_CASE("Meta's error code and message make the reason, throttling codes are retried") {
  auto undeliverable = interpret(
      Provider::meta,
      answer(
          400,
          R"({"error":{"message":"(#131026) Message Undeliverable","type":"OAuthException",)"
          R"("code":131026,"error_data":{"messaging_product":"whatsapp","details":"Recipient 5511987654321 cannot be reached"}}})"),
      kNow);
  CHECK(undeliverable.verdict == Verdict::reject);
  CHECK(undeliverable.code == "131026");
  CHECK(undeliverable.http_status == 400);
  CHECK(undeliverable.reason.find("HTTP 400") != std::string::npos);
  CHECK(undeliverable.reason.find("(#131026) Message Undeliverable") != std::string::npos);
  CHECK(undeliverable.reason.find("5511987654321") == std::string::npos);  // phone masked

  auto throttled = interpret(
      Provider::meta,
      answer(400, R"({"error":{"message":"(#131056) pair rate limit","code":131056}})"), kNow);
  CHECK(throttled.verdict == Verdict::retry);
  CHECK(throttled.code == "131056");
}

TEST_CASE("Meta's 100 with subcode 33 names a phone number id it does not know, not the message") {
  auto unknown = interpret(
      Provider::meta,
      answer(400,
             R"({"error":{"message":"Unsupported post request. Object with ID 'lia-meta' does )"
             R"(not exist, cannot be loaded due to missing permissions, or does not support )"
             R"(this operation.","type":"GraphMethodException","code":100,"error_subcode":33}})"),
      kNow);
  CHECK(unknown.verdict == Verdict::reject);
  CHECK(unknown.code == "instance_not_found");
  CHECK(unknown.reason.find("does not exist") != std::string::npos);
  // Other 100s are the message's (a parameter missing or not valid).
  auto bad_parameter =
      interpret(Provider::meta,
                answer(400, R"({"error":{"message":"(#100) Invalid parameter","code":100,)"
                            R"("error_subcode":2494010}})"),
                kNow);
  CHECK(bad_parameter.code == "100");
}

TEST_CASE("a throttle without Retry-After waits seconds: 6 for Meta's pair rate, 2 for others") {
  const auto meta = [](int status, const char* code) {
    return interpret(
        Provider::meta,
        answer(status, std::string(R"({"error":{"message":"limit","code":)") + code + "}}"), kNow);
  };
  CHECK(meta(400, "131056").retry_after == std::chrono::milliseconds{6000});
  CHECK(meta(429, "130429").retry_after == std::chrono::milliseconds{2000});
  CHECK(meta(400, "80007").retry_after == std::chrono::milliseconds{2000});
  CHECK(interpret(Provider::evolution, answer(429, "{}"), kNow).retry_after ==
        std::chrono::milliseconds{2000});
  // The provider's own Retry-After wins; a 5xx or a refusal has no floor.
  CHECK(interpret(Provider::meta,
                  answer(400, R"({"error":{"code":131056}})", {{"Retry-After", "1"}}), kNow)
            .retry_after == std::chrono::milliseconds{1000});
  CHECK_FALSE(meta(500, "131000").retry_after);
  CHECK_FALSE(meta(400, "131026").retry_after);
  // Capped by the backoff's cap like any Retry-After: 6 s, then the doubling takes over.
  CHECK(backoff_delay(1, 200ms, 10s, meta(400, "131056").retry_after) == 6s);
  CHECK(backoff_delay(1, 200ms, 3s, meta(400, "131056").retry_after) == 3s);
}

TEST_CASE("Evolution's error messages make the reason") {
  auto r = interpret(
      Provider::evolution,
      answer(400,
             R"({"status":400,"error":"Bad Request","response":{"message":["Text is required"]}})"),
      kNow);
  CHECK(r.verdict == Verdict::reject);
  CHECK(r.reason == "provider answered HTTP 400: Text is required");
  CHECK_FALSE(r.code.has_value());
  auto plain =
      interpret(Provider::evolution, answer(401, R"({"status":401,"error":"Unauthorized"})"), kNow);
  CHECK(plain.reason == "provider answered HTTP 401: Unauthorized");
}

TEST_CASE("Evolution: a number without WhatsApp is said so, a closed session is retried") {
  auto missing = interpret(
      Provider::evolution,
      answer(
          400,
          R"({"status":400,"error":"Bad Request","response":{"message":[)"
          R"({"jid":"5511987654321@s.whatsapp.net","exists":false,"number":"5511987654321"}]}})"),
      kNow);
  CHECK(missing.verdict == Verdict::reject);
  CHECK(missing.code == std::optional<std::string>("not_on_whatsapp"));
  CHECK(missing.reason.find("5511987654321") == std::string::npos);  // masked

  // The instance reconnecting: Baileys refused before sending anything.
  auto closed = interpret(Provider::evolution,
                          answer(400, R"({"status":400,"error":"Bad Request",)"
                                      R"("response":{"message":["Error: Connection Closed"]}})"),
                          kNow);
  CHECK(closed.verdict == Verdict::retry);
  CHECK_FALSE(closed.code.has_value());
  REQUIRE(closed.retry_after.has_value());
  CHECK(*closed.retry_after == std::chrono::seconds{2});
}

TEST_CASE("the default tries ride out a provider's outage of several seconds") {
  const lia::notification::Settings s;  // LIA_NOTIFY_MAX_ATTEMPTS, LIA_NOTIFY_BACKOFF_MS defaults
  std::chrono::milliseconds waited{0};
  for (int n = 1; n < s.max_attempts; ++n)
    waited += backoff_delay(n, s.backoff, s.backoff_max, std::nullopt);
  // An instance reconnecting or a burst of 5xx lasts seconds: a second and a half of waits
  // (the old 200 ms x 4 tries) dead-lettered through them.
  CHECK(waited >= std::chrono::seconds{15});
  // And the longest command still fits librdkafka's default max.poll.interval.ms with room.
  CHECK(s.longest_command() + std::chrono::minutes{1} <= std::chrono::minutes{5});
}

TEST_CASE("Retry-After is read as seconds or an HTTP date") {
  auto r = interpret(Provider::meta, answer(429, "{}", {{"Retry-After", "2"}}), kNow);
  CHECK(r.retry_after == std::chrono::milliseconds{2000});
  CHECK(parse_retry_after(" 0 ", kNow) == std::chrono::milliseconds{0});
  // 1'700'000'000 is Tue, 14 Nov 2023 22:13:20 GMT.
  CHECK(parse_retry_after("Tue, 14 Nov 2023 22:13:25 GMT", kNow) ==
        std::chrono::milliseconds{5000});
  CHECK(parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", kNow) == std::chrono::milliseconds{0});
  // A date far ahead waits a day, like a huge number of seconds; past 2262 it once overflowed
  // the clock's nanoseconds (found by scripts/fuzz).
  CHECK(parse_retry_after("Thu, 16 Nov 2023 22:13:20 GMT", kNow) == std::chrono::hours{24});
  CHECK(parse_retry_after("Sun, 21 Oct 8273 07:28:20 GMT", kNow) == std::chrono::hours{24});
  CHECK(parse_retry_after("99999999999", kNow) == std::chrono::hours{24});
  CHECK_FALSE(parse_retry_after("soon", kNow));
  CHECK_FALSE(parse_retry_after("-1", kNow));
  CHECK_FALSE(parse_retry_after("", kNow));
  CHECK_FALSE(interpret(Provider::meta, answer(503, ""), kNow).retry_after);
}

TEST_CASE("backoff doubles up to its cap and a Retry-After wins when longer, capped too") {
  CHECK(backoff_delay(1, 200ms, 10s, std::nullopt) == 200ms);
  CHECK(backoff_delay(2, 200ms, 10s, std::nullopt) == 400ms);
  CHECK(backoff_delay(3, 200ms, 10s, std::nullopt) == 800ms);
  CHECK(backoff_delay(12, 200ms, 10s, std::nullopt) == 10s);
  CHECK(backoff_delay(1, 200ms, 10s, 3s) == 3s);
  CHECK(backoff_delay(3, 200ms, 10s, 100ms) == 800ms);
  CHECK(backoff_delay(1, 200ms, 10s, std::chrono::hours{1}) == 10s);
  CHECK(backoff_delay(1000, 1ms, 5s, std::nullopt) == 5s);  // no overflow
}

TEST_CASE("settings: a backoff cap under the base, or a credential ending in a newline, is named") {
  auto ok = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                 {"LIA_META_ACCESS_TOKEN", "EAAG-token"},
                                 {"LIA_NOTIFY_BACKOFF_MS", "500"},
                                 {"LIA_NOTIFY_BACKOFF_MAX_MS", "500"}});
  const auto s = Settings::read(ok);
  CHECK(ok.problems().empty());
  CHECK(s.backoff_max == 500ms);
  CHECK(s.meta_access_token == "EAAG-token");

  auto bad = core::Env::from_map({{"LIA_JWT_SECRET", "s3cret-0123456789-0123456789abcdef"},
                                  {"LIA_META_ACCESS_TOKEN", "EAAG-token\n"},
                                  {"LIA_NOTIFY_BACKOFF_MS", "2000"},
                                  {"LIA_NOTIFY_BACKOFF_MAX_MS", "1000"},
                                  {"LIA_NOTIFY_EVENTS_TOPIC", "notification events"},
                                  {"LIA_NOTIFY_HTTP_TIMEOUT_MS", "300"},
                                  {"LIA_NOTIFY_RETENTION_DAYS", "7"}});
  (void)Settings::read(bad);
  std::string all;
  for (const auto& p : bad.problems()) all += p + "\n";
  INFO(all);
  REQUIRE(bad.problems().size() == 5);
  CHECK(all.find("LIA_NOTIFY_HTTP_TIMEOUT_MS") != std::string::npos);
  CHECK(all.find("LIA_NOTIFY_RETENTION_DAYS") != std::string::npos);
  CHECK(all.find("LIA_META_ACCESS_TOKEN: has whitespace at its start or end") != std::string::npos);
  CHECK(all.find("LIA_NOTIFY_BACKOFF_MAX_MS: must be at least LIA_NOTIFY_BACKOFF_MS (2000 ms), "
                 "got 1000 ms") != std::string::npos);
  CHECK(all.find("LIA_NOTIFY_EVENTS_TOPIC: expected a Kafka topic name") != std::string::npos);
  CHECK(all.find("EAAG-token") == std::string::npos);
}
