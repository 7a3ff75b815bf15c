#pragma once
// Internal: the SQL of the conversation schema and the steps handlers and the API share
// (reading a conversation, storing a message, publishing, choosing an agent, users).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/conversation/event_data.hpp>
#include <lia/conversation/model.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/pg/tx.hpp>

namespace lia::conversation::store {

// `col` as RFC 3339 UTC text with milliseconds.
std::string ts(std::string_view col);

// Columns read into a ConversationRow (read_conversation), for table alias `c`.
std::string conversation_columns();
ConversationRow read_conversation(const pg::Row& row);

// Columns read into a ConversationView (read_view), for `c` joined with contacts `k`.
std::string view_columns();
ConversationView read_view(const pg::Row& row);

std::string message_columns();
MessageView read_message(const pg::Row& row);

std::string user_columns();
UserView read_user(const pg::Row& row);

inline ChatRef chat_of(const ConversationRow& c) {
  return {c.id, c.contact_id, c.provider, c.instance, c.chat_id};
}

// Everything a stored message row holds.
struct NewMessage {
  std::string id;
  std::string conversation_id;
  std::string instance;
  std::string direction;  // inbound | outbound
  std::string role;       // user | assistant | system
  std::string author;     // customer | ai | agent | system
  std::optional<std::string> agent_user_id;
  std::optional<std::string> assistant;
  std::optional<std::string> content;
  std::string kind = "text";
  std::optional<std::string> media_json;
  std::optional<std::string> location_json;
  std::optional<std::string> route;
  bool from_me = false;
  bool is_private = false;
  std::optional<std::string> whatsapp_message_id;
  std::optional<std::string> whatsapp_status;
  std::optional<std::string> status_reason;  // of an ERROR status
  std::optional<std::string> send_by;
  std::optional<std::string> command_id;
  std::optional<std::string> reply_to_message_id;
  std::optional<std::string> sent_at;  // RFC 3339
};

// The schema-qualified SQL, built once per schema.
class Sql {
 public:
  explicit Sql(const std::string& schema);
  const std::string& schema() const { return schema_; }
  // "<quoted schema>.<table>"
  std::string t(std::string_view table) const;

  std::string conversation_by_id_for_update;
  // The chat's conversation ($1 instance, $2 chat id).
  std::string conversation_by_chat_for_update;
  // The customer's conversation on that instance ($1 instance, $2 contact id): the last one
  // written in.
  std::string conversation_by_contact_for_update;
  std::string insert_conversation;
  std::string bump_contact_conversations;
  std::string touch_conversation;  // last message + state
  std::string insert_message;      // ON CONFLICT DO NOTHING RETURNING id
  std::string view_by_id;
  std::string assignment_lock;
  std::string pick_agent;
  std::string insert_alert;
  std::string insert_activity;
  std::string insert_user;
  std::string user_by_username;

 private:
  std::string schema_;
};

// Inserts a message; false when a message with its id or provider id already exists.
core::Result<bool> insert_message(pg::Tx& tx, const Sql& sql, const NewMessage& m);

// Updates the conversation's last message and its status/mode; `reopen` also clears the
// assignment and the resolution, and restarts opened_at, never before the resolution it
// reopens (the survey stays: its window holds); the message that reopened it, written after
// the conversation's lock (and so after that resolution), is dated after both. Sent with the
// transaction's next round trip (pg::Tx::exec_later). `survey_answer`: the message is a score
// routed to the survey, which it answers.
void touch_conversation(pg::Tx& tx, const Sql& sql, const std::string& id,
                        const std::optional<std::string>& last_message,
                        const domain::ConversationState& next, bool reopen,
                        bool survey_answer = false);

// Writes the event to the outbox (validated against its schema).
core::Status emit(pg::Tx& tx, const Sql& sql, std::string_view topic, std::string key,
                  std::string_view type, std::string subject, std::string data,
                  const core::Clock& clock);

// The least-loaded active agent (role AGENT) of `department`, then of "general", then any;
// load = conversations transferred and assigned to them now. Serialized by an advisory
// transaction lock, so two assignments never both see the same load. nullopt: none.
core::Result<std::optional<std::string>> pick_agent(pg::Tx& tx, const Sql& sql,
                                                    const std::string& department);
// Takes the assignment lock (held until the transaction ends).
core::Status lock_assignments(pg::Tx& tx, const Sql& sql);

core::Status add_alert(pg::Tx& tx, const Sql& sql, const std::string& conversation_id,
                       std::string_view type, std::string_view severity, std::string_view message,
                       const core::Clock& clock);

struct Activity {
  std::optional<std::string> user_id;
  std::string action;
  std::optional<std::string> ip_address;
  std::optional<std::string> user_agent;
  std::optional<std::string> conversation_id;
  std::optional<std::string> target_user_id;
  std::string details_json = "{}";
};
core::Status log_activity(pg::Tx& tx, const Sql& sql, const Activity& a, const core::Clock& clock);

// A short text for conversations.last_message.
std::string preview(std::string_view kind, std::string_view content);

}  // namespace lia::conversation::store
