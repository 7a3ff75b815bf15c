#pragma once
// Webhook bodies of Meta's Cloud API and of Evolution API, normalized into the canonical
// events of proto-schemas (lia.whatsapp.message.received / .message.status /
// .connection.updated). Pure functions: no I/O, no clock except the one passed in (for
// timestamps the provider left out).
//
//   auto batch = normalize_meta(body, clock);
//   if (!batch) return json_error(400, "bad_request", batch.error().message());
//   for (auto& item : batch->items) ...       // one per message / status / connection update
//   for (auto& r : batch->rejected) ...       // items we can't publish, with the reason
//
// Errors of the whole body (not JSON, not a webhook of the expected shape) are
// Errc::invalid_argument and name the field. A problem with one message or status (a
// missing id, a @lid chat without its phone, a group chat) rejects only that item.
//
// Identities:
//   - Meta: instance = metadata.phone_number_id; chat_id = the customer's wa_id as Meta sends
//     it (messages[].from, statuses[].recipient_id): the "to" for sending back;
//     from = that number normalized to E.164 digits (lia::domain::normalize_wa_id).
//   - Evolution: instance = the body's `instance`; chat_id = the chat's JID in canonical form
//     "<number>@s.whatsapp.net" (device suffix dropped, @c.us spelled @s.whatsapp.net, a
//     @lid JID replaced by key.remoteJidAlt / key.senderPn when present): Evolution's
//     sendText takes it as `number`. from = the sender's phone: the chat's number for
//     customer messages, the instance's own number (`sender`, or the configured one when
//     the body has none) for from_me messages.
//   - A message whose @lid chat has no alternative JID is rejected (reason lid_unresolved):
//     `from` must be a phone. A status of such a chat keeps the @lid JID as chat_id, so the
//     tick is not lost; so does a status whose bare number (Evolution cut ":7@lid" off) can't
//     be a phone.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

namespace lia::ingestion {

enum class Provider { meta, evolution };
std::string_view to_string(Provider p) noexcept;

enum class ItemKind { message, status, connection };

// One event to publish.
struct Item {
  ItemKind kind = ItemKind::message;
  std::string type;      // lia.whatsapp.message.received, ...
  std::string key;       // record key: chat_key(instance, chat_id), or the instance
  std::string event_id;  // deterministic CloudEvent id; empty: a fresh UUIDv7
  std::string data;      // the data object, JSON text
  // For the audit log and metrics (no personal data):
  std::string instance;
  std::string provider_message_id;
  std::string detail;  // message kind, status or connection state
};

// Why an item was not published. Codes are a small fixed set (metric labels).
enum class RejectCode {
  bad_item,        // a required field is missing or has the wrong type
  invalid_phone,   // the sender is not a phone number
  lid_unresolved,  // a @lid chat without an alternative JID
  group_chat,      // group chats are not handled
  other_chat,      // broadcast, newsletter or unknown JID servers
  unknown_status,  // a status value outside the provider's vocabulary
  unknown_state,   // a connection state outside the provider's vocabulary
  invalid_event,   // the normalized event does not match its schema
  username_only,   // a Meta user known by username only (from_user_id, no phone): not handled
};
std::string_view to_string(RejectCode c) noexcept;
inline constexpr std::size_t kRejectCodes = 9;

struct Rejection {
  ItemKind kind = ItemKind::message;
  RejectCode code = RejectCode::bad_item;
  std::string reason;  // names the field or the rule; never personal data
  std::string instance;
  std::string provider_message_id;
  // A from_me message of an Evolution instance whose webhooks name no `sender` and that
  // LIA_EVOLUTION_INSTANCE_NUMBERS does not list (an instance over the Cloud API).
  bool needs_own_number = false;
};

struct Batch {
  Provider provider = Provider::meta;
  std::string event;  // the provider's event: "messages" (Meta), "messages.upsert", ...
  std::vector<Item> items;
  std::vector<Rejection> rejected;
  std::size_t ignored = 0;  // valid parts that carry nothing we publish
};

// Meta Cloud API webhook (object "whatsapp_business_account"): every entry, change
// (field "messages"; other fields are ignored), message and status.
core::Result<Batch> normalize_meta(std::string_view body, const core::Clock& clock);

// Evolution instance -> its own number (E.164 digits), for webhooks without `sender`:
// Evolution fills `sender` from the WhatsApp session it opened (Baileys), so an instance over
// the Cloud API (WHATSAPP-BUSINESS) sends none. LIA_EVOLUTION_INSTANCE_NUMBERS.
using InstanceNumbers = std::map<std::string, std::string, std::less<>>;
// Parses "instance=number[,instance=number...]" (spaces around each part allowed; the number
// as digits, country code first, with a leading '+' or not). Errors name the entry by its
// place, never its instance or number.
core::Result<InstanceNumbers> parse_instance_numbers(std::string_view text);

// Evolution API webhook, global or by events. `path_event` is the {event} of
// /webhooks/evolution/{event} ("messages-upsert"), or empty; the body's `event` wins.
// Handles messages.upsert, send.message, messages.update and connection.update; other
// events are valid and carry nothing (Batch::ignored = 1). A from_me message's `from` is the
// body's `sender`, else the instance's number in `own_numbers`, else it is rejected.
core::Result<Batch> normalize_evolution(std::string_view body, std::string_view path_event,
                                        const core::Clock& clock,
                                        const InstanceNumbers& own_numbers = {});

// The root object's `apikey` string (the first, as a parse keeps it), read without building
// the document: how an Evolution body without the apikey header authenticates before
// anything in it is parsed or believed. nullopt: none, or not JSON.
std::optional<std::string> evolution_body_apikey(std::string_view body);

// "messages-upsert", "MESSAGES_UPSERT", "messages.upsert" -> "messages.upsert".
std::string canonical_evolution_event(std::string_view event);

// Deterministic CloudEvent ids (RFC 9562 name-based UUID, version 8 with SHA-256), so a
// redelivered webhook carries the same id:
//   received: (provider, instance, provider message id)
//   status:   (provider, instance, provider message id, status)
std::string message_event_id(Provider provider, std::string_view instance,
                             std::string_view message_id);
std::string status_event_id(Provider provider, std::string_view instance,
                            std::string_view message_id, std::string_view status);
// (provider, instance, state, provider time): a redelivered connection update.
std::string connection_event_id(Provider provider, std::string_view instance,
                                std::string_view state, std::string_view provider_time);

}  // namespace lia::ingestion
