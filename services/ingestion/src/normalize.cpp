#include "normalize.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include <lia/auth/auth.hpp>
#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/conversation_state.hpp>
#include <lia/domain/phone.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>

namespace lia::ingestion {

std::string_view to_string(Provider p) noexcept {
  return p == Provider::meta ? "meta" : "evolution";
}

std::string_view to_string(RejectCode c) noexcept {
  switch (c) {
    case RejectCode::bad_item:
      return "bad_item";
    case RejectCode::invalid_phone:
      return "invalid_phone";
    case RejectCode::lid_unresolved:
      return "lid_unresolved";
    case RejectCode::group_chat:
      return "group_chat";
    case RejectCode::other_chat:
      return "other_chat";
    case RejectCode::unknown_status:
      return "unknown_status";
    case RejectCode::unknown_state:
      return "unknown_state";
    case RejectCode::invalid_event:
      return "invalid_event";
    case RejectCode::username_only:
      return "username_only";
  }
  return "bad_item";
}

namespace {

using json::Value;

// ---- deterministic ids ------------------------------------------------------------------

// Namespaces of the name-based ids (fixed forever: changing one changes every id).
const core::Uuid& received_ns() {
  static const core::Uuid ns = *core::Uuid::parse("5d0c4f8e-2a61-4b7e-9f3c-6a1e0b9d7c21");
  return ns;
}
const core::Uuid& status_ns() {
  static const core::Uuid ns = *core::Uuid::parse("a3f6b2d4-8c17-4e59-b0a2-1f7d9e3c5b48");
  return ns;
}
const core::Uuid& connection_ns() {
  static const core::Uuid ns = *core::Uuid::parse("7e21c9a0-5b3d-4f86-a4e7-2c8b6d0f1e93");
  return ns;
}

std::string name_uuid(const core::Uuid& ns, std::initializer_list<std::string_view> parts) {
  std::string name;
  name.reserve(96);
  name.append(reinterpret_cast<const char*>(ns.bytes().data()), ns.bytes().size());
  for (auto part : parts) {
    name.append(part);
    name.push_back('\0');  // parts can't run into each other ("ab"+"c" vs "a"+"bc")
  }
  const std::string digest = auth::sha256(name);
  core::Uuid::Bytes b{};
  std::memcpy(b.data(), digest.data(), b.size());
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x80);  // version 8
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // variant 10
  return core::Uuid(b).str();
}

// ---- reading JSON without allocating ----------------------------------------------------

// A field path kept on the stack and rendered only for error messages:
// "entry[0].changes[1].value.messages[2].id". A Path points to its parent: keep every
// link of a stored Path in a named variable (never store `p.at("a").at("b")`).
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  long index = -1;

  Path at(std::string_view k) const { return Path{this, k, -1}; }
  Path at(std::size_t i) const { return Path{this, {}, static_cast<long>(i)}; }
  std::string str() const {
    std::string s = parent != nullptr ? parent->str() : std::string();
    if (index >= 0) {
      s += fmt::format("[{}]", index);
    } else if (!key.empty()) {
      if (!s.empty()) s += '.';
      s.append(key);
    }
    return s;
  }
};

const Value* member(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  const Value name(json::ref(key));
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::string_view> opt_str(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return json::view(*v);
}

// A non-empty string, or nullopt.
std::optional<std::string_view> opt_nonempty(const Value& obj, std::string_view key) {
  auto s = opt_str(obj, key);
  if (s && s->empty()) return std::nullopt;
  return s;
}

const Value* opt_obj(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  return v != nullptr && v->IsObject() ? v : nullptr;
}

std::optional<bool> opt_bool(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

// An integer given as a JSON number, a decimal string, or a protobuf Long {low, high}.
std::optional<std::int64_t> as_int(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return static_cast<std::int64_t>(v.GetUint64() & 0x7FFFFFFFFFFFFFFFULL);
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (!std::isfinite(d) || d < 0 || d > 9.2e18) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (v.IsString()) {
    const auto s = json::view(v);
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  if (v.IsObject()) {
    // A protobuf Long: two 32-bit halves. Only non-negative values mean anything here.
    const Value* low = member(v, "low");
    const Value* high = member(v, "high");
    if (low == nullptr || !low->IsInt64()) return std::nullopt;
    const std::int64_t hi = high != nullptr && high->IsInt64() ? high->GetInt64() : 0;
    if (hi < 0 || hi > 0x7FFFFFFF) return std::nullopt;
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(hi) << 32U) +
                                     static_cast<std::uint32_t>(low->GetInt64()));
  }
  return std::nullopt;
}

std::optional<std::int64_t> opt_int(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  return v != nullptr ? as_int(*v) : std::nullopt;
}

std::optional<double> opt_num(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsNumber()) return std::nullopt;
  return v->GetDouble();
}

// The provider times we take: 1970 to the end of 2199. The clock counts nanoseconds in 64 bits,
// which ends in 2262: a larger count of seconds or milliseconds would overflow it.
constexpr std::int64_t kMaxUnixSeconds = 7'258'118'399;

// A Unix time in seconds at `key`, when present and in range.
std::optional<std::int64_t> opt_unix_seconds(const Value& obj, std::string_view key) {
  auto n = opt_int(obj, key);
  if (!n || *n < 0 || *n > kMaxUnixSeconds) return std::nullopt;
  return n;
}

std::string rfc3339_seconds(std::int64_t unix_seconds) {
  return core::format_rfc3339(core::SysTime{std::chrono::seconds{unix_seconds}});
}

// Limits of the schemas (characters; a string of at most that many bytes always fits).
// Free text is cut at the limit; an identifier that doesn't fit is dropped (optional) or
// rejects its item (required).
constexpr std::size_t kIdMax = 256;    // provider message ids, media ids, reply ids
constexpr std::size_t kChatMax = 128;  // chat_id, instance
constexpr std::size_t kUrlMax = 4096;
constexpr std::size_t kTextMax = 65536;

std::optional<std::string_view> fit(std::optional<std::string_view> s, std::size_t max) {
  if (s && s->size() > max) return std::nullopt;
  return s;
}
std::optional<std::string_view> clip(std::optional<std::string_view> s, std::size_t max) {
  if (s) return core::utf8_prefix(*s, max);
  return s;
}

// A provider value quoted in a message: printable ASCII only, at most 64 characters.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  return out;
}

// ---- the outcome of one item ------------------------------------------------------------

struct Reject {
  RejectCode code;
  std::string reason;
};

Reject missing(const Path& p) {
  return {RejectCode::bad_item, fmt::format("field '{}' is missing", p.str())};
}
Reject must_be(const Path& p, std::string_view what) {
  return {RejectCode::bad_item, fmt::format("field '{}' must be {}", p.str(), what)};
}

// A required non-empty string member, or the reason it isn't one.
std::optional<std::string_view> need_str(const Value& obj, std::string_view key, const Path& p,
                                         std::optional<Reject>& err) {
  const Value* v = member(obj, key);
  if (v == nullptr) {
    err = missing(p.at(key));
    return std::nullopt;
  }
  if (!v->IsString() || v->GetStringLength() == 0) {
    err = must_be(p.at(key), "a non-empty string");
    return std::nullopt;
  }
  return json::view(*v);
}

void add_rejection(Batch& out, ItemKind kind, Reject r, std::string_view instance,
                   std::string_view message_id) {
  out.rejected.push_back(
      {kind, r.code, std::move(r.reason), std::string(instance), std::string(message_id)});
}

// ---- message content ----------------------------------------------------------------------

struct Media {
  std::optional<std::string_view> id, url, mime_type, sha256, caption, filename;
  std::optional<std::int64_t> bytes, seconds;
  std::optional<bool> voice, animated;
};

void write_media(json::Writer& w, const Media& m, std::string_view default_mime) {
  w.object_field("media");
  w.field("id", fit(m.id, kIdMax));
  w.field("url", fit(m.url, kUrlMax));
  w.field("mime_type", fit(m.mime_type, 128).value_or(default_mime));
  w.field("sha256", fit(m.sha256, 128));
  w.field("caption", clip(m.caption, 4096));
  w.field("filename", clip(m.filename, 512));
  if (m.bytes && *m.bytes >= 0) w.field("bytes", *m.bytes);
  if (m.seconds && *m.seconds >= 0) w.field("seconds", *m.seconds);
  w.field("voice", m.voice);
  w.field("animated", m.animated);
  w.end_object();
}

