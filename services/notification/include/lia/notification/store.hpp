#pragma once
// notification.outbound_messages and notification.message_templates: the SQL of the
// service, built once per schema (tests use throwaway schemas).

#include <optional>
#include <string>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/domain/conversation_state.hpp>
#include <lia/notification/command.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>

namespace lia::notification {

// Status of an outbound row. sending: a try is (or was, before a crash) in progress;
// the others are final.
inline constexpr std::string_view kSending = "sending";
inline constexpr std::string_view kSent = "sent";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kDeadLettered = "dead_lettered";

struct Claim {
  bool inserted = false;  // a new command: its first try is recorded (attempts = 1)
  std::string row_id;     // the row's id: the one the claim was given when it inserted it
  // The replay that last reopened the row (none: never replayed since it was inserted).
  std::optional<std::string> replayed_from;
  std::string status;
  int attempts = 0;
  std::optional<std::string> last_error;
  // A try's request may be with the provider (see migration 0006): a 'sending' row found
  // so was stopped mid-request.
  bool in_flight = false;
  // Not before this may its next try go (a retryable failure's backoff or Retry-After).
  std::optional<core::SysTime> retry_at;
  std::optional<std::string> error_code;  // a failed row's (outcome_unknown, 131026, …)
};

struct OutboundRecord {
  std::string command_id;
  std::string command_type;
  std::string provider;
  std::string instance;
  std::string to;
  std::optional<std::string> conversation_id;
  std::optional<std::string> message_id;
  std::optional<std::string> body;
  std::optional<std::string> template_name;
  std::optional<std::string> template_language;
  std::string status;
  int attempts = 0;
  std::optional<std::string> provider_message_id;
  std::optional<std::string> delivery_status;
  std::optional<std::string> delivery_error;
  std::optional<std::string> last_error;
  std::optional<std::string> error_code;
  std::optional<int> http_status;
  std::optional<std::string> not_after;
  std::string created_at;
  std::optional<std::string> last_attempt_at;
  std::optional<std::string> sent_at;
  std::optional<std::string> finished_at;
  std::string updated_at;
};

// An outbound row as a delivery tick finds it: its tick, and what an outcome reported from
// the tick needs (the command's ids, recipient and source).
struct Delivery {
  SendCommand command;  // command_id, provider, instance, to, conversation/message ids, source
  domain::MessageTick tick;
  bool sent = false;  // the provider accepted it ('sent')
  int attempts = 0;
};

// A send an echo of the provider (Evolution's send.message: the message as it went out, with
// its provider id) may be of: no provider id recorded, and either with the provider now
// ('sending', in flight) or ended with its outcome unknown.
struct Unsettled {
  SendCommand command;  // command_id, provider, instance, to, conversation/message ids, source
  std::string status;
  int attempts = 0;
  bool in_flight = false;
  std::int64_t last_attempt_ms = 0;  // when its last try began, Unix milliseconds
  // The answer to the try before (kept while the next is in flight): a 5xx may have sent it.
  std::optional<int> http_status;
};

class OutboundStore {
 public:
  OutboundStore(std::shared_ptr<pg::Pool> pool, std::string schema);
  virtual ~OutboundStore() = default;
  OutboundStore(const OutboundStore&) = delete;
  OutboundStore& operator=(const OutboundStore&) = delete;

  const std::string& schema() const { return schema_; }
  pg::Pool& pool() { return *pool_; }

  // Deletes up to `limit` finished rows (sent, failed, dead-lettered) created before
  // `before`; never a row still sending. Returns how many went.
  core::Result<std::int64_t> purge_finished(core::SysTime before, int limit);

  // Records a new command as 'sending' with its first try counted (one statement), in flight
  // when `sending_now` (its request goes out next), as row `row_id`; a known command id
  // returns its row as it is. (Virtual for the tests: a claim whose answer is lost after its
  // commit.)
  virtual core::Result<Claim> claim(const SendCommand& cmd, const std::optional<std::string>& body,
                                    bool sending_now, const std::string& row_id);
  // Counts one more try of a 'sending' row whose count is still `after` (the caller's last
  // try, or its claim's count) and marks it in flight. Returns the try number; Errc::conflict
  // if the row is no longer 'sending', or another handler counted a try since: a handler that
  // lost its partition and still runs never sends beside the new owner.
  core::Result<int> next_attempt(const std::string& command_id, int after);
  // Where the command's row stands (none: unknown command): whether it is finished (a
  // redelivery that need not wait for a rate slot), or after a conflict of next_attempt,
  // whether another handler finished it or counted a try, and whether that try is in flight.
  struct Progress {
    std::string status;
    int attempts = 0;
    bool in_flight = false;
  };
  core::Result<std::optional<Progress>> progress(const std::string& command_id);
  // The try `attempt`, in flight, failed for sure (the provider refused it for now, or it
  // never left): no longer in flight, `reason` kept as the last error, and `retry_at` (when
  // the next try may go, if there is one) for whoever resumes it. false if the row is not
  // 'sending' or has counted another try since. `http_status`, the provider's answer: a 5xx
  // from Evolution lets an echo of that try settle the row (unsettled_sends), and keeps one
  // noted while it waited; any other failure drops that one (it was another send's).
  core::Result<bool> try_failed(const std::string& command_id, int attempt,
                                const std::string& reason,
                                std::optional<core::SysTime> retry_at = std::nullopt,
                                std::optional<int> http_status = std::nullopt);

