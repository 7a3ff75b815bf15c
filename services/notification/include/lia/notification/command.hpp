#pragma once
// The send commands of notification.commands.v1 as values, and the data of the events that
// report their outcome on notification.events.v1. Pure: no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/events/cloud_event.hpp>

namespace lia::notification {

enum class Provider { meta, evolution };
std::string_view to_string(Provider p) noexcept;  // "meta", "evolution"
std::optional<Provider> parse_provider(std::string_view s) noexcept;

enum class CommandKind { text, template_message };
std::string_view to_string(CommandKind k) noexcept;  // "send_text", "send_template"

struct TemplateRef {
  std::string name;
  std::string language;
  std::vector<std::string> parameters;  // {{1}}, {{2}}, ... in order
};

struct SendCommand {
  CommandKind kind = CommandKind::text;
  std::string event_id;  // the command's CloudEvent id
  std::string source;    // the command's CloudEvent source ("/lia/collections")
  std::string command_id;
  Provider provider = Provider::meta;
  std::string instance;  // Meta phone_number_id or Evolution instance name
  std::string to;        // Meta wa_id or Evolution number / remote JID
  std::optional<std::string> conversation_id;
  std::optional<std::string> message_id;
  std::optional<core::SysTime> not_after;
  std::string priority = "normal";
  // false: its sender makes a new command for what failed, so a replayed dead letter of this
  // one sends nothing (it would be the same message twice).
  bool replayable = true;
  // send_text
  std::string text;
  bool preview_url = false;
  std::optional<std::string> reply_to;  // provider message id to quote
  // send_template
  TemplateRef tmpl;
};

// The command carried by a decoded (schema-valid) CloudEvent. Errors are
// Errc::invalid_argument (never retried): an unknown type, a field of the wrong kind.
core::Result<SendCommand> parse_command(const events::CloudEvent& event);

// RFC 3339 date-time ("2026-11-22T12:53:24.123Z", "...-03:00") to a time point.
core::Result<core::SysTime> parse_rfc3339(std::string_view text);

// Event data (JSON text) of notification.events.v1; each matches its v1 schema. Reasons are
// cut to the schema's 2048 bytes, provider codes to 64 (on a UTF-8 boundary).
std::string sent_data(const SendCommand& cmd, int attempts, std::string_view provider_message_id);
std::string failed_data(const SendCommand& cmd, int attempts, std::string_view reason,
                        const std::optional<std::string>& code, std::optional<int> http_status);
// A sent message the provider then reported it could not deliver (a status webhook).
std::string undelivered_data(const SendCommand& cmd, int attempts,
                             std::string_view provider_message_id, std::string_view reason,
                             const std::optional<std::string>& code);
std::string dead_lettered_data(const SendCommand& cmd, int attempts, std::string_view reason,
                               std::string_view dlq_topic);

// A chat as digits of a phone, whichever form it comes in (Meta's wa_id, an Evolution JID, a
// command's number, with or without Brazil's ninth digit); nullopt for a group, an @lid or
// anything else that names no phone.
std::optional<std::string> recipient_digits(std::string_view chat);
// The per-number rate's bucket (RateLimiter): the business number and the recipient's digits,
// however a producer spells them (a JID, digits, without Brazil's ninth digit), so one pair's
// sends share it. A pair, as WhatsApp limits them: Meta's pair rate (131056) slowing one
// business number's sends to a customer leaves another number's to them alone.
std::string rate_key(const SendCommand& cmd);

}  // namespace lia::notification
