#include <algorithm>
#include <cctype>
#include <charconv>

#include <lia/conversation/api_bodies.hpp>
#include <lia/core/page.hpp>
#include <lia/core/text.hpp>
#include <lia/json/json.hpp>

namespace lia::conversation {
namespace {

core::Error invalid(std::string_view field, std::string_view what) {
  return {core::Errc::invalid_argument, "field '" + std::string(field) + "' " + std::string(what)};
}

// Parses a request body that must be a JSON object.
core::Result<json::Document> parse_object(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) return core::Error(core::Errc::invalid_argument, "body: " + doc.error().message());
  if (!doc->IsObject())
    return core::Error(core::Errc::invalid_argument, "body must be a JSON object");
  return doc;
}

core::Result<std::string> required_text(const json::Obj& o, std::string_view key,
                                        std::size_t max_bytes, bool trimmed = true) {
  auto v = o.str(key);
  if (!v) return v.error();
  std::string_view s = trimmed ? core::trim(*v) : *v;
  if (s.empty()) return invalid(key, "must not be empty");
  if (s.size() > max_bytes)
    return invalid(key, "must be at most " + std::to_string(max_bytes) + " bytes");
  return std::string(s);
}

core::Result<std::optional<std::string>> optional_text(const json::Obj& o, std::string_view key,
                                                       std::size_t max_bytes) {
  auto v = o.opt_str(key);
  if (!v) return v.error();
  if (!*v) return std::optional<std::string>{};
  std::string_view s = core::trim(**v);
  if (s.empty()) return std::optional<std::string>{};
  if (s.size() > max_bytes)
    return invalid(key, "must be at most " + std::to_string(max_bytes) + " bytes");
  return std::optional<std::string>(std::string(s));
}

void string_field(json::Writer& w, std::string_view key, const std::optional<std::string>& v) {
  w.key(key);
  if (v) {
    w.value(*v);
  } else {
    w.null();
  }
}

void user_fields(json::Writer& w, const UserView& u) {
  w.field("id", u.id).field("username", u.username).field("full_name", u.full_name);
  string_field(w, "email", u.email);
  w.field("role", auth::to_string(u.role)).field("status", u.active ? "ACTIVE" : "INACTIVE");
  w.array_field("departments");
  for (const auto& d : u.departments) w.value(d);
  w.end_array();
  w.field("participates_in_gamification", u.participates_in_gamification);
  string_field(w, "last_login_at", u.last_login_at);
  w.field("created_at", u.created_at).field("updated_at", u.updated_at);
}

}  // namespace

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
      return false;
    }
  }
  return true;
}

core::Result<LoginBody> parse_login(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  auto user = required_text(*o, "username", 64);
  if (!user) return user.error();
  auto pass = o->str("password");
  if (!pass) return pass.error();
  if (pass->empty()) return invalid("password", "must not be empty");
  if (pass->size() > 256) return invalid("password", "must be at most 256 bytes");
  return LoginBody{*user, std::string(*pass)};
}

// "departments": absent, or 0..32 department names folded to the canonical vocabulary, without
// repeats.
core::Result<std::optional<std::vector<std::string>>> read_departments(const json::Obj& o) {
  auto deps = o.opt_arr("departments");
  if (!deps) return deps.error();
  if (!*deps) return std::optional<std::vector<std::string>>{};
  if ((*deps)->size() > 32) return invalid("departments", "must hold at most 32 names");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < (*deps)->size(); ++i) {
    auto d = (*deps)->str(i);
    if (!d) return d.error();
    auto t = core::trim(*d);
    if (t.empty() || t.size() > 128) {
      return invalid((*deps)->element_path(i), "must be a name of 1..128 bytes");
    }
    auto canonical = canonical_department(t);
    // A name no handoff or queue uses would leave the agent out of every queue, unnoticed.
    if (!is_department(canonical)) {
      return invalid((*deps)->element_path(i),
                     "must be a department: support, commercial, financial, cancellation, "
                     "ombudsman, collections or general (or their Portuguese names)");
    }
    if (std::find(out.begin(), out.end(), canonical) == out.end()) {
      out.push_back(std::move(canonical));
    }
  }
  return std::optional(std::move(out));
}

