#include <algorithm>
#include <array>

#include <fmt/format.h>

#include <lia/core/log.hpp>
#include <lia/core/text.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/notification/provider.hpp>

namespace lia::notification {
namespace {

using core::Errc;
using core::Error;

// Meta error codes that are throttling, not a verdict on the message: worth another try
// even when they come with HTTP 400 (4 app rate, 80007 WABA rate, 130429 throughput,
// 131048 spam rate, 131056 pair rate).
constexpr std::array<std::int64_t, 5> kMetaThrottleCodes{4, 80007, 130429, 131048, 131056};
constexpr std::int64_t kMetaPairRateCode = 131056;
constexpr std::chrono::milliseconds kThrottleWait{2000};

// A template's body parameter as Meta takes it: no new lines or tabs, and no more than four
// spaces in a row (else it answers 400, "Param text cannot have new-line/tab characters or
// more than 4 consecutive spaces"), whatever a campaign's file held.
std::string meta_parameter(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  int spaces = 0;
  for (char c : p) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    spaces = c == ' ' ? spaces + 1 : 0;
    if (spaces <= 4) out += c;
  }
  return out;
}

std::string meta_body(const SendCommand& cmd) {
  json::Writer w;
  w.begin_object()
      .field("messaging_product", "whatsapp")
      .field("recipient_type", "individual")
      .field("to", cmd.to);
  if (cmd.kind == CommandKind::text) {
    if (cmd.reply_to) w.object_field("context").field("message_id", *cmd.reply_to).end_object();
    w.field("type", "text")
        .object_field("text")
        .field("body", cmd.text)
        .field("preview_url", cmd.preview_url)
        .end_object();
  } else {
    w.field("type", "template")
        .object_field("template")
        .field("name", cmd.tmpl.name)
        .object_field("language")
        .field("code", cmd.tmpl.language)
        .end_object();
    if (!cmd.tmpl.parameters.empty()) {
      w.array_field("components").begin_object().field("type", "body").array_field("parameters");
      for (const auto& p : cmd.tmpl.parameters) {
        w.begin_object().field("type", "text").field("text", meta_parameter(p)).end_object();
      }
      w.end_array().end_object().end_array();
    }
    w.end_object();
  }
  w.end_object();
  return w.take();
}

std::string evolution_body(const SendCommand& cmd, const std::string& text) {
  json::Writer w;
  w.begin_object().field("number", cmd.to).field("text", text);
  // Said either way, a rendered template too: Evolution previews a link unless linkPreview is
  // false, fetching the URL from its own host (a payment link's too).
  w.field("linkPreview", cmd.preview_url);
  if (cmd.kind == CommandKind::text) {
    if (cmd.reply_to) {
      w.object_field("quoted")
          .object_field("key")
          .field("id", *cmd.reply_to)
          .end_object()
          .end_object();
    }
  }
  w.end_object();
  return w.take();
}

// The provider's own words about an error, masked of phone-like digits.
struct ProviderError {
  std::string message;
  std::optional<std::string> code;
  std::optional<std::int64_t> numeric_code;
  // Evolution: the instance's WhatsApp session was closed (reconnecting); Baileys refuses
  // before anything is written, so the message was not sent.
  bool connection_closed = false;
  // The body has the provider's own error shape (Meta: an `error` with a `code`; Evolution: a
  // `response` object), not a gateway's generic `{"message": ...}` (Kong, API Gateway).
  bool providers_shape = false;
};

ProviderError read_error(Provider provider, std::string_view body) {
  ProviderError e;
  auto doc = json::parse(body);
  if (!doc || !doc->IsObject()) return e;
  auto root = json::Obj::root(*doc);
  if (!root) return e;
  if (provider == Provider::meta) {
    auto err = root->opt_obj("error");
    if (!err.ok() || !*err) return e;
    const auto& o = **err;
    if (auto m = o.opt_str("message"); m.ok() && *m) e.message = std::string(**m);
    if (auto c = o.opt_i64("code"); c.ok() && *c) {
      e.numeric_code = **c;
      e.code = std::to_string(**c);
      e.providers_shape = true;
      if (auto sub = o.opt_i64("error_subcode"); **c == 100 && sub.ok() && *sub && **sub == 33) {
        e.code = std::string(kCodeInstanceNotFound);
      }
    }
    if (auto data = o.opt_obj("error_data"); data.ok() && *data) {
      if (auto d = (*data)->opt_str("details"); d.ok() && *d && !(*d)->empty()) {
        e.message += e.message.empty() ? "" : " - ";
        e.message += std::string(**d);
      }
    }
  } else {
    // {"status":400,"error":"Bad Request","response":{"message":["..."]}}
    if (auto resp = root->opt_obj("response"); resp.ok() && *resp) {
      e.providers_shape = true;
      const auto* m = (*resp)->get("message");
      if (m != nullptr && m->IsString()) {
        e.message = std::string(json::view(*m));
      } else if (m != nullptr && m->IsArray()) {
        for (const auto& item : m->GetArray()) {
          if (!e.message.empty()) e.message += "; ";
          e.message += item.IsString() ? std::string(json::view(item)) : json::to_string(item);
          // The number check: [{"jid": "...", "exists": false, "number": "..."}].
          if (item.IsObject() && item.HasMember("exists") && item["exists"].IsFalse()) {
            e.code = std::string(kCodeNotOnWhatsapp);
          }
        }
      }
    }
    if (e.message.empty()) {
      if (auto er = root->opt_str("error"); er.ok() && *er) {
        e.message = std::string(**er);
      } else if (auto m = root->opt_str("message"); m.ok() && *m) {
        e.message = std::string(**m);
      }
    }
  }
  if (provider == Provider::evolution && e.message.find("Connection Closed") != std::string::npos) {
    e.connection_closed = true;
  }
  e.message = core::scrub_text(core::utf8_prefix(e.message, 1024));
  return e;
}

std::optional<std::string> read_message_id(Provider provider, std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return std::nullopt;
  auto root = json::Obj::root(*doc);
  if (!root) return std::nullopt;
  if (provider == Provider::meta) {
    auto msgs = root->opt_arr("messages");
    if (!msgs.ok() || !*msgs || (*msgs)->empty()) return std::nullopt;
    auto first = (*msgs)->obj(0);
    if (!first) return std::nullopt;
    auto id = first->nonempty_str("id");
    if (!id) return std::nullopt;
    return std::string(*id);
  }
  auto key = root->opt_obj("key");
  if (!key.ok() || !*key) return std::nullopt;
  auto id = (*key)->nonempty_str("id");
  if (!id) return std::nullopt;
  return std::string(*id);
}

int month_index(std::string_view m) {
  static constexpr std::array<std::string_view, 12> names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == m) return static_cast<int>(i) + 1;
  }
  return 0;
}

}  // namespace

