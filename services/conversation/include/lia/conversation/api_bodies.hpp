#pragma once
// The REST API's pure parts: request bodies and query strings parsed and validated (errors
// name the field: "field 'text' must not be empty"), response bodies, and who may see or
// act on a conversation. No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/auth/auth.hpp>
#include <lia/conversation/model.hpp>
#include <lia/core/result.hpp>
#include <lia/domain/conversation_state.hpp>
#include <lia/http/message.hpp>

namespace lia::conversation {

struct LoginBody {
  std::string username;
  std::string password;
};
core::Result<LoginBody> parse_login(std::string_view body);

struct NewUser {
  std::string username;   // 3..64 of [A-Za-z0-9._-]
  std::string password;   // 8..256 bytes
  std::string full_name;  // 1..256 bytes
  auth::Role role = auth::Role::agent;
  std::vector<std::string> departments;  // canonical names; ["general"] when absent
  std::optional<std::string> email;
  bool participates_in_gamification = true;
};
core::Result<NewUser> parse_new_user(std::string_view body);

// PATCH /api/users/{id}: {role?, status?: ACTIVE|INACTIVE, departments?, full_name?}, at
// least one of them.
struct UserUpdate {
  std::optional<auth::Role> role;
  std::optional<bool> active;
  std::optional<std::vector<std::string>> departments;  // canonical; ["general"] when empty
  std::optional<std::string> full_name;
  std::optional<bool> participates_in_gamification;
};
core::Result<UserUpdate> parse_user_update(std::string_view body);

// {"text": "..."}: 1..4096 bytes after trimming (what notification.send_text accepts).
core::Result<std::string> parse_send_text(std::string_view body);

struct TransferBody {
  std::string agent_id;  // a UUID
  // human | hybrid; none: a transferred conversation keeps its mode, any other becomes human
  std::optional<domain::ConversationMode> mode;
  std::optional<std::string> reason;
};
core::Result<TransferBody> parse_transfer(std::string_view body);

// {"reason": "..."} or an empty body.
core::Result<std::optional<std::string>> parse_resolve(std::string_view body);

struct ListQuery {
  std::optional<std::string> status;       // active | transferred | resolved
  std::optional<std::string> assigned_to;  // "me" or a user id
  int limit = 50;                          // 1..200
  // ?before=<cursor>: the page after the one whose `next_before` it is. The cursor is
  // "<last message time in µs since 1970>_<conversation id>" of that page's last item.
  std::optional<std::int64_t> before_us;
  std::optional<std::string> before_id;
};
core::Result<ListQuery> parse_list_query(const http::StringMap& query);
// GET /api/users: ?limit= (1..500, default 200) and ?after=<username>, the page after the
// one whose `next_after` it is (users are listed by username).
struct UserListQuery {
  int limit = 200;
  std::optional<std::string> after;
};
core::Result<UserListQuery> parse_user_list_query(const http::StringMap& query);
// GET /api/conversations/{id}/messages: ?limit= (1..500, default 200), the latest messages
// in order; ?before=<cursor>, the older ones before the page whose `next_before` it is (the
// cursor of that page's first, oldest message).
struct MessageListQuery {
  int limit = 200;
  std::optional<std::int64_t> before_us;
  std::optional<std::string> before_id;
};
core::Result<MessageListQuery> parse_message_query(const http::StringMap& query);

// True for the canonical lower-case 8-4-4-4-12 form (any case accepted).
bool is_uuid(std::string_view s);

// Who asks: the token's subject and role, and (for agents) their departments.
struct Viewer {
  std::string user_id;
  auth::Role role = auth::Role::agent;
  std::vector<std::string> departments;
};

struct ConversationAccess {
  std::string status;
  std::optional<std::string> assigned_to;
  std::string department;
};

// Supervisors and admins see everything; an agent sees the conversations assigned to them
// and the unassigned transferred ones of their departments.
bool can_view(const Viewer& viewer, const ConversationAccess& c);
// Supervisors and admins, or the assigned agent.
bool can_act(const Viewer& viewer, const ConversationAccess& c);

// Response bodies.
std::string user_json(const UserView& u);
std::string conversation_json(const ConversationView& c);
std::string message_json(const MessageView& m);
std::string login_response_json(const std::string& token, std::int64_t expires_at,
                                const UserView& u);

}  // namespace lia::conversation