core::Result<NewUser> parse_new_user(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  // A field this request does not take (a "status": a new user is ACTIVE) is refused, not
  // dropped: the admin would believe it applied.
  if (auto st = o->only({"username", "password", "full_name", "role", "departments", "email",
                         "participates_in_gamification"});
      !st) {
    return st.error();
  }
  NewUser u;
  auto username = required_text(*o, "username", 64);
  if (!username) return username.error();
  if (username->size() < 3) return invalid("username", "must have at least 3 characters");
  for (char c : *username) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') {
      return invalid("username", "may only hold letters, digits, '.', '_' and '-'");
    }
  }
  u.username = *username;

  auto pass = o->str("password");
  if (!pass) return pass.error();
  if (pass->size() < 8) return invalid("password", "must have at least 8 characters");
  if (pass->size() > 256) return invalid("password", "must be at most 256 bytes");
  u.password = std::string(*pass);

  auto full = required_text(*o, "full_name", 256);
  if (!full) return full.error();
  u.full_name = *full;

  auto role = o->str("role");
  if (!role) return role.error();
  auto parsed = auth::parse_role(*role);
  if (!parsed) return invalid("role", "must be one of ADMIN, SUPERVISOR, AGENT");
  u.role = *parsed;

  auto deps = read_departments(*o);
  if (!deps) return deps.error();
  if (*deps) u.departments = std::move(**deps);
  if (u.departments.empty()) u.departments.push_back("general");

  auto email = optional_text(*o, "email", 320);
  if (!email) return email.error();
  if (*email) {
    const auto at = (*email)->find('@');
    if ((*email)->size() < 3 || at == std::string::npos || at == 0 || at + 1 == (*email)->size()) {
      return invalid("email", "must be an email address");
    }
  }
  u.email = *email;
  auto participates = o->opt_boolean("participates_in_gamification");
  if (!participates) return participates.error();
  if (*participates) u.participates_in_gamification = **participates;
  return u;
}

core::Result<UserUpdate> parse_user_update(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  if (auto st =
          o->only({"role", "status", "departments", "full_name", "participates_in_gamification"});
      !st) {
    return st.error();
  }
  UserUpdate u;
  auto role = o->opt_str("role");
  if (!role) return role.error();
  if (*role) {
    auto parsed = auth::parse_role(**role);
    if (!parsed) return invalid("role", "must be one of ADMIN, SUPERVISOR, AGENT");
    u.role = *parsed;
  }
  auto status = o->opt_str("status");
  if (!status) return status.error();
  if (*status) {
    if (**status != "ACTIVE" && **status != "INACTIVE") {
      return invalid("status", "must be ACTIVE or INACTIVE");
    }
    u.active = **status == "ACTIVE";
  }
  auto deps = read_departments(*o);
  if (!deps) return deps.error();
  if (*deps) {
    u.departments = std::move(**deps);
    if (u.departments->empty()) u.departments->push_back("general");
  }
  // A blank name is refused, not dropped: the admin would believe it applied.
  if (auto raw = o->opt_str("full_name"); raw && *raw && core::trim(**raw).empty()) {
    return invalid("full_name", "must not be empty");
  }
  auto full = optional_text(*o, "full_name", 256);
  if (!full) return full.error();
  u.full_name = *full;
  auto participates = o->opt_boolean("participates_in_gamification");
  if (!participates) return participates.error();
  u.participates_in_gamification = *participates;
  if (!u.role && !u.active && !u.departments && !u.full_name && !u.participates_in_gamification) {
    return core::Error(core::Errc::invalid_argument,
                       "give at least one of 'role', 'status', 'departments', 'full_name', "
                       "'participates_in_gamification'");
  }
  return u;
}

core::Result<std::string> parse_send_text(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  // A field this route does not take ("private": true) would be sent to the customer anyway.
  if (auto st = o->only({"text"}); !st) return st.error();
  return required_text(*o, "text", 4096);
}

core::Result<TransferBody> parse_transfer(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  // A misspelt "mode" would transfer in the default mode without a word.
  if (auto st = o->only({"agent_id", "mode", "reason"}); !st) return st.error();
  TransferBody t;
  auto agent = o->str("agent_id");
  if (!agent) return agent.error();
  if (!is_uuid(*agent)) return invalid("agent_id", "must be a user id (UUID)");
  t.agent_id = std::string(*agent);
  std::transform(t.agent_id.begin(), t.agent_id.end(), t.agent_id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto mode = o->opt_str("mode");
  if (!mode) return mode.error();
  if (*mode) {
    auto m = domain::parse_conversation_mode(**mode);
    if (!m || *m == domain::ConversationMode::ai) return invalid("mode", "must be human or hybrid");
    t.mode = *m;
  }
  auto reason = optional_text(*o, "reason", 2048);
  if (!reason) return reason.error();
  t.reason = *reason;
  return t;
}

core::Result<std::optional<std::string>> parse_resolve(std::string_view body) {
  if (core::trim(body).empty()) return std::optional<std::string>{};
  auto doc = parse_object(body);
  if (!doc) return doc.error();
  auto o = json::Obj::root(*doc);
  if (!o) return o.error();
  if (auto st = o->only({"reason"}); !st) return st.error();
  return optional_text(*o, "reason", 2048);
}

namespace {
core::Result<int> parse_limit(const http::StringMap& query, int fallback, int max) {
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty()) return fallback;
  int v = 0;
  const auto* b = it->second.data();
  const auto* e = b + it->second.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc{} || p != e || v < 1 || v > max) {
    return invalid("limit", "must be an integer from 1 to " + std::to_string(max));
  }
  return v;
}
}  // namespace

core::Result<UserListQuery> parse_user_list_query(const http::StringMap& query) {
  UserListQuery q;
  auto limit = parse_limit(query, 200, 500);
  if (!limit) return limit.error();
  q.limit = *limit;
  if (auto it = query.find("after"); it != query.end() && !it->second.empty()) {
    if (core::valid_utf8(it->second, 64) != it->second) {  // longer, or not text
      return invalid("after", "must be the next_after of an earlier page");
    }
    q.after = it->second;
  }
  return q;
}