core::Result<http::ClientRequest> build_request(const SendCommand& cmd,
                                                const std::optional<std::string>& rendered_text,
                                                const ProviderConfig& config) {
  http::ClientRequest req;
  req.method = "POST";
  req.timeout = config.timeout;
  if (cmd.provider == Provider::meta) {
    if (config.meta_access_token.empty()) {
      return Error(Errc::invalid_argument,
                   "LIA_META_ACCESS_TOKEN is not set: cannot send through the Meta Cloud API",
                   false);
    }
    req.url = config.meta_graph_url + "/" + http::url_encode(cmd.instance) + "/messages";
    req.headers.add("Authorization", "Bearer " + config.meta_access_token);
    req.headers.add("Content-Type", "application/json");
    req.body = meta_body(cmd);
    return req;
  }
  if (config.evolution_apikey.empty()) {
    return Error(Errc::invalid_argument,
                 "LIA_EVOLUTION_APIKEY is not set: cannot send through the Evolution API", false);
  }
  const std::string* text = &cmd.text;
  if (cmd.kind == CommandKind::template_message) {
    if (!rendered_text) {
      return Error(Errc::invalid_argument,
                   "template '" + cmd.tmpl.name + "' was not rendered for the Evolution API",
                   false);
    }
    text = &*rendered_text;
  }
  req.url = config.evolution_url + "/message/sendText/" + http::url_encode(cmd.instance);
  req.headers.add("apikey", config.evolution_apikey);
  req.headers.add("Content-Type", "application/json");
  req.body = evolution_body(cmd, *text);
  return req;
}

std::string_view to_string(Verdict v) noexcept {
  switch (v) {
    case Verdict::sent:
      return "sent";
    case Verdict::retry:
      return "retry";
    case Verdict::reject:
      return "reject";
  }
  return "reject";
}