std::string_view default_mime(std::string_view kind) {
  if (kind == "image") return "image/jpeg";
  if (kind == "audio") return "audio/ogg";
  if (kind == "video") return "video/mp4";
  if (kind == "sticker") return "image/webp";
  return "application/octet-stream";
}

void write_unsupported(json::Writer& w, std::string_view provider_type) {
  w.field("kind", "unsupported");
  w.object_field("unsupported");
  w.field("type", core::utf8_prefix(provider_type.empty() ? "unknown" : provider_type, 128));
  w.end_object();
}

struct Context {
  std::optional<std::string_view> message_id;
  std::optional<bool> forwarded;
};

void write_context(json::Writer& w, Context c) {
  c.message_id = fit(c.message_id, kIdMax);
  if (!c.message_id && !c.forwarded) return;
  w.object_field("context");
  w.field("message_id", c.message_id);
  w.field("forwarded", c.forwarded);
  w.end_object();
}

std::optional<Reject> write_text(json::Writer& w, std::string_view text, const Path& p) {
  // Counted as the schema counts the text written out: each byte json::Writer replaces by
  // U+FFFD is a character too.
  if (text.size() > kTextMax && core::utf8_length(text) > kTextMax) {
    return Reject{RejectCode::bad_item,
                  fmt::format("field '{}' is longer than {} characters", p.str(), kTextMax)};
  }
  w.field("kind", "text").field("text", text);
  return std::nullopt;
}

std::optional<Reject> write_location(json::Writer& w, const Value& o, const Path& p,
                                     std::string_view lat_key, std::string_view lon_key) {
  auto lat = opt_num(o, lat_key);
  auto lon = opt_num(o, lon_key);
  if (!lat || *lat < -90 || *lat > 90) return must_be(p.at(lat_key), "a number from -90 to 90");
  if (!lon || *lon < -180 || *lon > 180) {
    return must_be(p.at(lon_key), "a number from -180 to 180");
  }
  w.field("kind", "location");
  w.object_field("location");
  w.field("latitude", *lat).field("longitude", *lon);
  w.field("name", clip(opt_str(o, "name"), 1024));
  w.field("address", clip(opt_str(o, "address"), 1024));
  w.field("url", fit(opt_str(o, "url"), kUrlMax));
  w.end_object();
  return std::nullopt;
}

std::optional<Reject> write_interactive(json::Writer& w, std::string_view type, std::string_view id,
                                        const Path& id_path, std::optional<std::string_view> title,
                                        std::optional<std::string_view> description) {
  if (id.empty() || id.size() > kIdMax) {
    return must_be(id_path, fmt::format("a string of 1 to {} characters", kIdMax));
  }
  w.field("kind", "interactive");
  w.object_field("interactive");
  w.field("type", type);
  w.field("id", id);
  w.field("title", clip(title, 1024).value_or(""));
  w.field("description", clip(description, 1024));
  w.end_object();
  return std::nullopt;
}

void write_button(json::Writer& w, std::optional<std::string_view> payload,
                  std::optional<std::string_view> text) {
  w.field("kind", "button");
  w.object_field("button");
  w.field("payload", clip(payload, 1024));
  w.field("text", clip(text, 1024).value_or(""));
  w.end_object();
}

std::optional<Reject> write_reaction(json::Writer& w, std::string_view target,
                                     const Path& target_path, std::string_view emoji) {
  if (target.size() > kIdMax) {
    return must_be(target_path, fmt::format("a string of 1 to {} characters", kIdMax));
  }
  w.field("kind", "reaction");
  w.object_field("reaction");
  w.field("message_id", target);
  // The schema's 32 characters (a couple with skin tones is 10 of them in 35 bytes).
  w.field("emoji", core::utf8_prefix_chars(emoji, 32));
  w.end_object();
  return std::nullopt;
}

// The ids every event carries must fit their schema.
std::optional<Reject> check_ids(std::string_view message_id, const Path& id_path,
                                std::string_view chat_id, const Path& chat_path) {
  if (message_id.size() > kIdMax) {
    return must_be(id_path, fmt::format("a string of 1 to {} characters", kIdMax));
  }
  if (chat_id.empty() || chat_id.size() > kChatMax) {
    return must_be(chat_path, fmt::format("a chat id of 1 to {} characters", kChatMax));
  }
  return std::nullopt;
}

// The common head of a received message's data.
struct Head {
  Provider provider;
  std::string_view instance;
  std::string_view chat_id;
  std::string_view message_id;
  std::string_view from;
  std::optional<std::string_view> push_name;
};

void write_head(json::Writer& w, const Head& h) {
  w.begin_object();
  w.field("provider", to_string(h.provider));
  w.field("instance", h.instance);
  w.field("chat_id", h.chat_id);
  w.field("message_id", h.message_id);
  w.field("from", h.from);
  if (h.push_name) w.field("push_name", core::utf8_prefix(*h.push_name, 256));
}

Item message_item(const Head& h, json::Writer& w, std::string_view kind) {
  Item item;
  item.kind = ItemKind::message;
  item.type = events::types::whatsapp_message_received;
  item.key = events::chat_key(h.instance, h.chat_id);
  item.event_id = message_event_id(h.provider, h.instance, h.message_id);
  item.data = w.take();
  item.instance = h.instance;
  item.provider_message_id = h.message_id;
  item.detail = kind;
  return item;
}

Item status_item(Provider provider, std::string_view instance, std::string_view chat_id,
                 std::string_view message_id, domain::MessageStatus status,
                 std::string_view timestamp, std::optional<std::string_view> error_code,
                 std::string_view error_reason) {
  const std::string_view st = domain::to_string(status);
  json::Writer w;
  w.begin_object();
  w.field("provider", to_string(provider));
  w.field("instance", instance);
  w.field("chat_id", chat_id);
  w.field("message_id", message_id);
  w.field("status", st);
  w.field("timestamp", timestamp);
  if (status == domain::MessageStatus::error) {
    w.object_field("error");
    w.field("code", error_code);
    w.field("reason", error_reason);
    w.end_object();
  }
  w.end_object();
  Item item;
  item.kind = ItemKind::status;
  item.type = events::types::whatsapp_message_status;
  item.key = events::chat_key(instance, chat_id);
  item.event_id = status_event_id(provider, instance, message_id, st);
  item.data = w.take();
  item.instance = instance;
  item.provider_message_id = message_id;
  item.detail = st;
  return item;
}

// ---- Meta -------------------------------------------------------------------------------

core::Error invalid(std::string message) {
  return core::Error(core::Errc::invalid_argument, std::move(message));
}

// One parse per request, iterative (hostile nesting can't overflow the stack; nothing here
// recurses over the document). UTF-8 is not validated here: every string we pass on goes
// through json::Writer, which replaces invalid sequences, and provider values quoted in
// error messages go through printable().
// Numbers are read exactly: coordinates and other numbers reach the events as the provider
// wrote them.
core::Result<json::Document> parse_body(std::string_view body) {
  return json::parse_unchecked(body);
}

std::optional<std::string_view> meta_push_name(const Value* contacts, std::string_view wa_id) {
  if (contacts == nullptr || !contacts->IsArray()) return std::nullopt;
  const Value* only = contacts->Size() == 1 ? &(*contacts)[0] : nullptr;
  for (const auto& c : contacts->GetArray()) {
    if (opt_str(c, "wa_id") == wa_id) {
      only = &c;
      break;
    }
  }
  if (only == nullptr) return std::nullopt;
  const Value* profile = opt_obj(*only, "profile");
  return profile != nullptr ? opt_str(*profile, "name") : std::nullopt;
}

