#pragma once
// The `data` of every event conversation publishes, as JSON text that follows
// proto-schemas/events/<type>/v1.json (the unit tests validate each against its schema).
// Pure functions: the handlers fill the structs from their rows.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lia::conversation {

// The chat an event is about (every conversation.* event carries these).
struct ChatRef {
  std::string conversation_id;
  std::string contact_id;
  std::string provider;
  std::string instance;
  std::string chat_id;
};

struct ContactData {
  std::string contact_id;
  std::string phone;
  std::optional<std::string> name;
  std::optional<std::string> push_name;
  std::optional<std::string> email;
  std::optional<std::string> document;  // left out unless 11 or 14 digits
  std::optional<std::string> city;
  std::optional<std::string> state;  // left out unless two upper-case letters
  std::optional<std::string> cep;    // left out unless 8 digits
  std::vector<std::string> tags;
  std::optional<std::string> provider;
  std::optional<std::string> instance;
  std::optional<std::string> chat_id;
  bool blocked = false;
  std::string created_at;
  std::string updated_at;
};
std::string contact_upserted_data(const ContactData& c);

std::string conversation_created_data(const ChatRef& chat, const std::string& mode,
                                      const std::string& assistant);

struct StoredMessageData {
  ChatRef chat;
  std::string message_id;
  std::optional<std::string> provider_message_id;
  std::string direction;  // inbound | outbound
  std::string author;     // customer | ai | agent | system
  std::optional<std::string> agent_user_id;
  std::optional<std::string> assistant;
  std::string kind;
  std::optional<std::string> text;
  std::optional<std::string> media_json;     // the inbound `media` object, as JSON text
  std::optional<std::string> location_json;  // the inbound `location` object, as JSON text
  std::optional<std::string> reply_to_message_id;
  std::optional<std::string> route;
  std::optional<std::string> status;  // outbound: PENDING
  std::string timestamp;
};
std::string message_stored_data(const StoredMessageData& m);

struct TransferData {
  std::string previous_mode;
  std::string mode;
  std::string requested_by;  // ai | customer | agent | supervisor | system
  std::optional<std::string> requested_by_user_id;
  std::string reason;  // cut to 2048 bytes; "transferred" when empty
  std::optional<std::string> department;
  std::optional<std::string> agent_user_id;
};
std::string transferred_data(const ChatRef& chat, const TransferData& t);

std::string assigned_data(const ChatRef& chat, const std::string& agent_user_id,
                          const std::optional<std::string>& previous_agent_user_id,
                          const std::optional<std::string>& assigned_by_user_id);

// The agent was deactivated and nobody of the department is left: the conversation waits
// unassigned (reason agent_deactivated).
std::string unassigned_data(const ChatRef& chat, const std::string& previous_agent_user_id,
                            const std::string& department,
                            const std::optional<std::string>& unassigned_by_user_id);

struct ResolveData {
  std::string resolved_by;  // agent | supervisor | ai | system
  std::optional<std::string> agent_user_id;
  std::optional<std::string> reason;
  std::int64_t duration_ms = 0;
  std::int64_t message_count = 0;
};
std::string resolved_data(const ChatRef& chat, const ResolveData& r);

std::string reopened_data(const ChatRef& chat, const std::string& mode, const std::string& reason,
                          const std::optional<std::string>& reopened_by_user_id);

struct SendTextData {
  std::string command_id;
  std::string provider;
  std::string instance;
  std::string to;
  std::string conversation_id;
  std::string message_id;
  std::string text;
};
std::string send_text_data(const SendTextData& s);

struct UserData {
  std::string user_id;
  std::string name;
  std::string email;
  std::string role;
  bool active = true;
  std::optional<std::string> department;
  std::string updated_at;
  bool participates_in_gamification = true;
  // Tokens issued before it are refused (since the user's last deactivation); none: all.
  std::optional<std::string> tokens_valid_from;
};
std::string user_upserted_data(const UserData& u);

// The email user.upserted carries: the user's own, or "<username>@users.lia.invalid" for a
// user without one (the schema requires an address; .invalid never resolves).
std::string email_or_placeholder(const std::optional<std::string>& email,
                                 const std::string& username);

}  // namespace lia::conversation
