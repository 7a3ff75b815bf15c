// What a WhatsApp provider answers notification's sends with: any status, a Retry-After header
// and any body (a proxy's HTML page, a truncated JSON, a changed API).
// Input: byte 0 the provider, bytes 1-2 the HTTP status, then the Retry-After value up to the
// first new line, then the body.
// Properties:
//   - a send counts as sent only with the provider's message id, otherwise it says why;
//   - a Retry-After is never negative, and the wait it leads to stays within the cap;
//   - the outcome events built from the answer (sent, failed, dead-lettered) match their
//     schemas;
//   - any RFC 3339 text parses to a time or an error, never past the clock's range.

#include <lia/events/cloud_event.hpp>
#include <lia/events/names.hpp>
#include <lia/notification/command.hpp>
#include <lia/notification/provider.hpp>

#include "events_check.hpp"

namespace {

using lia::fuzz::require;
namespace nt = lia::notification;
namespace types = lia::events::types;

void require_valid(std::string_view type, const std::string& data) {
  lia::fuzz::require_valid_event(type, data, "every outcome event matches its schema");
}

const nt::SendCommand& command() {
  static const nt::SendCommand cmd = [] {
    auto ev = lia::events::make_event(
        types::notification_send_text, 1, "/lia/conversation", "",
        R"({"command_id":"0190e0a4-8000-7abc-9def-0000000c0001","provider":"meta",)"
        R"("instance":"106540352242922","to":"5511987654321",)"
        R"("conversation_id":"0190e0a4-7b2c-7def-8123-0123456789ab",)"
        R"("message_id":"0190e0a4-8000-7abc-9def-000000000002","text":"Olá"})");
    auto parsed = nt::parse_command(ev);
    require(parsed.ok(), "the fixed command parses");
    return *parsed;
  }();
  return cmd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = lia::fuzz::as_text(data, size);
  if (input.size() < 3) return 0;
  const auto provider = (static_cast<unsigned char>(input[0]) & 1U) != 0 ? nt::Provider::evolution
                                                                         : nt::Provider::meta;
  const int status =
      100 +
      ((static_cast<unsigned char>(input[1]) << 8U) | static_cast<unsigned char>(input[2])) % 500;
  input.remove_prefix(3);
  const auto nl = input.find('\n');
  const std::string_view retry_after = input.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? "" : input.substr(nl + 1);

  static const lia::core::ManualClock clock;
  lia::http::ClientResponse response;
  response.status = status;
  response.headers.add("Retry-After", std::string(retry_after));
  response.body = std::string(body);
  const lia::core::Result<lia::http::ClientResponse> answer(std::move(response));
  const nt::SendResult r = nt::interpret(provider, answer, clock.now());
  if (r.verdict == nt::Verdict::sent) {
    require(!r.provider_message_id.empty(), "a send is sent only with the provider's id");
    require_valid(types::notification_message_sent,
                  nt::sent_data(command(), 1, r.provider_message_id));
  } else {
    require(!r.reason.empty(), "an unsent message says why");
    require_valid(types::notification_message_failed,
                  nt::failed_data(command(), 1, r.reason, r.code, r.http_status));
    require_valid(types::notification_message_dead_lettered,
                  nt::dead_lettered_data(command(), 3, r.reason, "notification.commands.v1.dlq"));
  }

  const auto wait = nt::parse_retry_after(retry_after, clock.now());
  if (wait) require(wait->count() >= 0, "a Retry-After is never negative");
  constexpr std::chrono::milliseconds base{500};
  constexpr std::chrono::milliseconds cap{60'000};
  for (int attempt = 1; attempt <= 20; ++attempt) {  // LIA_NOTIFY_MAX_ATTEMPTS is at most 20
    const auto d = nt::backoff_delay(attempt, base, cap, wait);
    require(d.count() >= 0 && d <= cap, "the wait between tries stays within the cap");
  }

  (void)nt::parse_rfc3339(input);
  return 0;
}