// Writes the kind-specific part; returns the kind written, or a rejection.
std::optional<Reject> meta_content(json::Writer& w, const Value& m, const Path& p,
                                   std::string_view type, std::string& kind) {
  auto sub = [&](std::string_view key) -> const Value* { return opt_obj(m, key); };
  if (type == "text") {
    const Value* text = sub("text");
    if (text == nullptr) return must_be(p.at("text"), "an object");
    const Value* body = member(*text, "body");
    if (body == nullptr || !body->IsString()) return must_be(p.at("text").at("body"), "a string");
    kind = "text";
    return write_text(w, json::view(*body), p.at("text").at("body"));
  }
  if (type == "image" || type == "audio" || type == "video" || type == "document" ||
      type == "sticker") {
    const Value* o = sub(type);
    if (o == nullptr) return must_be(p.at(type), "an object");
    Media media;
    media.id = opt_nonempty(*o, "id");
    media.url = opt_nonempty(*o, "url");
    media.mime_type = opt_nonempty(*o, "mime_type");
    media.sha256 = opt_nonempty(*o, "sha256");
    media.caption = opt_str(*o, "caption");
    if (type == "document") media.filename = opt_nonempty(*o, "filename");
    if (type == "audio") media.voice = opt_bool(*o, "voice");
    if (type == "sticker") media.animated = opt_bool(*o, "animated");
    kind = type;
    w.field("kind", type);
    write_media(w, media, default_mime(type));
    return std::nullopt;
  }
  if (type == "location") {
    const Value* o = sub("location");
    const Path lp = p.at("location");
    if (o == nullptr) return must_be(lp, "an object");
    kind = "location";
    return write_location(w, *o, lp, "latitude", "longitude");
  }
  if (type == "interactive") {
    const Value* o = sub("interactive");
    if (o == nullptr) return must_be(p.at("interactive"), "an object");
    const auto itype = opt_str(*o, "type").value_or("");
    if (itype != "button_reply" && itype != "list_reply") {
      kind = "unsupported";
      write_unsupported(w, fmt::format("interactive.{}", itype));
      return std::nullopt;
    }
    const Value* reply = opt_obj(*o, itype);
    const Path ip = p.at("interactive");
    const Path rp = ip.at(itype);
    if (reply == nullptr) return must_be(rp, "an object");
    std::optional<Reject> err;
    auto id = need_str(*reply, "id", rp, err);
    if (!id) return err;
    kind = "interactive";
    return write_interactive(w, itype, *id, rp.at("id"), opt_str(*reply, "title"),
                             opt_str(*reply, "description"));
  }
  if (type == "button") {
    const Value* o = sub("button");
    if (o == nullptr) return must_be(p.at("button"), "an object");
    kind = "button";
    write_button(w, opt_str(*o, "payload"), opt_str(*o, "text"));
    return std::nullopt;
  }
  if (type == "reaction") {
    const Value* o = sub("reaction");
    if (o == nullptr) return must_be(p.at("reaction"), "an object");
    std::optional<Reject> err;
    const Path rp = p.at("reaction");
    auto target = need_str(*o, "message_id", rp, err);
    if (!target) return err;
    kind = "reaction";
    // No emoji: the reaction was removed.
    return write_reaction(w, *target, rp.at("message_id"), opt_str(*o, "emoji").value_or(""));
  }
  // "unsupported", "contacts", "order", "request_welcome", anything new ("system" is ignored
  // before: meta_message).
  kind = "unsupported";
  write_unsupported(w, type);
  return std::nullopt;
}

// A user who chose a WhatsApp username may reach us without a phone: Meta then sends their
// user id (`from_user_id`, `recipient_user_id`) instead of the number. Chats are keyed and
// answered by phone, so such an item is rejected under its own reason (a metric label of its
// own), not as a generic bad_item. The user id is not quoted.
std::optional<Reject> username_only(const Value& item, const Path& p, std::string_view phone_key,
                                    std::string_view user_id_key) {
  if (member(item, phone_key) != nullptr || member(item, user_id_key) == nullptr) {
    return std::nullopt;
  }
  return Reject{RejectCode::username_only,
                fmt::format("field '{}' is missing and '{}' is present: a user known by username "
                            "only (no phone), not handled",
                            p.at(phone_key).str(), p.at(user_id_key).str())};
}

// `business` (an echo, smb_message_echoes: a message the business sent from the WhatsApp
// Business app on a Coexistence number): the business's number; the customer is `to`.
void meta_message(const Value& m, const Path& p, std::string_view instance, const Value* contacts,
                  Batch& out, std::optional<std::string_view> business = std::nullopt) {
  // A system message (user_changed_number, user_changed_user_id) is WhatsApp reporting a change
  // of the customer's identity, not the customer writing (its `from` is the old number):
  // published, it would reopen the chat and be answered. An edit or a revoke (numbers on the
  // WhatsApp Business app too, "Coexistence") changes an earlier message: published, it would
  // be a new one under its own id.
  if (auto type = opt_str(m, "type");
      type && (*type == "system" || *type == "edit" || *type == "revoke")) {
    ++out.ignored;
    return;
  }
  std::optional<Reject> err;
  const auto id = need_str(m, "id", p, err);
  if (!id) return add_rejection(out, ItemKind::message, std::move(*err), instance, "");
  const char* chat_field = business ? "to" : "from";
  if (auto bad = username_only(m, p, chat_field, business ? "to_user_id" : "from_user_id")) {
    return add_rejection(out, ItemKind::message, std::move(*bad), instance, *id);
  }
  auto from = need_str(m, chat_field, p, err);  // the customer's wa_id: the chat
  // An echo's `to` is the number as the Business app was given it ("+16505551234" in Meta's
  // reference): its digits are the wa_id the customer's own messages are keyed by.
  std::string echo_chat;
  if (business && from && from->find_first_not_of("0123456789") != std::string_view::npos &&
      from->find_first_not_of("0123456789+-() ") == std::string_view::npos) {
    for (char c : *from) {
      if (c >= '0' && c <= '9') echo_chat.push_back(c);
    }
    from = echo_chat;
  }
  const auto type = from ? need_str(m, "type", p, err) : std::nullopt;
  const auto ts = type ? opt_unix_seconds(m, "timestamp") : std::nullopt;
  if (type && !ts) err = must_be(p.at("timestamp"), "a Unix time in seconds");
  if (!err) err = check_ids(*id, p.at("id"), *from, p.at(chat_field));
  if (err) return add_rejection(out, ItemKind::message, std::move(*err), instance, *id);
  // Meta's Groups API: `from` is the participant, the chat is the group. Not handled: answered
  // as a private chat, a reply would go to that participant alone.
  if (member(m, "group_id") != nullptr) {
    return add_rejection(
        out, ItemKind::message,
        {RejectCode::group_chat, fmt::format("field '{}' is present: a group message, not handled",
                                             p.at("group_id").str())},
        instance, *id);
  }

  auto phone = domain::normalize_wa_id(*from);
  if (phone && business) phone = domain::normalize_wa_id(*business);
  if (!phone) {
    return add_rejection(
        out, ItemKind::message,
        {RejectCode::invalid_phone, fmt::format("field '{}' is not a phone number: {}",
                                                business && domain::normalize_wa_id(*from)
                                                    ? std::string("metadata.display_phone_number")
                                                    : p.at(chat_field).str(),
                                                phone.error().message())},
        instance, *id);
  }
  json::Writer w;
  const Head head{Provider::meta, instance,
                  *from,          *id,
                  phone->digits,  business ? std::nullopt : meta_push_name(contacts, *from)};
  write_head(w, head);
  std::string kind;
  if (auto bad = meta_content(w, m, p, *type, kind)) {
    return add_rejection(out, ItemKind::message, std::move(*bad), instance, *id);
  }
  if (const Value* ctx = opt_obj(m, "context")) {
    Context c;
    c.message_id = opt_nonempty(*ctx, "id");
    auto fw = opt_bool(*ctx, "forwarded");
    auto ffw = opt_bool(*ctx, "frequently_forwarded");
    if (fw || ffw) c.forwarded = fw.value_or(false) || ffw.value_or(false);
    write_context(w, c);
  }
  w.field("timestamp", rfc3339_seconds(*ts));
  w.field("from_me", business.has_value());
  w.end_object();
  out.items.push_back(message_item(head, w, kind));
}

