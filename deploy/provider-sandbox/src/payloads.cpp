#include <algorithm>

#include <lia/auth/auth.hpp>
#include <lia/json/writer.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

namespace lia::provider_sandbox {

std::string new_meta_message_id() {
  return "wamid." + auth::base64url_encode(auth::random_bytes(24));
}

std::string new_evolution_message_id() {
  std::string hex = auth::to_hex(auth::random_bytes(6));
  for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "3EB0" + hex;
}

std::string meta_signature(std::string_view app_secret, std::string_view body) {
  return "sha256=" + auth::to_hex(auth::hmac_sha256(app_secret, body));
}

std::string remote_jid(std::string_view to) {
  if (to.find('@') != std::string_view::npos) return std::string(to);
  return std::string(to) + "@s.whatsapp.net";
}

std::string meta_status_webhook(std::string_view phone_number_id, std::string_view message_id,
                                std::string_view recipient, std::string_view status,
                                std::int64_t unix_seconds, std::string_view error_code) {
  std::string digits;
  for (char c : recipient) {
    if (c == '@') break;
    if (c >= '0' && c <= '9') digits += c;
  }
  json::Writer w;
  w.begin_object()
      .field("object", "whatsapp_business_account")
      .array_field("entry")
      .begin_object()
      .field("id", "sandbox-waba")
      .array_field("changes")
      .begin_object()
      .object_field("value")
      .field("messaging_product", "whatsapp")
      .object_field("metadata")
      .field("display_phone_number", "15550000000")
      .field("phone_number_id", phone_number_id)
      .end_object()
      .array_field("statuses")
      .begin_object()
      .field("id", message_id)
      .field("status", status)
      .field("timestamp", std::to_string(unix_seconds))
      .field("recipient_id", digits);
  if (status == "sent") {
    w.object_field("conversation")
        .field("id", "sandbox-conversation")
        .object_field("origin")
        .field("type", "service")
        .end_object()
        .end_object();
  }
  if (status == "failed") {
    w.array_field("errors").begin_object();
    std::int64_t code = 0;
    const bool numeric = !error_code.empty() && error_code.size() <= 9 &&
                         std::all_of(error_code.begin(), error_code.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) {
      for (char c : error_code) code = code * 10 + (c - '0');
      w.field("code", code);
    }
    // Meta's titles for the recipient failures it reports this way.
    const std::string_view title =
        code == 131047   ? "Re-engagement message"
        : code == 131049 ? "This message was not delivered to maintain healthy ecosystem "
                           "engagement."
                         : "Message undeliverable.";
    w.field("title", title)
        .field("message", title)
        .object_field("error_data")
        .field("details",
               code == 131026 || code == 0 ? std::string_view("Message Undeliverable.") : title)
        .end_object()
        .end_object()
        .end_array();
  }
  w.end_object()     // status
      .end_array()   // statuses
      .end_object()  // value
      .field("field", "messages")
      .end_object()  // change
      .end_array()   // changes
      .end_object()  // entry
      .end_array()   // entry[]
      .end_object();
  return w.take();
}

std::string evolution_update_webhook(std::string_view instance, std::string_view message_id,
                                     std::string_view jid, std::string_view status,
                                     std::string_view date_time, std::string_view apikey,
                                     std::string_view server_url) {
  json::Writer w;
  w.begin_object()
      .field("event", "messages.update")
      .field("instance", instance)
      .object_field("data")
      .field("keyId", message_id)
      .field("remoteJid", jid)
      .field("fromMe", true)
      .field("status", status)
      .field("messageId", message_id)
      .field("instanceId", instance)
      .object_field("key")
      .field("remoteJid", jid)
      .field("fromMe", true)
      .field("id", message_id)
      .end_object()
      .end_object()
      .field("date_time", date_time)
      .field("server_url", server_url)
      .field("apikey", apikey)
      .end_object();
  return w.take();
}

}  // namespace lia::provider_sandbox
