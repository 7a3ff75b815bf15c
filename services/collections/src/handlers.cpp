#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include <lia/collections/campaign.hpp>
#include <lia/collections/handlers.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/phone.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/events.hpp>

namespace lia::collections {
namespace {

namespace f = core::f;
namespace types = events::types;

const std::string kInbox = "collections.notification.events.v1";
const std::string kAiInbox = "collections.ai.events.v1";

core::Error bad_data(const core::Error& e) {
  return core::Error(core::Errc::invalid_argument, e.message(), false);
}

// An attempt that reached the debtor or may have: sent, on its way (no outcome yet), or of
// unknown outcome. (SQL over message_attempts `a`.)
constexpr const char* kMayHaveReached =
    "(a.outcome IS NULL OR a.outcome = 'sent' OR a.code = 'outcome_unknown')";

// The chat an event of conversation or ai_orchestration names, and its phone as a campaign
// target holds it (normalized as WhatsApp reports it: a JID or digits, the ninth digit added
// back); no phone for a chat that is none (@lid, a group): no debtor's.
struct ChatOf {
  std::string conversation_id;
  std::string provider;
  std::string instance;
  std::optional<std::string> phone;
};

core::Result<ChatOf> chat_of(const json::Obj& o) {
  ChatOf c;
  for (auto [field, out] :
       {std::pair{"conversation_id", &c.conversation_id}, std::pair{"provider", &c.provider},
        std::pair{"instance", &c.instance}}) {
    auto v = o.nonempty_str(field);
    if (!v) return bad_data(v.error());
    *out = std::string(*v);
  }
  auto chat = o.nonempty_str("chat_id");
  if (!chat) return bad_data(chat.error());
  if (auto phone = domain::normalize_wa_id(*chat)) c.phone = phone->digits;
  return c;
}

// notification's failure of a command whose not_after passed before it was sent: `code`
// "expired"; older producers only start the reason with "expired:".
bool is_expiry(std::optional<std::string_view> code, const std::optional<std::string>& reason) {
  if (code) return *code == "expired";
  return reason && reason->starts_with("expired:");
}

// What a `message.failed` or `message.dead_lettered` says, and about whom.
//  - refused: the provider's refusal of this recipient ends the target: Evolution's number
//    check (code not_on_whatsapp), or Meta's recipient codes, 131026 (undeliverable),
//    131021 (the recipient is the sender) and 131050 (they stopped marketing messages).
//  - unknown: the provider may well have delivered it (a 2xx without an id too).
//  - message: Meta refused this message's content (a parameter missing or not valid, an
//    unsupported type): the same data fails the same way, so the attempt is used.
//  - service: the service's or the provider's trouble, not the debtor's nor the message's:
//    credentials missing or refused (401, 403, a setting not set), an unknown instance (404;
//    Meta's phone number id unknown or not the token's: notification's instance_not_found),
//    a provider down or throttling (5xx, 429, Meta's rate-limit codes, a dead letter after
//    notification's retries), the account or the template (Meta's other codes), Evolution's
//    400s (it answers 400 to nearly any trouble of its own: a closed connection, a time-out).
//    The attempt is given back.
enum class Failure { refused, unknown, message, service };

Failure failure_of(std::optional<std::string_view> code) {
  if (!code) return Failure::service;
  if (*code == "outcome_unknown") return Failure::unknown;
  // (Meta's 131050: the customer stopped the business's marketing messages.)
  if (*code == "not_on_whatsapp" || *code == "131026" || *code == "131021" || *code == "131050") {
    return Failure::refused;
  }
  // Meta: invalid parameter, required parameter missing, parameter value not valid,
  // unsupported message type, media download and upload errors, parameter format mismatch,
  // and 131049: not delivered to keep the customer's marketing messages few (their limit).
  for (std::string_view m :
       {"100", "131008", "131009", "131049", "131051", "131052", "131053", "132012"}) {
    if (*code == m) return Failure::message;
  }
  return Failure::service;
}

// A target's sends beyond its campaign's max_attempts that failed for the service's trouble
// and were given back: past these, such a failure uses the attempt (a failure of this one
// target alone that looks like the service's would otherwise be tried again for ever).
constexpr int kGivenBackTries = 5;

}  // namespace

NotificationHandler::NotificationHandler(std::shared_ptr<pg::Pool> pool, std::string schema,
                                         const core::Clock& clock, int pause_after_failures)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      clock_(clock),
      pause_after_failures_(pause_after_failures) {}

core::Status NotificationHandler::handle(const kafka::Message& message) const {
  if (const std::string* type = message.header(events::headers::event_type)) {
    if (*type != types::notification_message_sent && *type != types::notification_message_failed &&
        *type != types::notification_message_dead_lettered &&
        *type != types::notification_message_undelivered) {
      return {};
    }
  }
  // The outcome of another service's command: nothing of ours to update (without the
  // header, the look-up by command id below decides).
  if (runtime::command_of(message, kServiceName) == false) return {};
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  return on_event(*ev);
}

core::Status NotificationHandler::on_event(const events::CloudEvent& ev) const {
  std::string outcome;
  if (ev.type == types::notification_message_sent) {
    outcome = "sent";
  } else if (ev.type == types::notification_message_failed ||
             ev.type == types::notification_message_undelivered) {
    // (undelivered: accepted by the provider, then not delivered, a failure after its `sent`)
    outcome = "failed";
  } else if (ev.type == types::notification_message_dead_lettered) {
    outcome = "dead_lettered";
  } else {
    return {};
  }
  auto doc = json::parse(ev.data);
  if (!doc) return bad_data(doc.error());
  auto o = json::Obj::root(*doc);
  if (!o) return bad_data(o.error());
  auto command = o->nonempty_str("command_id");
  if (!command) return bad_data(command.error());
  auto reason = o->opt_str("reason");
  if (!reason) return bad_data(reason.error());
  auto pmid = o->opt_str("provider_message_id");
  if (!pmid) return bad_data(pmid.error());
  auto code = o->opt_str("code");
  if (!code) return bad_data(code.error());
  auto http_status = o->opt_i64("http_status");
  if (!http_status) return bad_data(http_status.error());
  const bool undelivered = ev.type == types::notification_message_undelivered;
  const std::optional<std::string> why =
      *reason ? std::optional<std::string>(**reason) : std::nullopt;
  const std::optional<std::string> provider_id =
      *pmid ? std::optional<std::string>(**pmid) : std::nullopt;
  if (outcome == "failed" && is_expiry(*code, why)) outcome = "expired";

  std::string target;
  std::string next_status;
  bool reopened = false;
  bool given_back = false;
  std::string paused_campaign;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    target.clear();
    next_status.clear();
    reopened = false;
    given_back = false;
    paused_campaign.clear();
    bool owed_again = false;
    const auto now = clock_.now();
    // When notification recorded it (never later than now: another machine's clock).
    const auto went_out = std::min(core::parse_rfc3339(ev.time).value_or(now), now);
    // Most notification events are about other services' commands: one indexed lookup
    // first. The inbox claim comes before any change, so a redelivery changes nothing.
    // Its row locked: whether its attempt was given back already (an expiry, the service's
    // trouble) is read once per command, whatever other event came for it (a dead letter
    // replayed, then expired: the debtor must not get one attempt back twice). One whose
    // outcome was unknown is never given back: it may have reached the debtor (its dead letter
    // replayed, then expired or dead-lettered again, must not send the debtor a second one).
    auto att = tx.exec(
        "SELECT target_id::text, outcome = 'expired' OR given_back OR code IS NOT "
        "DISTINCT FROM 'outcome_unknown' FROM " +
            q_ + ".message_attempts WHERE command_id = $1 FOR UPDATE",
        std::string(*command));
    if (!att) return att.error();
    if (att->empty()) return {};
    const bool never_give_back = (*att)[0].get<std::optional<bool>>(1).value_or(false);
    auto fresh = pg::inbox_claim(tx, schema_, kInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    auto rec = tx.exec("UPDATE " + q_ +
                           ".message_attempts SET outcome = $2, outcome_at = $3, reason = $4, "
                           "provider_message_id = coalesce($5, provider_message_id), "
                           // An unknown outcome stays known as one until a `sent` replaces it.
                           "code = CASE WHEN code = 'outcome_unknown' AND $2 <> 'sent' THEN code "
                           "ELSE $6 END "
                           "WHERE command_id = $1",
                       std::string(*command), outcome, now, why, provider_id,
                       *code ? std::optional<std::string>(std::string(**code)) : std::nullopt);
    if (!rec) return rec.error();
    target = (*att)[0].get<std::string>(0);
    core::Result<pg::Rows> upd = core::Error(core::Errc::internal, "unreachable");
    // A message that reached (or may have reached) the debtor: contacted, and the next
    // attempt no sooner than the campaign's spacing after it went out. It was due at the
    // spacing after it was requested; a send delayed in notification moves it on.
    const auto reached = [&](const std::optional<std::string>& error) {
      return tx.exec(
          "UPDATE " + q_ +
              ".voice_campaign_targets t SET status = 'contacted', last_error = CASE WHEN "
              "t.status = 'contacted' THEN t.last_error ELSE $2 END, next_attempt_at = "
              // (none after the last attempt: GREATEST would skip the NULL)
              "CASE WHEN t.next_attempt_at IS NOT NULL THEN GREATEST(t.next_attempt_at, "
              "$4::timestamptz + make_interval(mins => c.attempt_spacing_minutes)) END, "
              "updated_at = $3 FROM " +
              q_ +
              ".voice_campaigns c WHERE t.id = $1 AND c.id = t.campaign_id AND t.status IN "
              "('pending', 'exhausted', 'contacted') RETURNING t.status",
          target, error, now, went_out);
    };
    // The target's campaign, completed without this target's next attempt, is active again.
    // The campaign's row is locked either way, so a completion deciding now waits for this
    // commit (scheduler.cpp).
    const auto reopen = [&]() -> core::Status {
      auto lock = tx.exec("SELECT 1 FROM " + q_ + ".voice_campaigns c, " + q_ +
                              ".voice_campaign_targets t WHERE t.id = $1 AND c.id = "
                              "t.campaign_id FOR NO KEY UPDATE OF c",
                          target);
      if (!lock) return lock.error();
      auto again = tx.exec("UPDATE " + q_ +
                               ".voice_campaigns c SET status = 'active', completed_at = NULL, "
                               "updated_at = $2 FROM " +
                               q_ +
                               ".voice_campaign_targets t WHERE t.id = $1 AND "
                               "c.id = t.campaign_id AND c.status = 'completed' AND t.status IN "
                               "('pending', 'contacted') AND t.attempt_count < c.max_attempts",
                           target, now);
      if (!again) return again.error();
      reopened = again->affected() > 0;
      return {};
    };
    const Failure failure = outcome == "dead_lettered" ? Failure::service : failure_of(*code);
    // The campaign's run of the service's failures, one more: at pause_after_failures_ in a
    // row an active campaign is paused, with the last reason, until a person resumes it.
    const auto count_failure = [&]() -> core::Status {
      auto run = tx.exec("UPDATE " + q_ +
                             ".voice_campaigns c SET failures_in_a_row = c.failures_in_a_row + 1 "
                             "FROM " +
                             q_ +
                             ".voice_campaign_targets t WHERE t.id = $1 AND c.id = t.campaign_id "
                             "RETURNING c.id::text, c.failures_in_a_row, c.status",
                         target);
      if (!run) return run.error();
      if (run->empty()) return {};
      const auto& row = (*run)[0];
      if (row.get<int>(1) < pause_after_failures_ || row.get<std::string>(2) != "active") {
        return {};
      }
      auto paused = tx.exec("UPDATE " + q_ +
                                ".voice_campaigns SET status = 'paused', paused_reason = $2, "
                                "updated_at = $3 WHERE id = $1::uuid AND status = 'active'",
                            row.get<std::string>(0),
                            fmt::format("{} sends in a row not made for the service's trouble; "
                                        "the last: {}",
                                        row.get<int>(1), why.value_or("dead-lettered")),
                            now);
      if (!paused) return paused.error();
      paused_campaign = row.get<std::string>(0);
      return {};
    };
    const bool unknown = outcome == "failed" && failure == Failure::unknown;
    if (outcome != "sent" && !unknown && !undelivered) {
      // A debtor who wrote while this message was on its way counted as answering it (the
      // reply handler cannot wait for the outcome). It never reached them: unless another
      // attempt may have, that was no answer, and the target is owed its message again (the
      // branches below then treat it as pending: an expiry gives the attempt back and makes it
      // due at once, a given-back one is due within its spacing, a used one at its time, as
      // for a target that never wrote: due its spacing after the last send). Not after
      // an `undelivered`: the provider had taken the message, a debtor who wrote after that
      // may well have answered it (an ERROR tick need not be final), and is not chased again.
      auto owed = tx.exec("UPDATE " + q_ +
                              ".voice_campaign_targets t SET status = 'pending', conversation_id "
                              "= NULL, next_attempt_at = GREATEST($2, t.last_attempt_at + "
                              "make_interval(mins => c.attempt_spacing_minutes)), updated_at = $2 "
                              "FROM " +
                              q_ +
                              ".voice_campaigns c WHERE t.id = $1 AND c.id = t.campaign_id AND "
                              "t.status = 'responded' AND NOT EXISTS (SELECT 1 FROM " +
                              q_ + ".message_attempts a WHERE a.target_id = t.id AND " +
                              kMayHaveReached + ") RETURNING t.id",
                          target, now);
      if (!owed) return owed.error();
      owed_again = !owed->empty();
      if (owed_again) {
        core::log().info(
            "a debtor's reply came while the campaign message was on its way, and it never "
            "reached them: they are owed it again",
            {f::id("target_id", target), f::id("command_id", std::string(*command))});
      }
    }
    if (outcome == "sent") {
      upd = reached(std::nullopt);
    } else if (outcome == "expired") {
      // Never reached the customer: the attempt is given back and due now, so the scheduler
      // makes it again (same number) in the next allowed window. Only for the target's
      // latest command (once a later attempt was made, it keeps its count) and a target
      // still being contacted; its status stays.
      upd = tx.exec("UPDATE " + q_ +
                        ".voice_campaign_targets SET attempt_count = attempt_count - 1, "
                        "next_attempt_at = LEAST(next_attempt_at, $3), last_error = $2, "
                        "updated_at = $3 WHERE id = $1 AND last_command_id = $4 AND status IN "
                        "('pending', 'contacted') AND NOT $5 RETURNING status",
                    target, why.value_or("expired"), now, std::string(*command), never_give_back);
      if (upd && !upd->empty()) {
        // Completed when this was the last attempt: it has one again.
        if (auto st = reopen(); !st) return st;
      }
    } else if (outcome == "failed" && failure == Failure::refused) {
      upd = tx.exec("UPDATE " + q_ +
                        ".voice_campaign_targets SET status = 'failed', last_error = $2, "
                        "next_attempt_at = NULL, updated_at = $3 WHERE id = $1 AND status IN "
                        "('pending', 'contacted') RETURNING status",
                    target, why.value_or("failed"), now);
    } else if (unknown) {
      // The provider may well have delivered it (notification does not send it again): the
      // debtor counts as contacted, and the campaign goes on as after a `sent`.
      upd = reached(why.value_or("outcome unknown"));
    } else {
      if (!undelivered && failure == Failure::service) {
        // Not sent for the service's trouble: the debtor is not charged an attempt for it (a
        // provider down over a weekend would otherwise use up every target of the campaign).
        // The attempt is given back and due when its next one was, or within the spacing (at
        // most 30 minutes) when this was the last; the status stays. Only for the target's
        // latest command, and within kGivenBackTries sends past max_attempts.
        upd = tx.exec("UPDATE " + q_ +
                          ".voice_campaign_targets t SET attempt_count = t.attempt_count - 1, "
                          "next_attempt_at = LEAST(t.next_attempt_at, $3::timestamptz + "
                          "make_interval(mins => LEAST(c.attempt_spacing_minutes, 30))), "
                          "last_error = $2, updated_at = $3 FROM " +
                          q_ +
                          ".voice_campaigns c WHERE t.id = $1 AND c.id = t.campaign_id AND "
                          "t.last_command_id = $4 AND t.status IN ('pending', 'contacted') AND "
                          "NOT $6 AND (SELECT count(*) FROM " +
                          q_ +
                          // Sends only: an expiry never left (it is given back anyway).
                          ".message_attempts a WHERE a.target_id = t.id AND a.outcome IS "
                          "DISTINCT FROM 'expired') < c.max_attempts + $5 "
                          "RETURNING t.status",
                      target, why.value_or("dead-lettered"), now, std::string(*command),
                      kGivenBackTries, never_give_back);
        if (!upd) return upd.error();
        given_back = !upd->empty();
        if (given_back) {
          auto mark = tx.exec(
              "UPDATE " + q_ + ".message_attempts SET given_back = true WHERE command_id = $1",
              std::string(*command));
          if (!mark) return mark.error();
          if (auto st = reopen(); !st) return st;
          if (auto st = count_failure(); !st) return st;
        }
      }
      if (!given_back) {
        // Dead-lettered, or not sent (or, after its `sent`, not delivered) for a reason that is
        // not the debtor's (the message's, or the service's once its tries given back ran out):
        // the attempt is used, the next comes at its time, and once every
        // attempt is made and none is still on its way the target is exhausted (an earlier one
        // failing late, while the last is still on its way, leaves it pending: the last one's
        // outcome decides; the last one failing first, then an earlier one's late undelivered
        // tick, leaves it exhausted too). A target contacted only by
        // this attempt was not contacted after all: pending again (or exhausted). Another attempt
        // sent, or whose outcome is unknown (it may have reached the debtor), keeps it contacted.
        upd =
            tx.exec("UPDATE " + q_ +
                        ".voice_campaign_targets t SET last_error = $2, updated_at = $3, status = "
                        "CASE WHEN (t.status = 'pending' OR (t.status = 'contacted' AND $4 AND "
                        "NOT EXISTS (SELECT 1 FROM " +
                        q_ +
                        ".message_attempts a WHERE a.target_id = t.id AND (a.outcome = 'sent' OR "
                        "a.code = 'outcome_unknown')))) "
                        "THEN CASE WHEN t.attempt_count >= c.max_attempts AND NOT EXISTS (SELECT "
                        "1 FROM " +
                        q_ +
                        ".message_attempts o WHERE o.target_id = t.id AND o.outcome IS NULL AND "
                        "o.command_id <> $5 AND o.requested_at > $3::timestamptz - interval '24 "
                        "hours') THEN 'exhausted' ELSE 'pending' END ELSE t.status END FROM " +
                        q_ +
                        ".voice_campaigns c WHERE t.id = $1 AND c.id = t.campaign_id "
                        "RETURNING t.status",
                    target, why.value_or("dead-lettered"), now, undelivered, std::string(*command));
      }
    }
    if (!upd) return upd.error();
    if (!upd->empty()) next_status = (*upd)[0].get<std::string>(0);
    if (!given_back &&
        (outcome == "sent" || unknown || undelivered || failure == Failure::refused)) {
      // The provider took a message: the campaign's run of the service's failures is over.
      auto reset =
          tx.exec("UPDATE " + q_ + ".voice_campaigns c SET failures_in_a_row = 0 FROM " + q_ +
                      ".voice_campaign_targets t WHERE t.id = $1 AND c.id = "
                      "t.campaign_id AND c.failures_in_a_row > 0",
                  target);
      if (!reset) return reset.error();
    }
    // (an expiry or an attempt given back reopened it above)
    if (owed_again && outcome != "expired" && !given_back) return reopen();
    return {};
  });
  if (!st) return st;
  if (target.empty()) {
    core::log().debug("notification event not about a campaign message",
                      {f::id("event_id", ev.id)});
  } else {
    core::log().info("campaign message outcome",
                     {f::id("target_id", target), f::id("outcome", outcome),
                      f::id("command_id", std::string(*command)),
                      f::id("status", next_status.empty() ? "-" : next_status)});
    if (!paused_campaign.empty()) {
      core::log().warn(
          "campaign paused: its messages keep failing for the service's trouble (credentials, "
          "the instance, the provider); resume it once that is fixed",
          {f::id("campaign_id", paused_campaign), f::num("in_a_row", pause_after_failures_),
           f::str("last_error", why.value_or("dead-lettered"))});
    }
    if (reopened) {
      core::log().info(
          "campaign active again: a message that never reached its debtor is to be sent again",
          {f::id("target_id", target)});
    }
  }
  return {};
}