void meta_status(const Value& s, const Path& p, std::string_view instance, Batch& out) {
  std::optional<Reject> err;
  const auto id = need_str(s, "id", p, err);
  if (!id) return add_rejection(out, ItemKind::status, std::move(*err), instance, "");
  if (auto bad = username_only(s, p, "recipient_id", "recipient_user_id")) {
    return add_rejection(out, ItemKind::status, std::move(*bad), instance, *id);
  }
  const auto status_text = need_str(s, "status", p, err);
  const auto recipient = status_text ? need_str(s, "recipient_id", p, err) : std::nullopt;
  const auto ts = recipient ? opt_unix_seconds(s, "timestamp") : std::nullopt;
  if (recipient && !ts) err = must_be(p.at("timestamp"), "a Unix time in seconds");
  if (!err) err = check_ids(*id, p.at("id"), *recipient, p.at("recipient_id"));
  if (err) return add_rejection(out, ItemKind::status, std::move(*err), instance, *id);
  if (opt_str(s, "recipient_type") == std::optional<std::string_view>("group")) {
    return add_rejection(
        out, ItemKind::status,
        {RejectCode::group_chat,
         fmt::format("field '{}' is 'group': a group message's status, not handled",
                     p.at("recipient_type").str())},
        instance, *id);
  }

  auto status = domain::parse_meta_status(*status_text);
  if (!status) {
    return add_rejection(
        out, ItemKind::status,
        {RejectCode::unknown_status, fmt::format("field '{}' is '{}': not a Meta status",
                                                 p.at("status").str(), printable(*status_text))},
        instance, *id);
  }
  std::optional<std::string> code;
  std::string reason;
  if (*status == domain::MessageStatus::error) {
    const Value* errors = member(s, "errors");
    if (errors != nullptr && errors->IsArray() && !errors->Empty()) {
      const Value& e = (*errors)[0];
      if (auto n = opt_int(e, "code")) code = std::to_string(*n);
      const Value* data = opt_obj(e, "error_data");
      auto details = data != nullptr ? opt_nonempty(*data, "details") : std::nullopt;
      auto text = details ? details : opt_nonempty(e, "message");
      if (!text) text = opt_nonempty(e, "title");
      if (text) reason = core::utf8_prefix(*text, 2000);
    }
    if (reason.empty()) reason = "Meta reported the message as failed without a reason";
  }
  std::optional<std::string_view> code_view;
  if (code) code_view = *code;
  out.items.push_back(status_item(Provider::meta, instance, *recipient, *id, *status,
                                  rfc3339_seconds(*ts), code_view, reason));
}

// ---- Evolution ------------------------------------------------------------------------------

struct Chat {
  std::string jid;     // canonical "<number>@s.whatsapp.net" (or the @lid JID for statuses)
  std::string number;  // the user part; empty for an unresolved @lid
};

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "5511987654321:12@s.whatsapp.net" / "5511987654321@c.us" / "5511987654321"
// -> "5511987654321"; nullopt if it isn't a user JID or bare number.
std::optional<std::string_view> user_number(std::string_view jid) {
  const auto kind = domain::jid_kind(jid);
  std::string_view user;
  if (kind == domain::JidKind::user) {
    user = jid.substr(0, jid.find('@'));
  } else if (kind == domain::JidKind::not_a_jid) {
    user = jid;
    if (!user.empty() && user.front() == '+') user.remove_prefix(1);
  } else {
    return std::nullopt;
  }
  user = user.substr(0, user.find(':'));
  if (!all_digits(user)) return std::nullopt;
  return user;
}

// Whether a bare number (no JID server) may be a phone. Evolution's messages.update cuts
// everything from the first ':' of a JID, so a companion device's "103899771998284:7@lid"
// arrives as "103899771998284", just as "5511987654321:7@s.whatsapp.net" arrives as
// "5511987654321" (and Evolution v1 may send a bare phone). Only what can't be a phone is
// told apart: digits normalize_wa_id refuses (a Brazilian number with a DDD that doesn't exist
// or a bad length, fewer than 8 or more than 15 digits), the two single-digit country codes
// whose numbers all have 10 digits after it (1: North America, 7: Russia and Kazakhstan), and
// 15 digits: E.164's longest, which hardly any mobile line uses, while LIDs are
// usually that long ("204987654321098"). A shorter @lid number that looks like a phone stays
// one: it can't be told apart.
bool may_be_phone(std::string_view digits) {
  if (!domain::normalize_wa_id(digits) || digits.size() >= 15) return false;
  if (digits.front() == '1' || digits.front() == '7') return digits.size() == 11;
  return true;
}

// Resolves the chat of an Evolution key. `alt_holders` are the objects that may carry the
// alternative JID of a @lid chat (the key, or a messages.update's data). A bare number (no JID
// server: Evolution cuts everything from a JID's first ':', upserts included, so a companion
// device's "103899771998284:7@lid" arrives bare, and then Evolution no longer swaps it with
// its remoteJidAlt) is a phone when it may be one (see may_be_phone), else a @lid whose server
// was cut off, resolved like any @lid. `keep_lid` (statuses): an unresolved @lid chat keeps its
// @lid JID; else it is refused. `own` is the instance's own number (`sender`, as E.164 digits),
// when known: an alternative naming it is not the chat's. Baileys fills remoteJidAlt from the
// stanza's sender_pn before its peer_recipient_pn, and on a message the business wrote on its phone
// the sender is the business.
std::optional<Reject> resolve_chat(std::string_view remote_jid,
                                   std::initializer_list<const Value*> alt_holders,
                                   const Path& jid_path, bool keep_lid,
                                   const std::optional<std::string>& own, Chat& chat) {
  const auto is_own = [&](std::string_view number) {
    if (!own) return false;
    auto p = domain::normalize_wa_id(number);
    return p && p->digits == *own;
  };
  std::string bare_lid;  // "<number>@lid" for a bare number that can't be a phone
  if (auto n = user_number(remote_jid)) {
    if (domain::jid_kind(remote_jid) != domain::JidKind::not_a_jid || may_be_phone(*n)) {
      chat.number = *n;
      chat.jid = chat.number + "@s.whatsapp.net";
      return std::nullopt;
    }
    bare_lid = std::string(*n) + "@lid";
    remote_jid = bare_lid;
  }
  switch (domain::jid_kind(remote_jid)) {
    case domain::JidKind::lid: {
      for (const Value* holder : alt_holders) {
        if (holder == nullptr) continue;
        for (std::string_view field : {"remoteJidAlt", "senderPn"}) {
          auto alt = opt_str(*holder, field);
          if (!alt) continue;
          if (auto n = user_number(*alt); n && !is_own(*n)) {
            chat.number = *n;
            chat.jid = chat.number + "@s.whatsapp.net";
            return std::nullopt;
          }
        }
      }
      if (keep_lid) {
        chat.jid = remote_jid;
        return std::nullopt;
      }
      return Reject{RejectCode::lid_unresolved,
                    fmt::format("field '{}' is {} and neither key.remoteJidAlt nor "
                                "key.senderPn gives the phone number",
                                jid_path.str(),
                                bare_lid.empty() ? "a @lid JID"
                                                 : "a bare number that can't be a phone (a @lid "
                                                   "JID whose server was cut off)")};
    }
    case domain::JidKind::group:
      return Reject{RejectCode::group_chat,
                    fmt::format("field '{}' is a group chat (@g.us): not handled", jid_path.str())};
    default:
      return Reject{RejectCode::other_chat,
                    fmt::format("field '{}' is not a one-to-one chat ({} JID)", jid_path.str(),
                                domain::to_string(domain::jid_kind(remote_jid)))};
  }
}

// WhatsApp Status posts (status@broadcast), broadcast lists and channels (@newsletter): no
// customer's conversation, and routine on an Evolution instance (each contact's Status post
// arrives as a message), so ignored rather than rejected: a rejection count that alerts on
// every Status would hide a real one.
bool not_a_conversation(std::string_view remote_jid) {
  const auto kind = domain::jid_kind(remote_jid);
  return kind == domain::JidKind::broadcast || kind == domain::JidKind::newsletter;
}

// Wrappers whose `message` holds the real content.
constexpr std::array<std::string_view, 10> kWrappers = {
    "ephemeralMessage",           "viewOnceMessage",
    "viewOnceMessageV2",          "viewOnceMessageV2Extension",
    "documentWithCaptionMessage", "editedMessage",
    "associatedChildMessage",  // an album's photo or video
    "lottieStickerMessage",    // an animated sticker
    "botInvokeMessage",           "groupStatusMessageV2"};
