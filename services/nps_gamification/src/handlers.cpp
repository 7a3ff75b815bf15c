#include <algorithm>

#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/nps.hpp>
#include <lia/events/names.hpp>
#include <lia/nps_gamification/handlers.hpp>
#include <lia/nps_gamification/messages.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/events.hpp>

namespace lia::nps_gamification {
namespace {

using core::Errc;
using core::Error;
namespace f = core::f;
namespace types = events::types;
namespace topics = events::topics;

const std::string kConversationInbox = "nps_gamification.conversation.events.v1";
const std::string kNotificationInbox = "nps_gamification.notification.events.v1";

// How far before a survey's creation a reply's provider time may be and still answer it: the
// provider's whole seconds and the two clocks' difference. A person needs longer than this
// to receive, read and answer a survey.
constexpr std::chrono::seconds kClockSkew{2};

core::SysTime from_ms(std::int64_t ms) {
  return core::SysTime{
      std::chrono::duration_cast<core::SysTime::duration>(std::chrono::milliseconds{ms})};
}

// A surveys row as the failure and replay paths return it (RETURNING kSurveyColumns).
constexpr std::string_view kSurveyColumns =
    "survey_id::text, conversation_id::text, contact_id::text, provider, instance, chat_id, "
    "agent_id::text, command_id::text, (extract(epoch from sent_at) * 1000)::bigint, "
    "(extract(epoch from expires_at) * 1000)::bigint";

Survey read_survey(const pg::Row& row) {
  Survey s;
  s.survey_id = row.get<std::string>(0);
  s.chat = {row.get<std::string>(1), row.get<std::string>(2), row.get<std::string>(3),
            row.get<std::string>(4), row.get<std::string>(5)};
  s.agent_id = row.get<std::optional<std::string>>(6);
  s.command_id = row.get<std::string>(7);
  s.sent_at = from_ms(row.get<std::int64_t>(8));
  s.expires_at = from_ms(row.get<std::int64_t>(9));
  return s;
}

// Bad event data (it passed the schema, so this is rare): dead-letter it.
Error bad_data(const events::CloudEvent& ev, const Error& e) {
  return Error(Errc::invalid_argument, "event " + ev.type + " " + ev.id + ": " + e.message(),
               false);
}

core::Status publish(pg::Tx& tx, const std::string& schema, std::string_view topic,
                     std::string_view type, const ChatRef& chat, std::string data,
                     const core::Clock& clock) {
  auto r = runtime::publish(tx, schema, kServiceName,
                            {.topic = std::string(topic),
                             .key = events::chat_key(chat.instance, chat.chat_id),
                             .type = std::string(type),
                             .subject = chat.conversation_id,
                             .data = std::move(data)},
                            clock);
  if (!r) return r.error();
  return {};
}

// Waits for the other transactions deciding on the surveys of the conversation whose survey
// `command_id` is (none when no survey has that command).
core::Status lock_survey_of_command(pg::Tx& tx, const std::string& q, const std::string& schema,
                                    const std::string& command_id) {
  auto r = tx.exec(
      "SELECT pg_advisory_xact_lock(hashtextextended($2 || conversation_id::text, "
      "0)) FROM " +
          q + ".surveys WHERE command_id = $1",
      command_id, survey_lock_key(schema, ""));
  if (!r) return r.error();
  return {};
}

// SQL: survey row `s` (an alias) is its conversation's newest, no survey sent after it.
std::string newest_survey(const std::string& q, const std::string& s) {
  return "NOT EXISTS (SELECT 1 FROM " + q + ".surveys n WHERE n.conversation_id = " + s +
         ".conversation_id AND n.sent_at > " + s + ".sent_at)";
}

}  // namespace

std::string survey_lock_key(std::string_view schema, std::string_view conversation_id) {
  std::string key(schema);
  key += ".surveys:";
  key += conversation_id;
  return key;
}

EventHandlers::EventHandlers(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
                             const core::Clock& clock)
    : pool_(std::move(pool)),
      schema_(std::move(schema)),
      q_(pg::quote_ident(schema_)),
      settings_(std::move(settings)),
      clock_(clock) {}

core::Status EventHandlers::handle(const kafka::Message& message) const {
  // Skip what this service does not use without paying for decoding and validation: the
  // type header the outbox relay sets, and for stored messages the route (a message routed
  // to the survey carries the JSON string "survey" somewhere in its value).
  if (const std::string* type = message.header(events::headers::event_type)) {
    if (*type == types::conversation_message_stored) {
      if (message.value.find("\"survey\"") == std::string::npos) return {};
    } else if (*type == types::notification_message_sent) {
      // Only a send of ours matters (a survey whose failure was replayed): the others are
      // every reply of the suite.
      if (runtime::command_of(message, kServiceName) != true) return {};
    } else if (*type == types::notification_message_failed ||
               *type == types::notification_message_dead_lettered ||
               *type == types::notification_message_undelivered) {
      // Only a survey's failure matters (every failed reply and campaign message comes here
      // too); one without the header, from a producer before it, is looked up.
      if (runtime::command_of(message, kServiceName) == false) return {};
    } else if (*type != types::conversation_resolved && *type != types::conversation_reopened) {
      return {};
    }
  }
  auto ev = runtime::decode_event(message);
  if (!ev) return ev.error();
  return on_event(*ev);
}

core::Status EventHandlers::on_event(const events::CloudEvent& ev) const {
  if (ev.type == types::conversation_resolved) return on_resolved(ev);
  if (ev.type == types::conversation_message_stored) return on_message_stored(ev);
  if (ev.type == types::conversation_reopened) return on_reopened(ev);
  if (ev.type == types::notification_message_failed ||
      ev.type == types::notification_message_dead_lettered ||
      ev.type == types::notification_message_undelivered) {
    return on_send_failure(ev);
  }
  if (ev.type == types::notification_message_sent) return on_sent(ev);
  core::log().debug("event ignored", {f::id("type", ev.type), f::id("event_id", ev.id)});
  return {};
}

core::Status EventHandlers::on_resolved(const events::CloudEvent& ev) const {
  auto r = parse_resolved(ev.data);
  if (!r) return bad_data(ev, r.error());
  const auto resolved_at = parse_rfc3339(ev.time);
  std::string survey_id;
  std::string still_open;
  bool window_closed = false;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    survey_id.clear();
    still_open.clear();
    window_closed = false;
    auto fresh = pg::inbox_claim(tx, schema_, kConversationInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    // Whether a survey is still open is decided with the conversation's surveys held: a replay
    // of an older survey's send (on_sent, maybe in another pod) would otherwise not see the
    // survey made here, and both would be open.
    auto locked = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                          survey_lock_key(schema_, r->chat.conversation_id));
    if (!locked) return locked.error();
    const auto now = clock_.now();
    // The survey's window starts at the resolution, as conversation's does: from then on it
    // routes a bare number here, so one written while this service lagged behind is an answer.
    const auto opens_at = resolved_at ? std::min(*resolved_at, now) : now;
    if (r->agent_id) {
      auto res =
          tx.exec("INSERT INTO " + q_ +
                      ".agent_resolutions (event_id, conversation_id, agent_id, duration_ms, "
                      "message_count, resolved_at) VALUES ($1, $2, $3, $4, $5, $6) "
                      "ON CONFLICT (event_id) DO NOTHING",
                  ev.id, r->chat.conversation_id, *r->agent_id, r->duration_ms, r->message_count,
                  resolved_at ? *resolved_at : now);
      if (!res) return res.error();
    }
    // One survey per conversation at a time: while one is still open (sent and not failed,
    // answered or not), a new resolution asks nothing (resolve, "obrigado", resolve again used
    // to ask twice within minutes). A number the customer writes now still scores that one,
    // for the agent who resolved the conversation last.
    auto open = tx.exec("SELECT survey_id::text FROM " + q_ +
                            ".surveys WHERE conversation_id = $1 AND expires_at > $2 AND "
                            "send_failed_at IS NULL LIMIT 1",
                        r->chat.conversation_id, opens_at);
    if (!open) return open.error();
    if (!open->empty()) {
      still_open = (*open)[0].get<std::string>(0);
      // To the last resolution's agent, or to none when no agent resolved it (a supervisor
      // closing it unassigned): the agent before did not close it.
      // This resolution is kept on it too: should its send fail, this one gets its survey.
      auto moved = tx.exec("UPDATE " + q_ +
                               ".surveys SET agent_id = $2::uuid, next_resolution_event_id = "
                               "$3::uuid, next_resolution_at = $4 WHERE survey_id = $1::uuid AND "
                               "answered_at IS NULL",
                           still_open, r->agent_id, ev.id, opens_at);
      if (!moved) return moved.error();
      return {};
    }
    const Survey s = make_survey(*r, opens_at, settings_.survey_window, clock_);
    // Handled after its whole window (this service far behind, or a replay): a survey now
    // could no longer be answered.
    if (s.expires_at <= now) {
      window_closed = true;
      return {};
    }
    auto made = send_survey(tx, s, ev.id);
    if (!made) return made.error();
    if (*made) survey_id = s.survey_id;
    return {};
  });
  if (!st) return st;
  if (window_closed) {
    core::log().warn(
        "no survey: the resolution came after its survey window had closed",
        {f::id("conversation_id", r->chat.conversation_id), f::id("resolved_at", ev.time)});
  } else if (!still_open.empty()) {
    core::log().info(
        "no survey: the conversation's last one is still open",
        {f::id("survey_id", still_open), f::id("conversation_id", r->chat.conversation_id)});
  } else if (survey_id.empty()) {
    core::log().debug("conversation.resolved already handled", {f::id("event_id", ev.id)});
  } else {
    core::log().info("survey sent", {f::id("survey_id", survey_id),
                                     f::id("conversation_id", r->chat.conversation_id),
                                     f::phone("chat_id", r->chat.chat_id)});
  }
  return {};
}

