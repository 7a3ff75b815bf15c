#pragma once
// The SQL of ai_orchestration's read model, built once for its schema (the service's "ai",
// or a test's own schema). Each function is one statement.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>

#include "ai_events.hpp"
#include "orchestrator.hpp"
#include "threads.hpp"
#include "tools.hpp"

namespace lia::ai_orchestration {

// Where to look for a campaign's message to the chat (campaign_chats), in the same round trip
// as the conversation's snapshot.
struct CampaignProbe {
  std::string instance;
  std::optional<std::string> phone;  // E.164 digits; none: not a phone's chat, no campaign
  core::SysTime since;
  core::SysTime until;
};

// What the read model knows about a conversation when a message arrives.
struct Snapshot {
  bool seen = false;      // the event was handled before (inbox)
  bool known = false;     // the conversation has a row
  bool campaign = false;  // a campaign's message was requested for the chat (CampaignProbe)
  std::string status = "active";
  std::string mode = "ai";
  Assistant assistant = Assistant::apresentacao;
  bool handoff_pending = false;
  int message_count = 0;
  int customer_message_count = 0;
  int ai_reply_count = 0;
  int negative_streak = 0;
  std::int64_t version = -1;             // -1: no row
  std::optional<std::string> thread_id;  // the open thread
  int thread_count = 0;
  std::string thread_summary;
  std::optional<std::string> first_name;
  std::map<std::string, std::string> registrations;  // what the tools registered before
  std::vector<HistoryMessage> recent;                // oldest first
};

// One stored message and what it changes in the conversation's row. The counters move
// relative to the row, so a message nobody answers needs no snapshot first.
struct MessageRecord {
  ChatRef chat;
  // For a conversation seen for the first time.
  std::string status = "active";
  std::string mode = "ai";
  Assistant assistant = Assistant::apresentacao;  // also stored when set_assistant
  bool set_assistant = false;
  bool request_handoff = false;
  bool from_customer = false;
  bool from_ai = false;
  std::optional<bool> negative;  // a customer's text: did it read negative
  std::optional<std::string> sentiment;
  std::optional<double> sentiment_score;
  std::optional<std::string> urgency;
  std::optional<std::string> last_intent;
  // The snapshot's version the answer was made from (-1: there was no row); nullopt: no check.
  std::optional<std::int64_t> expected_version;
  // The message.
  std::string message_id;
  std::string direction;
  std::string author;
  std::string kind;
  std::optional<std::string> message_assistant;
  std::string content;
  std::string sent_at;  // RFC 3339
  int keep_recent = 20;
};

struct Recorded {
  int message_count = 0;                 // the conversation's, with this message
  std::optional<std::string> thread_id;  // the open thread, now counting this message
  int thread_count = 0;
};

// A conversation event that changes who answers.
struct StateWrite {
  ChatRef chat;
  std::optional<std::string> status;  // unchanged when empty
  std::optional<std::string> mode;
  std::optional<std::string> assistant;  // created: the conversation's first assistant
  bool clear_handoff = false;
  // The chat changed hands or ended (transferred, resolved, reopened): replies not confirmed
  // by now were dropped by conversation and leave the recent messages. Not on `created`:
  // nothing was answered yet.
  bool forget_unconfirmed = true;
};

class Store {
 public:
  Store(std::string schema, std::string consumer);
  const std::string& schema() const { return schema_; }
  const std::string& consumer() const { return consumer_; }

  core::Result<Snapshot> load(pg::Pool& pool, const std::string& conversation_id,
                              const std::string& contact_id, const std::string& event_id,
                              const CampaignProbe& campaign = {}) const;
  core::Result<bool> claim(pg::Tx& tx, const std::string& event_id) const;
  // A collection campaign's message requested for the phone (E.164 digits) on the instance
  // at `at` (kept: the latest).
  core::Status note_campaign(pg::Tx& tx, const std::string& instance, const std::string& phone,
                             core::SysTime at) const;
  // Merges registrations the reply's tools made (a JSON object) into the conversation's.
  core::Status add_registrations(pg::Tx& tx, const std::string& conversation_id,
                                 const std::string& registrations_json) const;
  // A resolution ends the case: after it (the conversation reopened), a complaint or a lead
  // is a new one.
  void forget_registrations(pg::Tx& tx, const std::string& conversation_id) const;
  // The reply going out, in the recent messages at once, beside the message it answers (its
  // seq; read after it, inbound before outbound, whatever the clocks say): the next message the
  // customer sent while the model was answering is answered knowing it, before conversation's
  // message.stored of the reply comes back (which counts it and confirms it: the same message
  // id). Unconfirmed, it is in no summary, and a state change (transfer, resolve, reopen)
  // removes it: conversation dropped it.
  void remember_reply(pg::Tx& tx, const std::string& conversation_id, int seq,
                      const std::string& reply_id, const std::string& assistant,
                      const std::string& text) const;

  // One statement: upserts the conversation (Errc::conflict, retryable, when its version is
  // not the expected one), stores the message, prunes the recent messages and counts the
  // message in the open thread.
  core::Result<Recorded> record_message(pg::Tx& tx, const MessageRecord& m) const;
  // Opens a thread (id = a new UUIDv7) with this count and starting summary; returns its id.
  core::Result<std::string> open_thread(pg::Tx& tx, const std::string& conversation_id,
                                        int message_count, const std::string& summary) const;
  // Closes the open thread with a summary of the recent messages (reason "rotation" or
  // "conversation_ended"); after a rotation a fresh thread starts from that summary.
  // Returns the summary ("" when there was no open thread).
  core::Result<std::string> close_thread(pg::Tx& tx, const std::string& conversation_id,
                                         const std::string& reason, bool open_next) const;

  core::Status apply_state(pg::Tx& tx, const StateWrite& w) const;

  core::Status upsert_contact(pg::Pool& pool, const std::string& contact_id,
                              const std::optional<std::string>& first_name,
                              const std::string& updated_at) const;
  core::Status erase_contact(pg::Pool& pool, const std::string& contact_id) const;

 private:
  std::string schema_;
  std::string consumer_;
  std::string q_load_, q_record_, q_open_thread_, q_close_load_, q_close_thread_, q_state_,
      q_contact_, q_erase_contact_, q_registrations_, q_forget_registrations_, q_remember_reply_,
      q_forget_unconfirmed_;
};

// The outages table, for lookup_outage.
class PgOutages final : public OutageSource {
 public:
  PgOutages(std::shared_ptr<pg::Pool> pool, const std::string& schema);
  core::Result<std::optional<Outage>> find(std::string_view cep) override;

 private:
  std::shared_ptr<pg::Pool> pool_;
  std::string query_;
};

// Active prompt_templates, cached per assistant for `ttl` (edits reach every replica within
// it). A database error keeps the cached prompt, or gives none.
class PgPrompts final : public PromptSource {
 public:
  PgPrompts(std::shared_ptr<pg::Pool> pool, const std::string& schema,
            std::chrono::milliseconds ttl = std::chrono::seconds{60},
            const core::Clock& clock = core::SystemClock::instance());
  std::optional<Prompt> prompt(Assistant assistant) override;
  void invalidate();

 private:
  struct Entry {
    std::optional<Prompt> prompt;
    core::SysTime loaded_at;
  };
  std::shared_ptr<pg::Pool> pool_;
  std::string query_;
  std::chrono::milliseconds ttl_;
  const core::Clock* clock_;
  std::mutex mu_;
  std::unordered_map<int, Entry> cache_;
};

}  // namespace lia::ai_orchestration