SendResult interpret(Provider provider, const core::Result<http::ClientResponse>& response,
                     core::SysTime now, bool request_sent) {
  SendResult r;
  if (!response.ok()) {
    const auto& e = response.error();
    // Once the request left, any failure (no answer, a broken or oversized one) leaves its
    // outcome open: the provider may have taken it.
    if (request_sent) {
      r.verdict = Verdict::reject;
      r.code = std::string(kCodeOutcomeUnknown);
      r.reason = "outcome unknown: no answer after the request was sent (" + e.describe() +
                 "); it may have been delivered, so it is not sent again (replay its dead "
                 "letter to send it anyway)";
      return r;
    }
    r.verdict = e.retryable() ? Verdict::retry : Verdict::reject;
    r.reason = "transport error: " + e.describe();
    return r;
  }
  const auto& res = *response;
  r.http_status = res.status;
  if (res.status >= 200 && res.status < 300) {
    if (auto id = read_message_id(provider, res.body)) {
      r.verdict = Verdict::sent;
      r.provider_message_id = std::move(*id);
      return r;
    }
    // It may have been accepted: sending again could deliver it twice, so don't.
    r.verdict = Verdict::reject;
    r.code = std::string(kCodeOutcomeUnknown);
    r.reason = fmt::format("provider answered HTTP {} without a message id", res.status);
    return r;
  }
  auto err = read_error(provider, res.body);
  // A gateway in front of the provider (a proxy, a load balancer, Cloudflare) that timed out
  // waiting for it (504, 524), or lost it mid-answer without the provider's own error (502,
  // 520: its HTML page), may have passed the request on: the provider may have sent the
  // message, so it is not sent again. (A gateway that never reached it, 521-523, and 503 are
  // retried.) A 502 whose JSON is not the provider's own error shape is a gateway's too.
  const bool from_provider = err.providers_shape;
  if (res.status == 504 || res.status == 524 ||
      ((res.status == 502 || res.status == 520) && !from_provider)) {
    r.verdict = Verdict::reject;
    r.code = std::string(kCodeOutcomeUnknown);
    r.reason = fmt::format(
        "outcome unknown: a gateway answered HTTP {} for the provider, which may have sent "
        "it; it is not sent again (replay its dead letter to send it anyway)",
        res.status);
    return r;
  }
  r.code = err.code;
  r.reason = fmt::format("provider answered HTTP {}", res.status);
  if (!err.message.empty()) r.reason += ": " + err.message;
  const bool throttled =
      err.numeric_code && std::find(kMetaThrottleCodes.begin(), kMetaThrottleCodes.end(),
                                    *err.numeric_code) != kMetaThrottleCodes.end();
  const bool retryable = res.status == 429 || res.status == 408 || res.status >= 500 ||
                         (provider == Provider::meta && throttled) || err.connection_closed;
  r.verdict = retryable ? Verdict::retry : Verdict::reject;
  if (const auto* ra = res.header("Retry-After")) r.retry_after = parse_retry_after(*ra, now);
  if (!r.retry_after && (res.status == 429 || throttled || err.connection_closed)) {
    // A limit without a Retry-After clears in seconds, not in the base backoff's 500 ms:
    // Meta's pair rate allows about one message every 6 s to one customer (131056); the
    // others (throughput, app and account rates) reset within a second or two, as an
    // Evolution instance reconnects.
    r.retry_after = err.numeric_code == kMetaPairRateCode ? kMetaPairRateInterval : kThrottleWait;
  }
  return r;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, core::SysTime now) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::chrono::milliseconds{std::chrono::hours{24}};
    std::int64_t s = 0;
    for (char c : v) s = s * 10 + (c - '0');
    return std::chrono::milliseconds{s * 1000};
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (v.size() != 29 || v[3] != ',' || v.substr(25) != " GMT") return std::nullopt;
  const auto num = [&](std::size_t pos, std::size_t n) {
    int x = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (v[i] < '0' || v[i] > '9') return -1;
      x = x * 10 + (v[i] - '0');
    }
    return x;
  };
  const int day = num(5, 2), month = month_index(v.substr(8, 3)), year = num(12, 4);
  const int hh = num(17, 2), mm = num(20, 2), ss = num(23, 2);
  if (day < 1 || month < 1 || year < 0 || hh < 0 || mm < 0 || ss < 0) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  // In seconds: the clock's nanoseconds end in 2262, and a year up to 9999 is still a date.
  const std::chrono::sys_seconds at = std::chrono::sys_days{ymd} + std::chrono::hours{hh} +
                                      std::chrono::minutes{mm} + std::chrono::seconds{ss};
  const auto from = std::chrono::floor<std::chrono::milliseconds>(now);
  if (at <= from) return std::chrono::milliseconds{0};
  // As with delta-seconds, a wait longer than a day is a day (the sender caps it anyway).
  return std::min<std::chrono::milliseconds>(at - from, std::chrono::hours{24});
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap,
                                        std::optional<std::chrono::milliseconds> retry_after) {
  std::chrono::milliseconds d = base;
  for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  if (retry_after) d = std::max(d, std::min(*retry_after, cap));
  return d;
}

}  // namespace lia::notification