namespace {
// ?before=<cursor> of a keyset page (core::PageCursor); an error naming it when malformed.
std::optional<core::Error> read_before(const http::StringMap& query,
                                       std::optional<std::int64_t>& us,
                                       std::optional<std::string>& id) {
  const auto it = query.find("before");
  if (it == query.end() || it->second.empty()) return std::nullopt;
  auto cursor = core::parse_page_cursor(it->second);
  if (!cursor) return invalid("before", "must be the next_before of an earlier page");
  us = cursor->us;
  id = std::move(cursor->id);
  return std::nullopt;
}
}  // namespace

core::Result<ListQuery> parse_list_query(const http::StringMap& query) {
  ListQuery q;
  if (auto it = query.find("status"); it != query.end() && !it->second.empty()) {
    if (!domain::parse_conversation_status(it->second)) {
      return invalid("status", "must be active, transferred or resolved");
    }
    q.status = it->second;
  }
  if (auto it = query.find("assigned_to"); it != query.end() && !it->second.empty()) {
    if (it->second != "me" && !is_uuid(it->second)) {
      return invalid("assigned_to", "must be 'me' or a user id");
    }
    q.assigned_to = it->second;
  }
  auto limit = parse_limit(query, 50, 200);
  if (!limit) return limit.error();
  q.limit = *limit;
  if (auto bad = read_before(query, q.before_us, q.before_id)) return *bad;
  return q;
}

core::Result<MessageListQuery> parse_message_query(const http::StringMap& query) {
  MessageListQuery q;
  auto limit = parse_limit(query, 200, 500);
  if (!limit) return limit.error();
  q.limit = *limit;
  if (auto bad = read_before(query, q.before_us, q.before_id)) return *bad;
  return q;
}

bool can_view(const Viewer& viewer, const ConversationAccess& c) {
  if (auth::role_at_least(viewer.role, auth::Role::supervisor)) return true;
  if (c.assigned_to) return *c.assigned_to == viewer.user_id;
  return c.status == "transferred" &&
         std::find(viewer.departments.begin(), viewer.departments.end(), c.department) !=
             viewer.departments.end();
}

bool can_act(const Viewer& viewer, const ConversationAccess& c) {
  if (auth::role_at_least(viewer.role, auth::Role::supervisor)) return true;
  return c.assigned_to && *c.assigned_to == viewer.user_id;
}

std::string user_json(const UserView& u) {
  json::Writer w;
  w.begin_object();
  user_fields(w, u);
  w.end_object();
  return w.take();
}

std::string conversation_json(const ConversationView& c) {
  json::Writer w;
  w.begin_object()
      .field("id", c.id)
      .field("provider", c.provider)
      .field("instance", c.instance)
      .field("chat_id", c.chat_id);
  w.object_field("contact").field("id", c.contact_id);
  string_field(w, "name", c.contact_name);
  string_field(w, "push_name", c.contact_push_name);
  w.field("phone", c.contact_phone).end_object();
  w.field("assistant", c.assistant)
      .field("department", c.department)
      .field("status", c.status)
      .field("mode", c.mode)
      .field("sentiment", c.sentiment)
      .field("urgency", c.urgency);
  string_field(w, "assigned_to", c.assigned_to);
  string_field(w, "transfer_reason", c.transfer_reason);
  string_field(w, "transferred_at", c.transferred_at);
  string_field(w, "resolved_by", c.resolved_by);
  string_field(w, "resolved_at", c.resolved_at);
  string_field(w, "last_message", c.last_message);
  w.field("last_message_time", c.last_message_time)
      .field("created_at", c.created_at)
      .field("updated_at", c.updated_at)
      .end_object();
  return w.take();
}

std::string message_json(const MessageView& m) {
  json::Writer w;
  w.begin_object()
      .field("id", m.id)
      .field("conversation_id", m.conversation_id)
      .field("direction", m.direction)
      .field("author", m.author);
  string_field(w, "agent_user_id", m.agent_user_id);
  string_field(w, "assistant", m.assistant);
  w.field("kind", m.kind);
  string_field(w, "text", m.content);
  if (m.media_json) w.raw_field("media", *m.media_json);
  if (m.location_json) w.raw_field("location", *m.location_json);
  string_field(w, "route", m.route);
  w.field("private", m.is_private);
  string_field(w, "whatsapp_message_id", m.whatsapp_message_id);
  string_field(w, "status", m.whatsapp_status);
  string_field(w, "status_reason", m.status_reason);
  w.field("created_at", m.created_at).end_object();
  return w.take();
}

std::string login_response_json(const std::string& token, std::int64_t expires_at,
                                const UserView& u) {
  json::Writer w;
  w.begin_object()
      .field("token", token)
      .field("token_type", "Bearer")
      .field("expires_at", expires_at);
  w.object_field("user");
  user_fields(w, u);
  w.end_object().end_object();
  return w.take();
}

}  // namespace lia::conversation