// Members of `message` that are not the content.
constexpr std::array<std::string_view, 5> kNoise = {"messageContextInfo", "base64", "mediaUrl",
                                                    "senderKeyDistributionMessage", "contextInfo"};

bool is_in(std::string_view s, auto const& list) {
  for (auto x : list) {
    if (x == s) return true;
  }
  return false;
}

// True when the message holds a protocolMessage (a revoke, an edit, an ephemeral setting, a
// history sync) or a secretEncryptedMessage (an edit of a message or an event, as newer
// WhatsApp versions send it: {"targetMessageKey": ..., "secretEncType": "MESSAGE_EDIT"}) at
// its top or inside any wrapper: Baileys sends an edit as
// {"editedMessage": {"message": {"protocolMessage": {"type": "MESSAGE_EDIT", ...}}}}. None of
// them is a customer message. Opens as many wrappers as evolution_content does.
bool holds_protocol_message(const Value* message) {
  for (int depth = 0; message != nullptr && message->IsObject() && depth < 4; ++depth) {
    if (member(*message, "protocolMessage") != nullptr ||
        member(*message, "secretEncryptedMessage") != nullptr) {
      return true;
    }
    const Value* inner = nullptr;
    for (const auto& m : message->GetObject()) {
      if (!is_in(json::view(m.name), kWrappers) || !m.value.IsObject()) continue;
      inner = opt_obj(m.value, "message");
      if (inner != nullptr) break;
    }
    message = inner;
  }
  return false;
}

// The content member of a Baileys message: (name, value), unwrapping wrappers.
std::pair<std::string_view, const Value*> evolution_content(const Value* message,
                                                            std::string_view message_type) {
  for (int depth = 0; message != nullptr && message->IsObject() && depth < 4; ++depth) {
    const Value* found = nullptr;
    std::string_view name;
    if (!message_type.empty()) {
      if (const Value* v = member(*message, message_type)) {
        found = v;
        name = message_type;
      }
    }
    if (found == nullptr) {
      for (const auto& m : message->GetObject()) {
        const auto n = json::view(m.name);
        if (is_in(n, kNoise) || m.value.IsNull()) continue;
        found = &m.value;
        name = n;
        break;
      }
    }
    if (found == nullptr) return {{}, nullptr};
    if (is_in(name, kWrappers) && found->IsObject()) {
      if (const Value* inner = opt_obj(*found, "message")) {
        message = inner;
        message_type = {};
        continue;
      }
    }
    return {name, found};
  }
  return {{}, nullptr};
}

Context evolution_context(const Value* content, const Value& data) {
  const Value* ci = content != nullptr ? opt_obj(*content, "contextInfo") : nullptr;
  if (ci == nullptr) ci = opt_obj(data, "contextInfo");
  Context c;
  if (ci == nullptr) return c;
  c.message_id = opt_nonempty(*ci, "stanzaId");
  if (auto fw = opt_bool(*ci, "isForwarded"); fw && *fw) c.forwarded = true;
  return c;
}