core::Status EventHandlers::on_message_stored(const events::CloudEvent& ev) const {
  auto m = parse_stored(ev.data);
  if (!m) return bad_data(ev, m.error());
  if (!m->is_survey_reply()) return {};
  const auto score = m->text ? domain::parse_nps_score(*m->text) : std::nullopt;
  if (!score) {
    // conversation reopened the conversation on it; nothing to record.
    core::log().debug(
        "survey reply is not a score",
        {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
    return {};
  }
  auto category = domain::nps_category(*score);
  if (!category) return bad_data(ev, category.error());
  const auto stamped = parse_rfc3339(m->timestamp);

  enum class Outcome { duplicate, no_survey, answered, not_sent, before, expired, recorded };
  Outcome outcome = Outcome::duplicate;
  std::string survey_id;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    outcome = Outcome::duplicate;
    auto fresh = pg::inbox_claim(tx, schema_, kConversationInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    // The conversation's survey lock first, as a resolution and a send's outcome take it
    // before the survey's row: a batch holding this row and then wanting the lock, beside a
    // record alone holding the lock and wanting the row, would deadlock.
    auto locked = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                          survey_lock_key(schema_, m->chat.conversation_id));
    if (!locked) return locked.error();
    const auto now = clock_.now();
    // Only the conversation's latest survey is answered: once it is, a score answers no
    // older one still open.
    auto rows = tx.exec(
        "SELECT survey_id::text, contact_id::text, provider, instance, chat_id, "
        "agent_id::text, command_id::text, "
        "(extract(epoch from sent_at) * 1000)::bigint, "
        "(extract(epoch from expires_at) * 1000)::bigint, answered_at IS NOT NULL, "
        "send_failed_at IS NOT NULL FROM " +
            q_ +
            ".surveys WHERE conversation_id = $1 "
            "ORDER BY sent_at DESC, survey_id DESC LIMIT 1 FOR UPDATE",
        m->chat.conversation_id);
    if (!rows) return rows.error();
    if (rows->empty()) {
      outcome = Outcome::no_survey;
      return {};
    }
    const auto row = (*rows)[0];
    if (row.get<bool>(9)) {
      outcome = Outcome::answered;
      return {};
    }
    if (row.get<bool>(10)) {  // never reached the customer: a number is not its answer
      outcome = Outcome::not_sent;
      return {};
    }
    Survey s;
    s.survey_id = row.get<std::string>(0);
    s.chat = {m->chat.conversation_id, row.get<std::string>(1), row.get<std::string>(2),
              row.get<std::string>(3), row.get<std::string>(4)};
    s.agent_id = row.get<std::optional<std::string>>(5);
    s.command_id = row.get<std::string>(6);
    s.sent_at = from_ms(row.get<std::int64_t>(7));
    s.expires_at = from_ms(row.get<std::int64_t>(8));
    // The customer's time when the provider gave one, else ours. The survey's sent_at is the
    // resolution's time (on_resolved): a number written before it answered something else.
    // Provider times are whole seconds and clocks differ a little: kClockSkew.
    const auto written_at = stamped ? *stamped : now;
    if (written_at + kClockSkew < s.sent_at) {
      outcome = Outcome::before;
      return {};
    }
    const auto reply_at = std::clamp(written_at, s.sent_at, std::max(s.sent_at, now));
    if (reply_at > s.expires_at) {
      outcome = Outcome::expired;
      return {};
    }
    const bool detractor = *category == domain::NpsCategory::detractor;
    auto ins =
        tx.exec("INSERT INTO " + q_ +
                    ".satisfaction_feedback (id, survey_id, conversation_id, agent_id, "
                    "nps_score, category, handling_status, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (survey_id) DO NOTHING",
                core::Uuid::v7(clock_).str(), s.survey_id, s.chat.conversation_id, s.agent_id,
                *score, domain::to_string(*category),
                detractor ? std::optional<std::string>("pending") : std::nullopt, reply_at);
    if (!ins) return ins.error();
    auto upd = tx.exec("UPDATE " + q_ + ".surveys SET answered_at = $2 WHERE survey_id = $1",
                       s.survey_id, now);
    if (!upd) return upd.error();
    if (auto p = publish(tx, schema_, topics::engagement_events, types::engagement_score_recorded,
                         s.chat, score_recorded_data(s, *score, *category), clock_);
        !p) {
      return p;
    }
    if (auto p = publish(tx, schema_, topics::notification_commands, types::notification_send_text,
                         s.chat,
                         send_text_data(core::Uuid::v7(clock_).str(), s.chat,
                                        thank_you_text(*category), std::nullopt),
                         clock_);
        !p) {
      return p;
    }
    survey_id = s.survey_id;
    outcome = Outcome::recorded;
    return {};
  });
  if (!st) return st;
  switch (outcome) {
    case Outcome::recorded:
      core::log().info(
          "nps score recorded",
          {f::id("survey_id", survey_id), f::id("conversation_id", m->chat.conversation_id),
           f::num("score", *score), f::id("category", std::string(domain::to_string(*category)))});
      break;
    case Outcome::expired:
      core::log().info(
          "survey reply after the window, not recorded",
          {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
      break;
    case Outcome::answered:
      core::log().info(
          "survey reply after the latest survey was answered, not recorded",
          {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
      break;
    case Outcome::before:
      core::log().info(
          "survey reply written before the survey was sent, not recorded",
          {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
      break;
    case Outcome::not_sent:
      core::log().info(
          "survey reply to a survey that was never sent, not recorded",
          {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
      break;
    case Outcome::no_survey:
      core::log().info(
          "survey reply without a survey, not recorded",
          {f::id("conversation_id", m->chat.conversation_id), f::id("event_id", ev.id)});
      break;
    case Outcome::duplicate:
      core::log().debug("message.stored already handled", {f::id("event_id", ev.id)});
      break;
  }
  return {};
}

core::Status EventHandlers::on_reopened(const events::CloudEvent& ev) const {
  auto conversation = parse_reopened_conversation(ev.data);
  if (!conversation) return bad_data(ev, conversation.error());
  const auto reopened_at = parse_rfc3339(ev.time).value_or(clock_.now());
  return pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    auto fresh = pg::inbox_claim(tx, schema_, kConversationInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    auto upd = tx.exec("UPDATE " + q_ +
                           ".agent_resolutions SET reopened = true WHERE event_id = "
                           "(SELECT event_id FROM " +
                           q_ +
                           ".agent_resolutions WHERE conversation_id = $1 "
                           "ORDER BY resolved_at DESC LIMIT 1) AND resolved_at >= $2",
                       *conversation, reopened_at - settings_.reopen_window);
    if (!upd) return upd.error();
    core::log().debug("conversation reopened", {f::id("conversation_id", *conversation),
                                                f::num("resolutions_flagged", upd->affected())});
    return {};
  });
}

core::Result<bool> EventHandlers::send_survey(pg::Tx& tx, const Survey& s,
                                              const std::string& resolved_event_id) const {
  auto ins = tx.exec("INSERT INTO " + q_ +
                         ".surveys (survey_id, conversation_id, contact_id, provider, instance, "
                         "chat_id, agent_id, command_id, resolved_event_id, sent_at, expires_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                         "ON CONFLICT (resolved_event_id) DO NOTHING",
                     s.survey_id, s.chat.conversation_id, s.chat.contact_id, s.chat.provider,
                     s.chat.instance, s.chat.chat_id, s.agent_id, s.command_id, resolved_event_id,
                     s.sent_at, s.expires_at);
  if (!ins) return ins.error();
  if (ins->affected() == 0) return false;
  if (auto p = publish(
          tx, schema_, topics::notification_commands, types::notification_send_text, s.chat,
          send_text_data(s.command_id, s.chat, settings_.survey_text, s.expires_at), clock_);
      !p) {
    return p.error();
  }
  if (auto p = publish(tx, schema_, topics::engagement_events, types::engagement_survey_sent,
                       s.chat, survey_sent_data(s), clock_);
      !p) {
    return p.error();
  }
  return true;
}

core::Status EventHandlers::on_send_failure(const events::CloudEvent& ev) const {
  auto outcome = parse_send_outcome(ev.data);
  if (!outcome) return bad_data(ev, outcome.error());
  if (outcome->code == "outcome_unknown") {
    // No answer came after the request went out, or a 2xx came without a message id: the
    // survey may well have been delivered, so its window stays open.
    core::log().debug("send outcome unknown: the survey's window stays open",
                      {f::id("command_id", outcome->command_id)});
    return {};
  }
  // Idempotent: flags the survey once, and tells conversation once (survey.failed, after the
  // survey.sent on the same key) that no reply is its score; commands that are not surveys
  // match nothing. The failure may come after the survey was sent (the provider accepted it,
  // then could not deliver it); a survey answered by then was delivered after all, and keeps
  // its score.
  std::optional<Survey> failed;
  std::string replacement;  // the survey of a later resolution, made now
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    failed.reset();
    replacement.clear();
    // A failure redelivered after a `sent` cleared its flag must not flag it again.
    auto fresh = pg::inbox_claim(tx, schema_, kNotificationInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    if (auto l = lock_survey_of_command(tx, q_, schema_, outcome->command_id); !l) return l;
    auto rows = tx.exec("UPDATE " + q_ +
                            ".surveys s SET send_failed_at = $2, send_error = $3 "
                            "WHERE command_id = $1 AND send_failed_at IS NULL AND "
                            "answered_at IS NULL "
                            "RETURNING " +
                            std::string(kSurveyColumns) +
                            ", next_resolution_event_id::text, "
                            "(extract(epoch from next_resolution_at) * 1000)::bigint, " +
                            newest_survey(q_, "s"),
                        outcome->command_id, clock_.now(), outcome->reason);
    if (!rows) return rows.error();
    if (rows->empty()) return {};
    Survey s = read_survey((*rows)[0]);
    if (auto p = publish(tx, schema_, topics::engagement_events, types::engagement_survey_failed,
                         s.chat, survey_failed_data(s, outcome->reason), clock_);
        !p) {
      return p;
    }
    failed = std::move(s);
    // A later resolution asked nothing while this survey was open: it is surveyed now, within
    // its own window (else neither resolution would be). Not once a newer survey went out
    // (this one expired first, and its failure came late): that one is the conversation's.
    const auto next_event = (*rows)[0].get<std::optional<std::string>>(10);
    const auto next_at = (*rows)[0].get<std::optional<std::int64_t>>(11);
    const bool newest = (*rows)[0].get<bool>(12);
    if (!next_event || !next_at || !newest) return {};
    Resolved later;
    later.chat = failed->chat;
    later.agent_id = failed->agent_id;
    const Survey n = make_survey(later, from_ms(*next_at), settings_.survey_window, clock_);
    if (n.expires_at <= clock_.now()) return {};
    auto made = send_survey(tx, n, *next_event);
    if (!made) return made.error();
    if (*made) replacement = n.survey_id;
    return {};
  });
  if (!st) return st;
  if (failed) {
    core::log().warn("survey could not be sent",
                     {f::id("survey_id", failed->survey_id),
                      f::id("conversation_id", failed->chat.conversation_id),
                      f::id("command_id", outcome->command_id), f::str("reason", outcome->reason)});
  }
  if (!replacement.empty()) {
    core::log().info(
        "survey sent for the resolution that came while the failed one was open",
        {f::id("survey_id", replacement), f::id("conversation_id", failed->chat.conversation_id)});
  }
  return {};
}

// A survey flagged failed that was sent after all (its dead letter replayed): the flag goes
// and survey.sent is published again, which opens conversation's window anew until the
// survey's expiry. Not for a survey answered or expired, nor one a newer resolution replaced.
core::Status EventHandlers::on_sent(const events::CloudEvent& ev) const {
  auto outcome = parse_send_outcome(ev.data);
  if (!outcome) return bad_data(ev, outcome.error());
  std::optional<Survey> revived;
  auto st = pg::transact(*pool_, [&](pg::Tx& tx) -> core::Status {
    revived.reset();
    auto fresh = pg::inbox_claim(tx, schema_, kNotificationInbox, ev.id);
    if (!fresh) return fresh.error();
    if (!*fresh) return {};
    // With the conversation's surveys held, so a newer resolution's survey is either seen here
    // (and this one stays closed) or made after it (and sees this one open).
    if (auto l = lock_survey_of_command(tx, q_, schema_, outcome->command_id); !l) return l;
    auto rows = tx.exec(
        "UPDATE " + q_ +
            ".surveys s SET send_failed_at = NULL, send_error = NULL WHERE s.command_id = $1 AND "
            "s.send_failed_at IS NOT NULL AND s.answered_at IS NULL AND s.expires_at > $2 AND " +
            newest_survey(q_, "s") + " RETURNING " + std::string(kSurveyColumns),
        outcome->command_id, clock_.now());
    if (!rows) return rows.error();
    if (rows->empty()) return {};
    Survey s = read_survey((*rows)[0]);
    if (auto p = publish(tx, schema_, topics::engagement_events, types::engagement_survey_sent,
                         s.chat, survey_sent_data(s), clock_);
        !p) {
      return p;
    }
    revived = std::move(s);
    return {};
  });
  if (!st) return st;
  if (revived) {
    core::log().info("survey sent after all (replayed): its window opens again",
                     {f::id("survey_id", revived->survey_id),
                      f::id("conversation_id", revived->chat.conversation_id),
                      f::id("command_id", outcome->command_id)});
  }
  return {};
}

}  // namespace lia::nps_gamification
