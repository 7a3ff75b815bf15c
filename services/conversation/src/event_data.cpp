#include <cctype>

#include <lia/conversation/event_data.hpp>
#include <lia/conversation/model.hpp>
#include <lia/core/text.hpp>
#include <lia/json/writer.hpp>

namespace lia::conversation {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void chat_fields(json::Writer& w, const ChatRef& c) {
  w.field("conversation_id", c.conversation_id)
      .field("contact_id", c.contact_id)
      .field("provider", c.provider)
      .field("instance", c.instance)
      .field("chat_id", c.chat_id);
}

std::optional<std::string> nonempty(const std::optional<std::string>& s) {
  if (s && !s->empty()) return s;
  return std::nullopt;
}

}  // namespace

std::string contact_upserted_data(const ContactData& c) {
  json::Writer w;
  w.begin_object().field("contact_id", c.contact_id).field("phone", c.phone);
  if (c.name) w.field("name", core::utf8_prefix(*c.name, 256));
  if (c.push_name) w.field("push_name", core::utf8_prefix(*c.push_name, 256));
  if (c.email && c.email->size() >= 3 && c.email->size() <= 320) w.field("email", *c.email);
  if (c.document && all_digits(*c.document) &&
      (c.document->size() == 11 || c.document->size() == 14)) {
    w.field("document", *c.document);
  }
  if (c.city && !c.city->empty()) w.field("city", core::utf8_prefix(*c.city, 128));
  if (c.state && c.state->size() == 2 && std::isupper(static_cast<unsigned char>((*c.state)[0])) &&
      std::isupper(static_cast<unsigned char>((*c.state)[1]))) {
    w.field("state", *c.state);
  }
  if (c.cep && c.cep->size() == 8 && all_digits(*c.cep)) w.field("cep", *c.cep);
  if (!c.tags.empty()) {
    w.array_field("tags");
    std::size_t n = 0;
    for (const auto& t : c.tags) {
      if (t.empty() || n == 64) continue;
      w.value(core::utf8_prefix(t, 64));
      ++n;
    }
    w.end_array();
  }
  w.field("provider", nonempty(c.provider))
      .field("instance", nonempty(c.instance))
      .field("chat_id", nonempty(c.chat_id))
      .field("blocked", c.blocked)
      .field("created_at", c.created_at)
      .field("updated_at", c.updated_at)
      .end_object();
  return w.take();
}

std::string conversation_created_data(const ChatRef& chat, const std::string& mode,
                                      const std::string& assistant) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  w.field("mode", mode).field("assistant", assistant).end_object();
  return w.take();
}

std::string message_stored_data(const StoredMessageData& m) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, m.chat);
  w.field("message_id", m.message_id)
      .field("provider_message_id", m.provider_message_id)
      .field("direction", m.direction)
      .field("author", m.author)
      .field("agent_user_id", m.agent_user_id)
      .field("assistant", m.assistant)
      .field("kind", m.kind);
  if (m.text) {
    w.field("text", *m.text);
  } else if (m.kind == "text") {
    w.field("text", "");
  }
  if (m.media_json) w.raw_field("media", *m.media_json);
  if (m.location_json) w.raw_field("location", *m.location_json);
  w.field("reply_to_message_id", m.reply_to_message_id)
      .field("route", m.route)
      .field("status", m.status)
      .field("timestamp", m.timestamp)
      .end_object();
  return w.take();
}

std::string transferred_data(const ChatRef& chat, const TransferData& t) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  const std::string reason = t.reason.empty() ? std::string("transferred")
                                              : std::string(core::utf8_prefix(t.reason, 2048));
  w.field("previous_mode", t.previous_mode)
      .field("mode", t.mode)
      .field("requested_by", t.requested_by)
      .field("requested_by_user_id", t.requested_by_user_id)
      .field("reason", reason)
      .field("department", nonempty(t.department))
      .field("agent_user_id", t.agent_user_id)
      .end_object();
  return w.take();
}

std::string assigned_data(const ChatRef& chat, const std::string& agent_user_id,
                          const std::optional<std::string>& previous_agent_user_id,
                          const std::optional<std::string>& assigned_by_user_id) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  w.field("agent_user_id", agent_user_id)
      .field("previous_agent_user_id", previous_agent_user_id)
      .field("assigned_by_user_id", assigned_by_user_id)
      .end_object();
  return w.take();
}

std::string unassigned_data(const ChatRef& chat, const std::string& previous_agent_user_id,
                            const std::string& department,
                            const std::optional<std::string>& unassigned_by_user_id) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  w.field("previous_agent_user_id", previous_agent_user_id)
      .field("unassigned_by_user_id", unassigned_by_user_id)
      .field("department", department)
      .field("reason", "agent_deactivated")
      .end_object();
  return w.take();
}

std::string resolved_data(const ChatRef& chat, const ResolveData& r) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  w.field("resolved_by", r.resolved_by).field("agent_user_id", r.agent_user_id);
  if (r.reason) w.field("reason", core::utf8_prefix(*r.reason, 2048));
  w.field("duration_ms", r.duration_ms < 0 ? std::int64_t{0} : r.duration_ms)
      .field("message_count", r.message_count < 0 ? std::int64_t{0} : r.message_count)
      .end_object();
  return w.take();
}

std::string reopened_data(const ChatRef& chat, const std::string& mode, const std::string& reason,
                          const std::optional<std::string>& reopened_by_user_id) {
  json::Writer w;
  w.begin_object();
  chat_fields(w, chat);
  w.field("mode", mode)
      .field("reason", reason)
      .field("reopened_by_user_id", reopened_by_user_id)
      .end_object();
  return w.take();
}

std::string send_text_data(const SendTextData& s) {
  json::Writer w;
  w.begin_object()
      .field("command_id", s.command_id)
      .field("provider", s.provider)
      .field("instance", s.instance)
      .field("to", s.to)
      .field("conversation_id", s.conversation_id)
      .field("message_id", s.message_id)
      .field("text", s.text)
      .end_object();
  return w.take();
}

std::string user_upserted_data(const UserData& u) {
  json::Writer w;
  w.begin_object()
      .field("user_id", u.user_id)
      .field("name", core::utf8_prefix(u.name, 256))
      .field("email", u.email)
      .field("role", u.role)
      .field("active", u.active)
      .field("department", nonempty(u.department))
      .field("participates_in_gamification", u.participates_in_gamification)
      .field("updated_at", u.updated_at)
      .field("tokens_valid_from", u.tokens_valid_from)
      .end_object();
  return w.take();
}

std::string email_or_placeholder(const std::optional<std::string>& email,
                                 const std::string& username) {
  if (email && email->size() >= 3 && email->size() <= 320) return *email;
  return username + "@users.lia.invalid";
}

}  // namespace lia::conversation