// `name` and `c`: the message's content member, as evolution_content found it (never null).
std::optional<Reject> evolution_content_json(json::Writer& w, const Value& data,
                                             std::string_view name, const Value* c, const Path& p,
                                             std::string& kind, const Value*& content_out) {
  const Value* message = opt_obj(data, "message");
  content_out = c->IsObject() ? c : nullptr;
  const Path message_path = p.at("message");
  const Path mp = message_path.at(name);
  if (name == "conversation") {
    if (!c->IsString()) return must_be(mp, "a string");
    kind = "text";
    return write_text(w, json::view(*c), mp);
  }
  if (!c->IsObject()) {
    kind = "unsupported";
    write_unsupported(w, name);
    return std::nullopt;
  }
  const Value& o = *c;
  if (name == "extendedTextMessage") {
    auto text = opt_str(o, "text");
    if (!text) return must_be(mp.at("text"), "a string");
    kind = "text";
    return write_text(w, *text, mp.at("text"));
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kMedia = {{
      {"imageMessage", "image"},
      {"audioMessage", "audio"},
      {"videoMessage", "video"},
      {"ptvMessage", "video"},  // a round video note: a video message's fields
      {"documentMessage", "document"},
      {"stickerMessage", "sticker"},
  }};
  for (const auto& [evo, k] : kMedia) {
    if (name != evo) continue;
    Media media;
    media.url = opt_nonempty(*message, "mediaUrl");  // Evolution's own copy (S3), if any
    if (!media.url) media.url = opt_nonempty(o, "url");
    // Baileys' names first; Evolution over the Cloud API passes Meta's media object on as it is.
    media.id = opt_nonempty(o, "id");
    media.mime_type = opt_nonempty(o, "mimetype");
    if (!media.mime_type) media.mime_type = opt_nonempty(o, "mime_type");
    media.sha256 = opt_nonempty(o, "fileSha256");
    if (!media.sha256) media.sha256 = opt_nonempty(o, "sha256");
    media.caption = opt_str(o, "caption");
    media.bytes = opt_int(o, "fileLength");
    if (k == "audio" || k == "video") media.seconds = opt_int(o, "seconds");
    if (k == "audio") media.voice = opt_bool(o, "ptt");
    if (k == "document") {
      media.filename = opt_nonempty(o, "fileName");
      if (!media.filename) media.filename = opt_nonempty(o, "filename");
      if (!media.filename) media.filename = opt_nonempty(o, "title");
    }
    if (k == "sticker") {
      media.animated = opt_bool(o, "isAnimated");
      // Evolution over the Cloud API passes Meta's sticker object on: its field is `animated`.
      if (!media.animated) media.animated = opt_bool(o, "animated");
    }
    kind = k;
    w.field("kind", k);
    write_media(w, media, default_mime(k));
    return std::nullopt;
  }
  if (name == "locationMessage" || name == "liveLocationMessage") {
    kind = "location";
    return write_location(w, o, mp, "degreesLatitude", "degreesLongitude");
  }
  if (name == "reactionMessage") {
    const Value* key = opt_obj(o, "key");
    if (key == nullptr) return must_be(mp.at("key"), "an object");
    std::optional<Reject> err;
    const Path kp = mp.at("key");
    auto target = need_str(*key, "id", kp, err);
    if (!target) return err;
    kind = "reaction";
    return write_reaction(w, *target, kp.at("id"), opt_str(o, "text").value_or(""));
  }
  if (name == "buttonsResponseMessage" || name == "listResponseMessage") {
    const bool list = name == "listResponseMessage";
    std::optional<std::string_view> id;
    if (list) {
      const Value* single = opt_obj(o, "singleSelectReply");
      if (single != nullptr) id = opt_nonempty(*single, "selectedRowId");
      if (!id) return must_be(mp.at("singleSelectReply").at("selectedRowId"), "a non-empty string");
    } else {
      id = opt_nonempty(o, "selectedButtonId");
      if (!id) return must_be(mp.at("selectedButtonId"), "a non-empty string");
    }
    kind = "interactive";
    return write_interactive(
        w, list ? "list_reply" : "button_reply", *id,
        list ? mp.at("singleSelectReply").at("selectedRowId") : mp.at("selectedButtonId"),
        opt_str(o, list ? "title" : "selectedDisplayText"),
        list ? opt_str(o, "description") : std::nullopt);
  }
  if (name == "interactiveResponseMessage") {
    // Evolution v2's native-flow reply buttons: the button's id is in the reply's paramsJson (a
    // JSON text of its own), its title in body.text. Other native flows (forms, ...) stay
    // unsupported, as Meta's flow replies do.
    const Value* flow = opt_obj(o, "nativeFlowResponseMessage");
    if (flow != nullptr &&
        opt_str(*flow, "name") == std::optional<std::string_view>("quick_reply")) {
      const Path fp = mp.at("nativeFlowResponseMessage");
      const Path pp = fp.at("paramsJson");
      auto params = parse_body(opt_str(*flow, "paramsJson").value_or(""));
      std::optional<std::string_view> id;
      if (params && (*params).IsObject()) id = opt_nonempty(*params, "id");
      if (!id) return must_be(pp, "the JSON text of an object with a non-empty string 'id'");
      const Value* body = opt_obj(o, "body");
      kind = "interactive";
      return write_interactive(w, "button_reply", *id, pp,
                               body != nullptr ? opt_str(*body, "text") : std::nullopt,
                               std::nullopt);
    }
  }
  if (name == "templateButtonReplyMessage") {
    kind = "button";
    write_button(w, opt_str(o, "selectedId"), opt_str(o, "selectedDisplayText"));
    return std::nullopt;
  }
  kind = "unsupported";
  write_unsupported(w, name);
  return std::nullopt;
}

struct EvolutionCtx {
  std::string_view instance;
  std::optional<std::string_view> sender;     // the instance's own JID
  std::optional<std::string> own;             // and its number, as E.164 digits
  std::optional<std::string_view> date_time;  // when Evolution sent the webhook: an id part only
  const core::Clock& clock;
};

// The time of an Evolution item that has none of its own: when the webhook arrived. Evolution's
// `date_time` is its server's local wall time marked `Z` (with TZ=America/Sao_Paulo three hours
// early), so it names a connection update's event id but is never taken for a time.
std::string evolution_time(const EvolutionCtx& ctx) {
  return core::format_rfc3339(ctx.clock.now());
}

void evolution_message(const Value& d, const Path& p, const EvolutionCtx& ctx, bool sent_event,
                       Batch& out) {
  const Value* key = opt_obj(d, "key");
  if (key == nullptr) {
    return add_rejection(out, ItemKind::message, must_be(p.at("key"), "an object"), ctx.instance,
                         "");
  }
  const Path kp = p.at("key");
  std::optional<Reject> err;
  const auto id = need_str(*key, "id", kp, err);
  if (!id) return add_rejection(out, ItemKind::message, std::move(*err), ctx.instance, "");
  const auto remote = need_str(*key, "remoteJid", kp, err);
  if (!remote) return add_rejection(out, ItemKind::message, std::move(*err), ctx.instance, *id);
  const bool from_me = sent_event || opt_bool(*key, "fromMe").value_or(false);

  // A protocol message (revoke, edit, ephemeral setting, history sync), at the top or inside a
  // wrapper (an edit comes as editedMessage.message.protocolMessage), is not a customer
  // message: published, it would be a new message under the edit's own id.
  if (holds_protocol_message(opt_obj(d, "message"))) {
    ++out.ignored;
    return;
  }
  // No content: Baileys could not decrypt it (yet). Its retry delivers the real message under
  // the same id, which a placeholder published now would make a duplicate of (and so lose).
  // Over the Cloud API (a wamid. id) there is no retry: an interactive reply Evolution finds
  // no title for (a Flow's nfm_reply) comes empty, and is published as unsupported, as Meta's
  // own webhook makes it.
  const auto message_type = opt_str(d, "messageType").value_or("");
  auto [content_name, content_value] = evolution_content(opt_obj(d, "message"), message_type);
  static const Value kNoContent(rapidjson::kObjectType);
  if (content_value == nullptr && message_type == "interactiveMessage" &&
      id->starts_with("wamid.")) {
    content_name = message_type;
    const Value* message = opt_obj(d, "message");  // its contextInfo, if any, is the context
    content_value = message != nullptr ? message : &kNoContent;
  }
  if (content_value == nullptr) {
    ++out.ignored;
    return;
  }
  // Over the Cloud API Evolution names a message without text after Meta's type: a system
  // message (the customer changed number: its chat is the old number), an edit or a revoke
  // is no customer message, as on Meta's own webhook (meta_message).
  if (content_name == "systemMessage" || content_name == "editMessage" ||
      content_name == "revokeMessage") {
    ++out.ignored;
    return;
  }

  if (not_a_conversation(*remote)) {
    ++out.ignored;
    return;
  }
  Chat chat;
  if (auto bad = resolve_chat(*remote, {key, &d}, kp.at("remoteJid"), false, ctx.own, chat)) {
    return add_rejection(out, ItemKind::message, std::move(*bad), ctx.instance, *id);
  }
  if (auto bad = check_ids(*id, kp.at("id"), chat.jid, kp.at("remoteJid"))) {
    return add_rejection(out, ItemKind::message, std::move(*bad), ctx.instance, *id);
  }
  // The chat's number, normalized once: a customer message's `from` too. The business's chat
  // with itself ("message yourself", or an alternative Evolution swapped in that names the
  // business) is no customer's conversation.
  auto phone = domain::normalize_wa_id(chat.number);
  if (ctx.own && phone && phone->digits == *ctx.own) {
    return add_rejection(
        out, ItemKind::message,
        {RejectCode::other_chat, fmt::format("field '{}' is the instance's own number: a chat with "
                                             "itself is no customer's conversation",
                                             kp.at("remoteJid").str())},
        ctx.instance, *id);
  }
  Path sender_path = kp.at("remoteJid");
  const Path root_sender{nullptr, "sender", -1};
  if (from_me) {
    if (!ctx.sender) {
      add_rejection(out, ItemKind::message,
                    {RejectCode::bad_item,
                     "field 'sender' (the instance's own number) is missing, as over "
                     "the Cloud API, and LIA_EVOLUTION_INSTANCE_NUMBERS names none for "
                     "this instance: a from_me message needs it as 'from'"},
                    ctx.instance, *id);
      out.rejected.back().needs_own_number = true;
      return;
    }
    phone = domain::normalize_wa_id(*ctx.sender);
    sender_path = root_sender;
  }
  if (!phone) {
    return add_rejection(
        out, ItemKind::message,
        {RejectCode::invalid_phone, fmt::format("field '{}' is not a phone number: {}",
                                                sender_path.str(), phone.error().message())},
        ctx.instance, *id);
  }

  json::Writer w;
  const Head head{Provider::evolution, ctx.instance,          chat.jid, *id,
                  phone->digits,       opt_str(d, "pushName")};
  write_head(w, head);
  std::string kind;
  const Value* content = nullptr;
  if (auto bad = evolution_content_json(w, d, content_name, content_value, p, kind, content)) {
    return add_rejection(out, ItemKind::message, std::move(*bad), ctx.instance, *id);
  }
  write_context(w, evolution_context(content, d));
  auto ts = opt_unix_seconds(d, "messageTimestamp");
  w.field("timestamp", ts && *ts > 0 ? rfc3339_seconds(*ts) : evolution_time(ctx));
  w.field("from_me", from_me);
  // Sent through Evolution's send API: the echo of a send notification made and reports.
  if (sent_event) w.field("via_api", true);
  w.end_object();
  out.items.push_back(message_item(head, w, kind));
}

void evolution_status(const Value& d, const Path& p, const EvolutionCtx& ctx, Batch& out) {
  // v2: {keyId, remoteJid, fromMe, status, ...}; v1: the key spread {id, remoteJid, fromMe,
  // status}; raw Baileys: {key: {...}, update: {status: 3}}.
  const Value* key = opt_obj(d, "key");
  auto pick = [&](std::string_view flat,
                  std::string_view in_key) -> std::optional<std::string_view> {
    auto v = opt_nonempty(d, flat);
    if (!v && key != nullptr) v = opt_nonempty(*key, in_key);
    return v;
  };
  auto id = pick("keyId", "id");
  if (!id) id = opt_nonempty(d, "id");
  if (!id) return add_rejection(out, ItemKind::status, missing(p.at("keyId")), ctx.instance, "");
  const auto remote = pick("remoteJid", "remoteJid");
  if (!remote) {
    return add_rejection(out, ItemKind::status, missing(p.at("remoteJid")), ctx.instance, *id);
  }
  auto from_me = opt_bool(d, "fromMe");
  if (!from_me && key != nullptr) from_me = opt_bool(*key, "fromMe");
  // fromMe false is our read receipt of a customer's message (Baileys), not a tick of ours.
  // Evolution over the Cloud API reports only ticks of our sends, but always with fromMe
  // false (it compares the chat's JID with Meta's phone_number_id); its ids are Meta's.
  if (from_me && !*from_me && !id->starts_with("wamid.")) {
    ++out.ignored;
    return;
  }
  const Value* status_v = member(d, "status");
  const Path update_path = p.at("update");
  Path status_path = p.at("status");
  const Value* update = opt_obj(d, "update");
  if (status_v == nullptr && update != nullptr) {
    status_v = member(*update, "status");
    status_path = update_path.at("status");
  }
  if (status_v == nullptr) {
    return add_rejection(out, ItemKind::status, missing(status_path), ctx.instance, *id);
  }
  core::Result<domain::MessageStatus> status = core::Error(core::Errc::invalid_argument, "");
  if (status_v->IsInt()) {
    status = domain::parse_evolution_status(status_v->GetInt());
  } else if (status_v->IsString()) {
    const auto text = json::view(*status_v);
    if (text == "DELETED" || text == "deleted") {
      ++out.ignored;  // a revoked message: no tick
      return;
    }
    status = domain::parse_evolution_status(text);
    if (!status) {
      if (auto cloud = domain::parse_evolution_cloud_status(text)) status = *cloud;
    }
  } else {
    return add_rejection(out, ItemKind::status, must_be(status_path, "a string or an integer"),
                         ctx.instance, *id);
  }
  if (!status) {
    return add_rejection(
        out, ItemKind::status,
        {RejectCode::unknown_status,
         fmt::format("field '{}' is '{}': not an Evolution status", status_path.str(),
                     status_v->IsString() ? printable(json::view(*status_v))
                                          : std::to_string(status_v->GetInt()))},
        ctx.instance, *id);
  }
  if (not_a_conversation(*remote)) {
    ++out.ignored;
    return;
  }
  Chat chat;
  if (auto bad = resolve_chat(*remote, {&d, key}, p.at("remoteJid"), true, ctx.own, chat)) {
    return add_rejection(out, ItemKind::status, std::move(*bad), ctx.instance, *id);
  }
  if (auto bad = check_ids(*id, p.at("keyId"), chat.jid, p.at("remoteJid"))) {
    return add_rejection(out, ItemKind::status, std::move(*bad), ctx.instance, *id);
  }
  std::string timestamp;
  if (auto s = opt_unix_seconds(d, "timestamp"); s && *s > 0) {
    timestamp = rfc3339_seconds(*s);
  } else if (auto ms = opt_int(d, "datetime"); ms && *ms > 0 && *ms / 1000 <= kMaxUnixSeconds) {
    timestamp = core::format_rfc3339(core::SysTime{std::chrono::milliseconds{*ms}});
  } else {
    timestamp = evolution_time(ctx);
  }
  out.items.push_back(status_item(Provider::evolution, ctx.instance, chat.jid, *id, *status,
                                  timestamp, std::nullopt,
                                  "Evolution reported the message with status ERROR"));
}

void evolution_connection(const Value& d, const Path& p, const EvolutionCtx& ctx, Batch& out) {
  std::optional<Reject> err;
  const auto state = need_str(d, "state", p, err);
  if (!state) return add_rejection(out, ItemKind::connection, std::move(*err), ctx.instance, "");
  std::string_view canonical;
  if (*state == "open") {
    canonical = "CONNECTED";
  } else if (*state == "connecting") {
    canonical = "CONNECTING";
  } else if (*state == "close" || *state == "refused") {
    canonical = "DISCONNECTED";
  } else {
    return add_rejection(out, ItemKind::connection,
                         {RejectCode::unknown_state,
                          fmt::format("field '{}' is '{}', expected open, connecting, close or "
                                      "refused",
                                      p.at("state").str(), printable(*state))},
                         ctx.instance, "");
  }
  std::optional<std::string> reason;
  if (auto code = opt_int(d, "statusReason")) {
    reason = fmt::format("{} (statusReason {})", *state, *code);
  } else if (*state == "refused") {
    reason = "refused";
  }
  const std::string time = evolution_time(ctx);
  json::Writer w;
  w.begin_object();
  w.field("provider", "evolution");
  w.field("instance", ctx.instance);
  w.field("state", canonical);
  w.field("reason", reason);
  w.field("timestamp", time);
  w.end_object();
  Item item;
  item.kind = ItemKind::connection;
  item.type = events::types::whatsapp_connection_updated;
  item.key = std::string(ctx.instance);
  if (ctx.date_time) {
    item.event_id =
        connection_event_id(Provider::evolution, ctx.instance, canonical, *ctx.date_time);
  }
  item.data = w.take();
  item.instance = ctx.instance;
  item.detail = canonical;
  out.items.push_back(std::move(item));
}

}  // namespace

