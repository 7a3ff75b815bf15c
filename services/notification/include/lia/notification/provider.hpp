#pragma once
// The providers' send APIs: building the HTTP request of a command and reading the answer.
// Pure: no I/O, so the exact URL, headers and body are unit-tested.
//
// Meta Cloud API   POST {graph_url}/{phone_number_id}/messages
//                  Authorization: Bearer {token}
//                  {"messaging_product":"whatsapp","recipient_type":"individual","to":...,
//                   "type":"text","text":{"body":...,"preview_url":false}}
//                  or "type":"template","template":{"name","language":{"code"},"components"}
//                  -> 200 {"messages":[{"id":"wamid..."}]}
// Evolution API    POST {evolution_url}/message/sendText/{instance}
//                  apikey: {key}
//                  {"number":...,"text":...}  (templates are rendered to text first)
//                  -> 200/201 {"key":{"id":"3EB0..."}, ...}

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/http/client.hpp>
#include <lia/notification/command.hpp>

namespace lia::notification {

struct ProviderConfig {
  std::string meta_graph_url;
  std::string meta_access_token;
  std::string evolution_url;
  std::string evolution_apikey;
  std::chrono::milliseconds timeout{10000};
};

// The request for `cmd`. `rendered_text` is the text of an Evolution template command
// (rendered from notification.message_templates); it is ignored otherwise. Errors
// (Errc::invalid_argument, not retryable): the provider's credentials are not configured, or
// an Evolution template command came without its rendered text.
core::Result<http::ClientRequest> build_request(const SendCommand& cmd,
                                                const std::optional<std::string>& rendered_text,
                                                const ProviderConfig& config);

enum class Verdict {
  sent,    // the provider accepted the message; provider_message_id is set
  retry,   // 429, 5xx, 408, a throttling error code, or a transport failure
  reject,  // any other answer: retrying the same request cannot help
};
std::string_view to_string(Verdict v) noexcept;

struct SendResult {
  Verdict verdict = Verdict::reject;
  std::string provider_message_id;
  std::string reason;               // why it was not sent (no personal data)
  std::optional<std::string> code;  // the provider's error code
  std::optional<int> http_status;
  std::optional<std::chrono::milliseconds> retry_after;  // from a Retry-After header
};

// The `code` of our own outcomes, beside the provider's (numeric) codes: a command past its
// not_after, and a send whose outcome is unknown (see interpret).
inline constexpr std::string_view kCodeExpired = "expired";
inline constexpr std::string_view kCodeOutcomeUnknown = "outcome_unknown";
// Meta's pair rate (131056): about one message every 6 s from one business number to one
// customer. After it, that customer's sends are spaced so for a minute (RateLimiter::
// slow_down) rather than each meeting it again and using up a try.
inline constexpr std::string_view kMetaPairRateError = "131056";
inline constexpr std::chrono::milliseconds kMetaPairRateInterval{6000};
inline constexpr std::chrono::seconds kMetaPairRateHold{60};
// Evolution's answer that the number has no WhatsApp (400 with {"exists": false, ...}).
inline constexpr std::string_view kCodeNotOnWhatsapp = "not_on_whatsapp";
// Meta's code 100 with subcode 33: the phone number id (the command's instance) does not
// exist, or the access token may not use it. Not the message's fault, as other 100s are: the
// sender's, so its own code.
inline constexpr std::string_view kCodeInstanceNotFound = "instance_not_found";

// Reads the provider's answer (or the transport error). A transport error after the whole
// request went out (`request_sent`: a timeout or a lost connection waiting for the answer)
// is not retried: the provider may have delivered it, and a second send would reach the
// customer twice. It is rejected (failed, dead-lettered) with a reason saying so and the code
// kCodeOutcomeUnknown.
SendResult interpret(Provider provider, const core::Result<http::ClientResponse>& response,
                     core::SysTime now, bool request_sent = false);

// Retry-After as delta-seconds ("3") or an HTTP-date; nullopt when unreadable. A date in
// the past gives 0.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           core::SysTime now);

// The wait after failed try number `attempt` (1-based): base * 2^(attempt-1), capped at
// `cap`; a Retry-After (also capped) wins when it is longer.
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap,
                                        std::optional<std::chrono::milliseconds> retry_after);

}  // namespace lia::notification