  // Final states, inside the caller's transaction (beside the events). false: the row was
  // not 'sending' any more (someone else finished it): write no event. mark_sent also takes
  // a row another handler ended as `outcome_unknown` at this very try (it found the try in
  // flight, as after a crash, while the provider was still answering): the message did go.
  core::Result<bool> mark_sent(pg::Tx& tx, const std::string& command_id, int attempts,
                               const std::string& provider_message_id, int http_status);
  // mark_failed only while the row still has the count `seen` this handler last saw: a
  // handler that lost its command to the partition's new owner (which counted a try since)
  // ends nothing, as an expiry it finds on waking would otherwise end the owner's send.
  core::Result<bool> mark_failed(pg::Tx& tx, const std::string& command_id, int seen,
                                 std::string_view status, int attempts, std::string_view reason,
                                 const std::optional<std::string>& code,
                                 std::optional<int> http_status);
  // The Evolution sends of `instance` to one of `recipients` (the spellings of the echo's
  // chat: domain::chat_spellings) whose text is `text` (both trimmed) an echo with
  // `provider_message_id` may be of, oldest first, locked (FOR UPDATE): tried within the last
  // day, not given another echo's id, and none at all when a row has that provider id
  // already (the echo of a send recorded before it came).
  core::Result<std::vector<Unsettled>> unsettled_sends(pg::Tx& tx, const std::string& instance,
                                                       const std::vector<std::string>& recipients,
                                                       const std::string& text,
                                                       const std::string& provider_message_id);
  // Keeps the echo's provider id on a 'sending' row still at try `attempts`, for when that
  // try ends without an answer (sent_by_echo; the next try, or a replay, clears it). false if
  // the row moved on, or another row has that id.
  core::Result<bool> note_echo(pg::Tx& tx, const std::string& command_id, int attempts,
                               const std::string& provider_message_id);
  // The try `attempts` of a 'sending' row ended without an answer, or with an error after
  // which an echo may still show it went: if an echo gave it its provider id meanwhile, the
  // row is 'sent' with that id (returned); an echo kept whose id another row has is forgotten
  // (it was that row's); else nothing changes.
  core::Result<std::optional<std::string>> sent_by_echo(pg::Tx& tx, const std::string& command_id,
                                                        int attempts);
  // A 'sending' row between two tries (its try `attempts` answered with a 5xx, the next not
  // begun) whose echo came after that try's answer: 'sent' with the echo's id. Returns its try
  // count; nullopt if the row is not such a row (any more: the next try began).
  core::Result<std::optional<int>> settle_between_tries(pg::Tx& tx, const std::string& command_id,
                                                        int attempts,
                                                        const std::string& provider_message_id);
  // A row ended with its outcome unknown whose echo came after: 'sent' with the echo's id.
  // Returns its try count; nullopt if the row is not such a row (any more).
  core::Result<std::optional<int>> settle_by_echo(pg::Tx& tx, const std::string& command_id,
                                                  const std::string& provider_message_id);

  // A replayed dead letter: a failed / dead-lettered row goes back to 'sending' with its
  // try count reset, so the command gets a fresh round. false if it was not final-failed, or
  // if the dead letter `replay_token` names was replayed already (migration 0008).
  core::Result<bool> reopen(const std::string& command_id, const std::string& replay_token);

  // The body of template `name` in `language` (exact match), or nullopt.
  core::Result<std::optional<std::string>> find_template(const std::string& name,
                                                         const std::string& language);

  core::Result<std::optional<OutboundRecord>> find(const std::string& command_id);

  // The delivery tick of the row with this provider message id, or nullopt.
  core::Result<std::optional<Delivery>> find_delivery(std::string_view provider,
                                                      std::string_view instance,
                                                      std::string_view provider_message_id);
  // The recipients (`to`) of this number's sends whose request may be with the provider now
  // ('sending' and in flight): the sends a tick for an unknown message id may yet be about.
  // At most `limit` of them.
  core::Result<std::vector<std::string>> in_flight_recipients(std::string_view provider,
                                                              std::string_view instance, int limit);
  // Compare-and-set of the tick: false if it changed since `expected` was read.
  core::Result<bool> set_delivery(const std::string& command_id,
                                  const domain::MessageTick& expected,
                                  const domain::MessageTick& next);
  // The same, inside the caller's transaction, for a tick that says the message was not
  // delivered: `code` (the provider's) is kept as the row's error_code.
  core::Result<bool> set_delivery_failed(pg::Tx& tx, const std::string& command_id,
                                         const domain::MessageTick& expected,
                                         const domain::MessageTick& next,
                                         const std::optional<std::string>& code);

 private:
  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string table_;
};

}  // namespace lia::notification