std::string message_event_id(Provider provider, std::string_view instance,
                             std::string_view message_id) {
  return name_uuid(received_ns(), {to_string(provider), instance, message_id});
}

std::string status_event_id(Provider provider, std::string_view instance,
                            std::string_view message_id, std::string_view status) {
  return name_uuid(status_ns(), {to_string(provider), instance, message_id, status});
}

std::string connection_event_id(Provider provider, std::string_view instance,
                                std::string_view state, std::string_view provider_time) {
  return name_uuid(connection_ns(), {to_string(provider), instance, state, provider_time});
}

std::string canonical_evolution_event(std::string_view event) {
  std::string out(event);
  for (char& c : out) {
    if (c == '-' || c == '_') {
      c = '.';
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

core::Result<Batch> normalize_meta(std::string_view body, const core::Clock& clock) {
  (void)clock;  // Meta always dates its messages and statuses
  auto doc = parse_body(body);
  if (!doc) return doc.error();
  const Value& root = *doc;
  if (!root.IsObject()) return invalid("the body must be a JSON object");
  const auto object = opt_str(root, "object");
  if (!object) return invalid("field 'object' is missing");
  Batch out;
  out.provider = Provider::meta;
  // Another product's webhook (a page, Instagram) on the same callback URL, signed with the
  // app's secret: valid and carrying nothing, as an Evolution event we don't publish is. A 400
  // would have Meta retry it for days.
  if (*object != "whatsapp_business_account") {
    out.event = printable(*object);
    out.ignored = 1;
    return out;
  }
  const Value* entries = member(root, "entry");
  if (entries == nullptr || !entries->IsArray()) return invalid("field 'entry' must be an array");

  out.event = "messages";
  const Path root_path;
  const Path entry_path = root_path.at("entry");
  for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
    const Value& entry = (*entries)[i];
    const Path ep = entry_path.at(i);
    if (!entry.IsObject()) return invalid(fmt::format("field '{}' must be an object", ep.str()));
    const Value* changes = member(entry, "changes");
    if (changes == nullptr || !changes->IsArray()) {
      return invalid(fmt::format("field '{}' must be an array", ep.at("changes").str()));
    }
    for (rapidjson::SizeType j = 0; j < changes->Size(); ++j) {
      const Value& change = (*changes)[j];
      const Path changes_path = ep.at("changes");
      const Path cp = changes_path.at(j);
      if (!change.IsObject()) return invalid(fmt::format("field '{}' must be an object", cp.str()));
      const auto field = opt_str(change, "field");
      if (!field) return invalid(fmt::format("field '{}' is missing", cp.at("field").str()));
      const bool echoes = *field == "smb_message_echoes";
      if (*field != "messages" && !echoes) {
        ++out.ignored;  // account, template and quality updates
        continue;
      }
      const Value* value = opt_obj(change, "value");
      const Path vp = cp.at("value");
      if (value == nullptr) return invalid(fmt::format("field '{}' must be an object", vp.str()));
      const Value* metadata = opt_obj(*value, "metadata");
      if (metadata == nullptr) {
        return invalid(fmt::format("field '{}' must be an object", vp.at("metadata").str()));
      }
      const auto instance = fit(opt_nonempty(*metadata, "phone_number_id"), kChatMax);
      if (!instance) {
        return invalid(fmt::format("field '{}' must be a string of 1 to {} characters",
                                   vp.at("metadata").at("phone_number_id").str(), kChatMax));
      }
      const Value* contacts = member(*value, "contacts");
      const char* messages_field = echoes ? "message_echoes" : "messages";
      const Value* messages = member(*value, messages_field);
      // An echo's `from`: the business's own number.
      const auto business = echoes ? std::optional<std::string_view>(
                                         opt_str(*metadata, "display_phone_number").value_or(""))
                                   : std::nullopt;
      const Value* statuses = member(*value, "statuses");
      if (messages != nullptr && !messages->IsArray()) {
        return invalid(fmt::format("field '{}' must be an array", vp.at(messages_field).str()));
      }
      if (statuses != nullptr && !statuses->IsArray()) {
        return invalid(fmt::format("field '{}' must be an array", vp.at("statuses").str()));
      }
      const bool empty =
          (messages == nullptr || messages->Empty()) && (statuses == nullptr || statuses->Empty());
      if (empty) ++out.ignored;  // e.g. only `errors`
      if (messages != nullptr) {
        for (rapidjson::SizeType k = 0; k < messages->Size(); ++k) {
          const Path messages_path = vp.at(messages_field);
          const Path mp = messages_path.at(k);
          const Value& m = (*messages)[k];
          if (!m.IsObject()) {
            add_rejection(out, ItemKind::message, must_be(mp, "an object"), *instance, "");
            continue;
          }
          meta_message(m, mp, *instance, contacts, out, business);
        }
      }
      if (statuses != nullptr) {
        for (rapidjson::SizeType k = 0; k < statuses->Size(); ++k) {
          const Path statuses_path = vp.at("statuses");
          const Path sp = statuses_path.at(k);
          const Value& s = (*statuses)[k];
          if (!s.IsObject()) {
            add_rejection(out, ItemKind::status, must_be(sp, "an object"), *instance, "");
            continue;
          }
          meta_status(s, sp, *instance, out);
        }
      }
    }
  }
  return out;
}

namespace {

// Reads the events of a JSON text (RapidJSON's SAX) and keeps the first `apikey` string of
// the root object; builds nothing else.
class RootApikey : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, RootApikey> {
 public:
  bool StartObject() { return enter(); }
  bool EndObject(rapidjson::SizeType /*members*/) { return leave(); }
  bool StartArray() { return enter(); }
  bool EndArray(rapidjson::SizeType /*elements*/) { return leave(); }
  bool Key(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    at_apikey_ = depth_ == 1 && std::string_view(s, n) == "apikey" && !key_;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    if (at_apikey_) key_ = std::string(s, n);
    at_apikey_ = false;
    return true;
  }
  bool RawNumber(const char* /*s*/, rapidjson::SizeType /*n*/, bool /*copy*/) {
    return Default();  // a number, as text: not an apikey
  }
  bool Default() {  // any other value
    at_apikey_ = false;
    return true;
  }
  std::optional<std::string> take() { return std::move(key_); }

 private:
  bool enter() {
    at_apikey_ = false;
    // The reader's stack grows with the nesting: a hostile body stops here (the full parse
    // refuses it at the same depth).
    return ++depth_ <= static_cast<int>(json::kDefaultMaxDepth);
  }
  bool leave() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  bool at_apikey_ = false;
  std::optional<std::string> key_;
};

}  // namespace

std::optional<std::string> evolution_body_apikey(std::string_view body) {
  // Numbers are only skipped: read as text, never converted.
  const auto scan = [](std::string_view text, rapidjson::ParseErrorCode& code) {
    RootApikey handler;
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    const bool read =
        !reader
             .Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(in,
                                                                                            handler)
             .IsError();
    code = reader.GetParseErrorCode();
    return read ? handler.take() : std::nullopt;
  };
  rapidjson::ParseErrorCode code = rapidjson::kParseErrorNone;
  auto key = scan(body, code);
  if (code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid) {
    // A high surrogate without its low half, which the full parse reads as U+FFFD: so does
    // this one.
    key = scan(json::lone_surrogates_replaced(body), code);
  }
  return key;
}

core::Result<InstanceNumbers> parse_instance_numbers(std::string_view text) {
  // Errors name the entry by its place: an instance may well be named after its number.
  InstanceNumbers out;
  if (core::trim(text).empty()) return out;
  std::size_t entry = 0;
  for (std::size_t from = 0; from <= text.size(); ++entry) {
    const auto comma = std::min(text.find(',', from), text.size());
    const auto part = text.substr(from, comma - from);
    from = comma + 1;
    const auto eq = part.find('=');
    const auto name = core::trim(part.substr(0, eq == std::string_view::npos ? 0 : eq));
    auto number =
        eq == std::string_view::npos ? std::string_view{} : core::trim(part.substr(eq + 1));
    if (name.empty() || number.empty()) {
      return invalid(fmt::format("entry {} is not instance=number", entry + 1));
    }
    if (name.size() > kChatMax) {
      return invalid(
          fmt::format("entry {}: an instance has 1 to {} characters", entry + 1, kChatMax));
    }
    if (number.front() == '+') number.remove_prefix(1);
    // A whole international number: its country code first (10 digits at least), and a phone
    // by may_be_phone's rules ("1140028922", a Brazilian one without 55, is refused).
    auto phone = domain::normalize_wa_id(number);
    if (number.size() < 10 || !all_digits(number) || !may_be_phone(number) || !phone) {
      return invalid(fmt::format(
          "entry {}: the number must be a phone's digits, country code first", entry + 1));
    }
    if (!out.emplace(std::string(name), phone->digits).second) {
      return invalid(fmt::format("entry {} names an instance named before", entry + 1));
    }
  }
  return out;
}

core::Result<Batch> normalize_evolution(std::string_view body, std::string_view path_event,
                                        const core::Clock& clock,
                                        const InstanceNumbers& own_numbers) {
  auto doc = parse_body(body);
  if (!doc) return doc.error();
  const Value& root = *doc;
  if (!root.IsObject()) return invalid("the body must be a JSON object");
  Batch out;
  out.provider = Provider::evolution;
  if (auto e = opt_str(root, "event")) {
    out.event = canonical_evolution_event(*e);
  } else if (!path_event.empty()) {
    out.event = canonical_evolution_event(path_event);
  } else {
    return invalid("field 'event' is missing");
  }
  enum class Kind { upsert, sent, update, connection } kind;
  if (out.event == "messages.upsert") {
    kind = Kind::upsert;
  } else if (out.event == "send.message") {
    kind = Kind::sent;
  } else if (out.event == "messages.update") {
    kind = Kind::update;
  } else if (out.event == "connection.update") {
    kind = Kind::connection;
  } else {
    out.ignored = 1;  // contacts, chats, presence, groups, QR codes, ...
    return out;
  }
  const auto instance = fit(opt_nonempty(root, "instance"), kChatMax);
  if (!instance) {
    return invalid(
        fmt::format("field 'instance' must be a string of 1 to {} characters", kChatMax));
  }
  const Value* data = member(root, "data");
  if (data == nullptr || !(data->IsObject() || data->IsArray())) {
    return invalid("field 'data' must be an object or an array");
  }
  // Over the Cloud API Evolution has no session of its own number to fill `sender` from.
  auto sender = opt_nonempty(root, "sender");
  if (!sender) {
    if (auto it = own_numbers.find(*instance); it != own_numbers.end()) sender = it->second;
  }
  std::optional<std::string> own;
  if (sender) {
    if (auto phone = domain::normalize_wa_id(*sender)) own = std::move(phone->digits);
  }
  const EvolutionCtx ctx{*instance, sender, std::move(own), opt_nonempty(root, "date_time"), clock};
  auto one = [&](const Value& d, const Path& p) {
    const ItemKind ik = kind == Kind::update       ? ItemKind::status
                        : kind == Kind::connection ? ItemKind::connection
                                                   : ItemKind::message;
    if (!d.IsObject()) {
      add_rejection(out, ik, must_be(p, "an object"), *instance, "");
      return;
    }
    switch (kind) {
      case Kind::upsert:
        evolution_message(d, p, ctx, false, out);
        break;
      case Kind::sent:
        evolution_message(d, p, ctx, true, out);
        break;
      case Kind::update:
        evolution_status(d, p, ctx, out);
        break;
      case Kind::connection:
        evolution_connection(d, p, ctx, out);
        break;
    }
  };
  const Path root_path;
  const Path dp = root_path.at("data");
  if (data->IsArray()) {
    for (rapidjson::SizeType i = 0; i < data->Size(); ++i) one((*data)[i], dp.at(i));
  } else {
    one(*data, dp);
  }
  return out;
}

}  // namespace lia::ingestion