ReplyHandler::ReplyHandler(std::shared_ptr<pg::Pool> pool, const std::string& schema,
                           const core::Clock& clock)
    : pool_(std::move(pool)), q_(pg::quote_ident(schema)), clock_(clock) {}

core::Status ReplyHandler::handle(const kafka::Message& message) const {
  // Every message, reply and state change of the suite passes here: only a customer's
  // inbound message is decoded.
  if (const std::string* type = message.header(events::headers::event_type)) {
    if (*type != types::conversation_message_stored) return {};
    if (message.value.find("\"inbound\"") == std::string::npos) return {};
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  return on_event(*ev);
}

core::Status ReplyHandler::on_event(const events::CloudEvent& ev) const {
  if (ev.type != types::conversation_message_stored) return {};
  auto doc = json::parse(ev.data);
  if (!doc) return bad_data(doc.error());
  auto o = json::Obj::root(*doc);
  if (!o) return bad_data(o.error());
  auto direction = o->nonempty_str("direction");
  if (!direction) return bad_data(direction.error());
  auto author = o->nonempty_str("author");
  if (!author) return bad_data(author.error());
  if (*direction != "inbound" || *author != "customer") return {};
  // Not an answer: a reaction or a removed one (route none), a provider's system message
  // (unsupported), a score for the NPS survey.
  auto kind = o->nonempty_str("kind");
  if (!kind) return bad_data(kind.error());
  auto route = o->opt_str("route");
  if (!route) return bad_data(route.error());
  if (*kind == "reaction" || *kind == "unsupported" ||
      (*route && (**route == "none" || **route == "survey"))) {
    return {};
  }
  auto chat = chat_of(*o);
  if (!chat) return chat.error();
  auto timestamp = o->nonempty_str("timestamp");
  if (!timestamp) return bad_data(timestamp.error());
  const auto stored_at = core::parse_rfc3339(ev.time);
  const auto sent_at = core::parse_rfc3339(*timestamp);
  if (!stored_at || !sent_at) {
    return core::Error(core::Errc::invalid_argument, "event time or timestamp is not RFC 3339",
                       false);
  }
  // When the debtor wrote it: the provider's time, unless conversation stored it earlier
  // (a skewed clock). A message queued on the phone and delivered after the campaign's was
  // requested is not an answer to it.
  const core::SysTime at = std::min(*stored_at, *sent_at);
  if (!chat->phone) return {};

  // Only targets a campaign message was sent to (or is on its way to: no outcome yet) before
  // this one was written: a debtor writing to support before the campaign, or after an
  // attempt that expired or failed, is still owed its message. The attempts are read locked
  // (FOR SHARE): an outcome being written for one (OutcomeHandler, maybe in another pod) is
  // waited for and read as committed. This statement's snapshot would still show the message
  // on its way, and the outcome, which looked for a reply before this one was written, would
  // leave a debtor it never reached counted as answering.
  auto rows = pool_->exec(
      "UPDATE " + q_ +
          ".voice_campaign_targets t SET status = 'responded', next_attempt_at = NULL, "
          "conversation_id = $5::uuid, last_error = NULL, updated_at = $6 FROM " +
          q_ +
          ".voice_campaigns c WHERE c.id = t.campaign_id AND c.provider = $1 AND c.instance = $2 "
          "AND t.phone_number = $3 AND t.status IN ('pending', 'contacted') AND EXISTS (SELECT 1 "
          "FROM " +
          q_ + ".message_attempts a WHERE a.target_id = t.id AND a.requested_at <= $4 AND " +
          kMayHaveReached + " FOR SHARE) RETURNING t.id::text, t.campaign_id::text",
      chat->provider, chat->instance, *chat->phone, at, chat->conversation_id, clock_.now());
  if (!rows) return rows.error();
  for (const auto& r : *rows) {
    core::log().info(
        "debtor answered: no further campaign messages",
        {f::id("target_id", r.get<std::string>(0)), f::id("campaign_id", r.get<std::string>(1)),
         f::id("conversation_id", chat->conversation_id)});
  }
  return {};
}

std::string promised_due_date(int day, core::SysTime now, std::chrono::minutes utc_offset) {
  using namespace std::chrono;
  const year_month_day today{floor<days>(now + utc_offset)};
  year_month month = today.year() / today.month();
  if (static_cast<unsigned>(today.day()) > static_cast<unsigned>(day)) month += months{1};
  const auto month_end = static_cast<unsigned>((month / std::chrono::last).day());
  const year_month_day due =
      month / std::chrono::day{std::min(static_cast<unsigned>(day), month_end)};
  return core::format_date(due);
}

AiToolHandler::AiToolHandler(std::shared_ptr<pg::Pool> pool, std::string schema,
                             std::chrono::minutes utc_offset, const core::Clock& clock)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      utc_offset_(utc_offset),
      clock_(clock) {}

core::Status AiToolHandler::handle(const kafka::Message& message) const {
  // Replies, analyses and every other tool: acknowledged without decoding.
  if (const std::string* type = message.header(events::headers::event_type)) {
    if (*type != types::ai_tool_invoked) return {};
    if (message.value.find("register_payment_promise") == std::string::npos &&
        message.value.find("register_opt_out") == std::string::npos) {
      return {};
    }
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  return on_event(*ev);
}

core::Status AiToolHandler::on_event(const events::CloudEvent& ev) const {
  if (ev.type != types::ai_tool_invoked) return {};
  auto doc = json::parse(ev.data);
  if (!doc) return bad_data(doc.error());
  auto o = json::Obj::root(*doc);
  if (!o) return bad_data(o.error());
  auto tool = o->nonempty_str("tool");
  if (!tool) return bad_data(tool.error());
  auto ok = o->opt_boolean("ok");
  if (!ok) return bad_data(ok.error());
  if (!*ok || !**ok) return {};
  if (*tool == "register_opt_out") {
    auto chat = chat_of(*o);
    if (!chat) return chat.error();
    // A chat that is no phone (@lid, a group): no campaign sends to it.
    if (!chat->phone) return {};
    return opt_out(ev, *chat->phone, chat->conversation_id);
  }
  if (*tool != "register_payment_promise") return {};
  auto result = o->opt_obj("result");
  if (!result) return bad_data(result.error());
  if (!*result) return bad_data(core::Error(core::Errc::invalid_argument, "no 'result'"));
  auto day = (*result)->opt_i64("day");
  if (!day) return bad_data(day.error());
  auto date = (*result)->opt_str("date");
  if (!date) return bad_data(date.error());
  auto amount = (*result)->opt_num("amount");
  if (!amount) return bad_data(amount.error());
  // When the debtor promised (the event's time, not this handling's: a consumer behind or a
  // replay must not move "dia 22" to next month, nor count a promise made before a campaign).
  const auto made_at = core::parse_rfc3339(ev.time);
  if (!made_at) {
    return bad_data(core::Error(core::Errc::invalid_argument, "event time is not RFC 3339"));
  }
  std::string due;
  if (*date && core::parse_date(**date)) {
    due = std::string(**date);
  } else if (*day && **day >= 1 && **day <= 31) {
    due = promised_due_date(static_cast<int>(**day), *made_at, utc_offset_);
  } else {
    return bad_data(core::Error(core::Errc::invalid_argument,
                                "a promise needs 'day' (1..31) or 'date' (YYYY-MM-DD)"));
  }
  std::optional<std::int64_t> cents;
  if (*amount && **amount >= 0 && **amount < 1e12) {
    cents = static_cast<std::int64_t>(std::llround(**amount * 100));
  }
  auto chat = chat_of(*o);
  if (!chat) return chat.error();
  auto assistant = o->opt_str("assistant");
  if (!assistant) return bad_data(assistant.error());
  if (!chat->phone) return {};

  std::vector<std::string> promised;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    promised.clear();
    auto fresh = pg::inbox_claim(tx, schema_, kAiInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    const auto now = clock_.now();
    // The targets of this chat a campaign message was sent to (or is on its way to), whatever
    // became of them but paid: a debtor who asked for no more messages, or whom the provider
    // refused, or who let every attempt pass, may still promise, and the assistant told them
    // it is registered.
    auto targets = tx.exec(
        "SELECT t.id::text, t.campaign_id::text, t.debtor_name, t.debtor_document, "
        "t.debt_amount FROM " +
            q_ + ".voice_campaign_targets t JOIN " + q_ +
            ".voice_campaigns c ON c.id = t.campaign_id WHERE c.provider = $1 AND c.instance = "
            "$2 AND t.phone_number = $3 AND t.status <> 'paid' AND EXISTS (SELECT 1 FROM " +
            q_ + ".message_attempts a WHERE a.target_id = t.id AND a.requested_at <= $4 AND " +
            kMayHaveReached + ") ORDER BY t.id FOR UPDATE OF t",
        chat->provider, chat->instance, *chat->phone, *made_at);
    if (!targets) return targets.error();
    for (const auto& t : *targets) {
      const auto target = t.get<std::string>(0);
      const auto amount_cents = cents.value_or(t.get<std::int64_t>(4));
      // The same promise again (the assistant reports the same day, with the same amount or
      // none, as already registered): nothing changes; nor does the same day without an
      // amount ("vou pagar dia 15" again after "dia 15, 800 reais" keeps the 800). Another
      // day, date or amount renegotiates.
      auto same = tx.exec("SELECT 1 FROM " + q_ +
                              ".voice_promises WHERE target_id = $1::uuid AND status = 'pending' "
                              "AND due_date = $2::date AND ($3::bigint IS NULL OR "
                              "promised_amount = $3)",
                          target, due, cents);
      if (!same) return same.error();
      if (!same->empty()) continue;
      if (auto r = tx.exec("UPDATE " + q_ +
                               ".voice_promises SET status = 'renegotiated' WHERE target_id = "
                               "$1::uuid AND status = 'pending'",
                           target);
          !r) {
        return r.error();
      }
      auto ins = tx.exec(
          "INSERT INTO " + q_ +
              ".voice_promises (id, campaign_id, target_id, contact_name, contact_document, "
              "phone_number, promised_amount, due_date, notes, conversation_id) VALUES ($1, "
              "$2::uuid, $3::uuid, $4, $5, $6, $7, $8::date, $9, $10::uuid)",
          core::Uuid::v7(clock_).str(), t.get<std::string>(1), target, t.get<std::string>(2),
          t.get<std::optional<std::string>>(3), *chat->phone, amount_cents, due,
          "registered by the " + std::string(assistant->value_or("assistant")) +
              " assistant in the customer's conversation",
          chat->conversation_id);
      if (!ins) return ins.error();
      // An opted-out or failed target keeps its status (no message goes to it either way).
      if (auto r = tx.exec("UPDATE " + q_ +
                               ".voice_campaign_targets SET status = CASE WHEN status IN "
                               "('opted_out', 'failed') THEN status ELSE 'promised' END, "
                               "next_attempt_at = NULL, conversation_id = $2::uuid, updated_at = "
                               "$3 WHERE id = $1::uuid",
                           target, chat->conversation_id, now);
          !r) {
        return r.error();
      }
      promised.push_back(target);
    }
    return {};
  });
  if (!st) return st;
  for (const auto& target : promised) {
    core::log().info("debtor promised to pay: no further campaign messages",
                     {f::id("target_id", target), f::id("due_date", due),
                      f::id("conversation_id", chat->conversation_id)});
  }
  return {};
}

core::Status AiToolHandler::opt_out(const events::CloudEvent& ev, const std::string& phone,
                                    const std::string& conversation_id) const {
  const auto asked_at = core::parse_rfc3339(ev.time);
  if (!asked_at) {
    return bad_data(core::Error(core::Errc::invalid_argument, "event time is not RFC 3339"));
  }
  std::vector<std::pair<std::string, std::string>> stopped;  // target, campaign
  bool first = false;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    stopped.clear();
    first = false;
    auto fresh = pg::inbox_claim(tx, schema_, kAiInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    auto kept = tx.exec("INSERT INTO " + q_ +
                            ".contact_opt_outs (phone_number, opted_out_at, conversation_id, "
                            "source) VALUES ($1, $2, $3::uuid, 'assistant') ON CONFLICT "
                            "(phone_number) DO NOTHING",
                        phone, *asked_at, conversation_id);
    if (!kept) return kept.error();
    first = kept->affected() > 0;
    // Every campaign's, whatever its instance: the debtor asked the company, not a number.
    auto rows = tx.exec("UPDATE " + q_ +
                            ".voice_campaign_targets SET status = 'opted_out', next_attempt_at "
                            "= NULL, conversation_id = COALESCE(conversation_id, $2::uuid), "
                            "updated_at = $3 WHERE phone_number = $1 AND status IN ('pending', "
                            "'contacted', 'responded') RETURNING id::text, campaign_id::text",
                        phone, conversation_id, clock_.now());
    if (!rows) return rows.error();
    for (const auto& r : *rows) stopped.emplace_back(r.get<std::string>(0), r.get<std::string>(1));
    return {};
  });
  if (!st) return st;
  if (first) {
    core::log().info("debtor asked for no more collection messages",
                     {f::phone("phone", phone), f::id("conversation_id", conversation_id),
                      f::num("targets", static_cast<std::int64_t>(stopped.size()))});
  }
  for (const auto& [target, campaign] : stopped) {
    core::log().info("debtor opted out: no further campaign messages",
                     {f::id("target_id", target), f::id("campaign_id", campaign),
                      f::id("conversation_id", conversation_id)});
  }
  return {};
}

}  // namespace lia::collections
