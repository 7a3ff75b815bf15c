#include <algorithm>
#include <array>

#include <lia/conversation/event_data.hpp>
#include <lia/conversation/handlers.hpp>
#include <lia/conversation/routing.hpp>
#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/domain/nps.hpp>
#include <lia/domain/phone.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/runtime/events.hpp>

#include "store.hpp"

namespace lia::conversation {

using core::Errc;
using core::Error;
using core::Status;
namespace f = core::f;
namespace types = events::types;
namespace topics = events::topics;

namespace {

// The chat's other spelling in its own form (bare digits on Meta, a JID on Evolution): a
// Brazilian mobile with its ninth digit when written without, and the other way round.
// Only for a chat WhatsApp names by its number (chat_spellings would also read one written as a
// person writes it), and every spelling it gives is that same number.
std::optional<std::string> other_spelling(const std::string& chat) {
  if (!domain::normalize_wa_id(chat)) return std::nullopt;
  const bool jid = chat.find('@') != std::string::npos;
  for (auto& s : domain::chat_spellings(chat)) {
    if (s != chat && (s.find('@') != std::string::npos) == jid) return std::move(s);
  }
  return std::nullopt;
}

// What a handler did, for the debug log line and the metric.
enum class Outcome { applied, duplicate, ignored };

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::applied:
      return "applied";
    case Outcome::duplicate:
      return "duplicate";
    case Outcome::ignored:
      return "ignored";
  }
  return "?";
}

// Marks a transaction rolled back on purpose because its provider message id was stored
// meanwhile (the message insert found it): the event is a duplicate, not a failure.
constexpr std::string_view kDuplicateMarker = "duplicate provider message id";

Error bad_event(const events::CloudEvent& ev, const std::string& why) {
  return {Errc::invalid_argument, ev.type + " " + ev.id + ": " + why, false};
}

std::optional<std::string> opt(const json::Obj& o, std::string_view key) {
  auto v = o.opt_str(key);
  if (!v || !*v) return std::nullopt;
  return std::string(**v);
}

std::string req(const json::Obj& o, std::string_view key) {
  auto v = o.str(key);
  return v ? std::string(*v) : std::string();
}

// The tick of a message row (NULL reads as PENDING).
domain::MessageTick tick_of(const std::optional<std::string>& status,
                            const std::optional<std::string>& reason) {
  domain::MessageTick t;
  if (status) {
    if (auto s = domain::parse_message_status(*status)) t.status = *s;
  }
  if (t.status == domain::MessageStatus::error) t.error_reason = reason.value_or("");
  return t;
}

std::optional<std::string> reason_of(const domain::MessageTick& t) {
  if (t.status == domain::MessageStatus::error) return t.error_reason;
  return std::nullopt;
}

}  // namespace

struct Handlers::Impl {
  std::shared_ptr<pg::Pool> pool;
  store::Sql sql;
  const core::Clock& clock;
  core::Logger log = core::log().with({f::id("component", "handlers")});

  // SQL only the handlers use.
  std::string message_exists;
  std::string contact_update;
  std::string contact_insert;
  std::string handoff_update;
  std::string analysis_update;
  std::string assistant_update;
  std::string earlier_session;
  std::string reply_conversation;
  std::string lead_insert;
  std::string complaint_insert;
  std::string conversation_exists;
  std::string survey_sent_update;
  std::string survey_failed_update;
  std::string score_update;
  std::string own_pending_send;
  std::string recent_survey_reply;
  std::string message_by_command;
  std::string message_by_provider_id;
  std::string take_pending_and_echo;
  std::string drop_pending;
  std::string take_pending;
  std::string insert_pending;
  std::string set_tick;
  std::string set_provider_id;
  std::string purge_pending;
  std::string provider_lock;
  // campaign_messages (migration 0012): a campaign's message until the debtor answers.
  std::string campaign_requested;
  std::string campaign_by_command;
  std::string campaign_by_provider_id;
  std::string campaign_tick;
  std::string campaign_take;
  std::string campaign_insert_message;
  std::string purge_campaign;

  Impl(std::shared_ptr<pg::Pool> p, const std::string& schema, const core::Clock& c)
      : pool(std::move(p)), sql(schema), clock(c) {
    const std::string contacts = sql.t("contacts");
    const std::string conv = sql.t("conversations");
    const std::string msgs = sql.t("messages");
    const std::string pending = sql.t("pending_statuses");
    const std::string camp = sql.t("campaign_messages");
    const std::string contact_cols =
        "c.id::text, c.phone, c.name, c.push_name, c.email, c.document, c.city, c.state, "
        "c.zip_code, c.tags::text, c.provider, c.instance, c.chat_id, c.is_blacklisted, " +
        store::ts("c.created_at") + ", " + store::ts("c.updated_at");
    // `o` is the contact before this update, read locked: after waiting for another
    // transaction's update of it, that update's result (a plain self-join would read it from
    // the statement's snapshot, from before the wait, and a name changed back would publish
    // nothing). `changed` compares it with the row written.
    contact_update =
        "WITH o AS (SELECT id, push_name, provider, instance, chat_id FROM " + contacts +
        " WHERE phone = $1 FOR UPDATE) UPDATE " + contacts +
        " c SET push_name = COALESCE($2, c.push_name), provider = $3, instance = $4, chat_id = "
        "$5, last_interaction_at = now(), updated_at = CASE WHEN c.push_name IS DISTINCT FROM "
        "COALESCE($2, c.push_name) OR c.provider IS DISTINCT FROM $3 OR c.instance IS DISTINCT "
        "FROM $4 OR c.chat_id IS DISTINCT FROM $5 THEN now() ELSE c.updated_at END FROM o WHERE "
        "c.id = o.id RETURNING " +
        contact_cols +
        ", (o.push_name IS DISTINCT FROM c.push_name OR o.provider IS DISTINCT FROM c.provider "
        "OR o.instance IS DISTINCT FROM c.instance OR o.chat_id IS DISTINCT FROM c.chat_id)";
    contact_insert = "INSERT INTO " + contacts +
                     " AS c (id, phone, push_name, provider, instance, chat_id, "
                     "last_interaction_at) VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT "
                     "(phone) DO NOTHING RETURNING " +
                     contact_cols + ", true";
    handoff_update =
        "UPDATE " + conv +
        " SET status = $2, mode = $3, transferred_to_human = true, transferred_at = now(), "
        "transfer_reason = $4, department = $5, urgency = COALESCE($6, urgency), assigned_to = "
        "$7::uuid, updated_at = now() WHERE id = $1";
    // Most messages leave the analysis as it was: then the row is not written again (an
    // UPDATE writes a new row version even when nothing changes). The id comes back either way.
    // A tool's registration, once per conversation and protocol (migration 0007); the
    // contact's phone goes with a lead, the conversation's urgency is a complaint's severity.
    lead_insert = "INSERT INTO " + sql.t("sales_leads") +
                  " (id, conversation_id, name, phone, cep, plan_id, notes, protocol) SELECT $1, "
                  "c.id, $3, k.phone, $4, $5, $6, $7 FROM " +
                  conv + " c JOIN " + sql.t("contacts") +
                  " k ON k.id = c.contact_id WHERE c.id = $2::uuid ON CONFLICT "
                  "(conversation_id, protocol) DO NOTHING";
    complaint_insert =
        "INSERT INTO " + sql.t("complaints") +
        " (id, conversation_id, complaint_type, severity, description, metadata, protocol) "
        "SELECT $1, c.id, $3, CASE WHEN c.urgency IN ('low', 'medium', 'high', 'critical') THEN "
        "c.urgency ELSE 'medium' END, $4, $5::jsonb, $6 FROM " +
        conv + " c WHERE c.id = $2::uuid ON CONFLICT (conversation_id, protocol) DO NOTHING";
    conversation_exists = "SELECT 1 FROM " + conv + " WHERE id = $1::uuid";
    // A message ($2) from before the conversation's last reopening: the AI answered the
    // earlier session, late. In the UPDATE's own condition, so a reopening committed meanwhile
    // is seen.
    const auto answers_earlier_session = [&](const std::string& message, const std::string& c) {
      return "EXISTS (SELECT 1 FROM " + msgs + " m WHERE m.id = " + message +
             "::uuid AND m.conversation_id = " + c + ".id AND m.created_at < " + c + ".opened_at)";
    };
    assistant_update = "UPDATE " + conv +
                       " c SET assistant_type = $2, department = CASE WHEN status = 'active' THEN "
                       "$3 ELSE department END, updated_at = now() WHERE id = $1::uuid AND NOT " +
                       answers_earlier_session("$4", "c") + " RETURNING id";
    earlier_session = "SELECT 1 FROM " + conv + " c WHERE c.id = $1::uuid AND " +
                      answers_earlier_session("$2", "c");
    // The conversation, locked, and whether the reply's message ($2) is from an earlier session.
    reply_conversation = "SELECT " + store::conversation_columns() + ", " +
                         answers_earlier_session("$2", "c") + " FROM " + conv +
                         " c WHERE c.id = $1::uuid FOR UPDATE";
    // An analysis of a message ($5, when named) from an earlier session changes nothing.
    analysis_update = "WITH changed AS (UPDATE " + conv +
                      " c SET sentiment = $2, sentiment_score = $3, urgency = $4, updated_at = "
                      "now() WHERE c.id = $1::uuid AND (sentiment IS DISTINCT FROM $2 OR "
                      "sentiment_score IS DISTINCT FROM $3 OR urgency IS DISTINCT FROM $4) AND "
                      "NOT " +
                      answers_earlier_session("$5", "c") + ") SELECT id FROM " + conv +
                      " WHERE id = $1::uuid";
    // A score already routed to the survey since it went out (its sent_at is the resolution's
    // time, 2 s allowed for clocks) answered it: survey.sent came after the customer's reply
    // (another topic), and a further number goes to the survey only shortly after that score
    // (kFurtherScoreWindow, touch_conversation).
    survey_sent_update = "UPDATE " + conv +
                         " c SET survey_id = $2::uuid, survey_sent_at = $3::timestamptz, "
                         "survey_expires_at = $4::timestamptz, survey_answered = EXISTS (SELECT 1 "
                         "FROM " +
                         sql.t("messages") +
                         " m WHERE m.conversation_id = c.id AND m.route = 'survey' AND "
                         "m.created_at >= $3::timestamptz - interval '2 seconds'), "
                         "survey_failed = false, survey_score = NULL, updated_at = now() WHERE "
                         "c.id = $1::uuid RETURNING c.id";
    // The survey never reached the customer: a number they write is not its score (it goes
    // to the AI, and reopens a resolved conversation). Only the survey still pending: a newer
    // resolution's survey is not closed by an older one's failure.
    survey_failed_update =
        "UPDATE " + conv +
        " SET survey_answered = CASE WHEN survey_id = $2::uuid THEN true ELSE "
        "survey_answered END, survey_failed = CASE WHEN survey_id = $2::uuid THEN true ELSE "
        "survey_failed END, updated_at = now() WHERE id = $1::uuid RETURNING id";
    // Only the survey it scores: survey.sent came before it (same topic and key), so a
    // survey_id that differs, or was reset by a newer resolution, is another survey's window.
    score_update = "UPDATE " + conv +
                   " SET survey_answered = CASE WHEN survey_id = $2::uuid THEN true ELSE "
                   "survey_answered END, survey_score = CASE WHEN survey_id = $2::uuid THEN $3 "
                   "ELSE survey_score END, updated_at = now() WHERE id = $1::uuid RETURNING id";
    // A score routed to the survey within the last $2 seconds (kFurtherScoreWindow).
    recent_survey_reply = "SELECT 1 FROM " + msgs +
                          " WHERE conversation_id = $1::uuid AND route = 'survey' AND created_at "
                          "> clock_timestamp() - $2::bigint * interval '1 second' LIMIT 1";
    // A from_me echo of a send of ours not marked via_api (an ingestion before that mark,
    // or a provider reporting its API sends as ordinary messages) before notification's
    // `sent` gave the message its id: the same text, still waiting for it.
    own_pending_send = "SELECT id::text FROM " + msgs +
                       " WHERE conversation_id = $1::uuid AND direction = 'outbound' AND "
                       "command_id IS NOT NULL AND whatsapp_message_id IS NULL AND "
                       "whatsapp_status = 'PENDING' AND btrim(content) = btrim($2) LIMIT 1";
    message_by_command =
        "SELECT id::text, whatsapp_status, status_reason, "
        "whatsapp_message_id IS NULL FROM " +
        msgs + " WHERE command_id = $1::uuid FOR UPDATE";
    message_by_provider_id = "SELECT id::text, whatsapp_status, status_reason FROM " + msgs +
                             " WHERE instance = $1 AND whatsapp_message_id = $2 AND direction = "
                             "'outbound' FOR UPDATE";
    // The ticks kept for this provider id, and an echo of the message itself (a from_me
    // webhook stored before the id was known, which may have had ticks applied to it): both
    // removed in one statement, their ticks carried over to the message.
    take_pending_and_echo =
        "WITH echo AS (DELETE FROM " + msgs +
        " WHERE instance = $1 AND whatsapp_message_id = $2 AND from_me AND id <> $3::uuid "
        "RETURNING whatsapp_status, status_reason), pend AS (DELETE FROM " +
        pending +
        " WHERE instance = $1 AND whatsapp_message_id = $2 RETURNING status, reason) "
        "SELECT status, reason FROM pend UNION ALL SELECT whatsapp_status, status_reason FROM "
        "echo WHERE whatsapp_status IS NOT NULL";
    drop_pending = "DELETE FROM " + pending + " WHERE instance = $1 AND whatsapp_message_id = $2";
    take_pending = drop_pending + " RETURNING status, reason";
    insert_pending = "INSERT INTO " + pending +
                     " (instance, whatsapp_message_id, status, reason, status_at) VALUES ($1, $2, "
                     "$3, $4, $5::timestamptz) ON CONFLICT DO NOTHING";
    set_tick = "UPDATE " + msgs +
               " SET whatsapp_status = $2, status_reason = $3, status_updated_at = now() WHERE id "
               "= $1::uuid";
    set_provider_id = "UPDATE " + msgs +
                      " SET whatsapp_message_id = $2, whatsapp_status = $3, status_reason = $4, "
                      "status_updated_at = now() WHERE id = $1::uuid";
    purge_pending = "DELETE FROM " + pending + " WHERE received_at < now() - $1::interval";
    provider_lock = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

    // The request fills in a row its send's `sent` or ticks may have started.
    campaign_requested =
        "INSERT INTO " + camp +
        " (command_id, instance, phone, campaign_id, target_id, content, requested_at) VALUES "
        "($1::uuid, $2, $3, $4::uuid, $5::uuid, $6, $7::timestamptz) ON CONFLICT (command_id) DO "
        "UPDATE SET phone = EXCLUDED.phone, campaign_id = EXCLUDED.campaign_id, target_id = "
        "EXCLUDED.target_id, content = EXCLUDED.content, requested_at = EXCLUDED.requested_at";
    // The campaign messages waiting for the answer of customer `phone` (a parameter) on
    // instance $1, written at `written`: those requested before it (5 min allowed for clocks,
    // as ai_orchestration allows). One requested after it is no message it answers, and waits
    // for the next.
    const auto waiting_for = [&](std::string_view phone, std::string_view written) {
      return " WHERE instance = $1 AND phone = " + std::string(phone) +
             " AND content IS NOT NULL AND requested_at <= " + std::string(written) +
             "::timestamptz + interval '5 minutes'";
    };
    // Whether the provider message is stored already; and whether campaign messages wait for
    // this answer ($3: the customer's phone, NULL for a message written on the business phone).
    message_exists = "SELECT EXISTS (SELECT 1 FROM " + msgs +
                     " WHERE instance = $1 AND whatsapp_message_id = $2), $3::text IS NOT NULL "
                     "AND EXISTS (SELECT 1 FROM " +
                     camp + waiting_for("$3", "$4") + ")";
    campaign_by_command =
        "SELECT whatsapp_status, status_reason, whatsapp_message_id IS NULL FROM " + camp +
        " WHERE command_id = $1::uuid FOR UPDATE";
    campaign_by_provider_id = "SELECT command_id::text, whatsapp_status, status_reason FROM " +
                              camp + " WHERE instance = $1 AND whatsapp_message_id = $2 FOR UPDATE";
    campaign_tick = "INSERT INTO " + camp +
                    " AS k (command_id, instance, whatsapp_message_id, whatsapp_status, "
                    "status_reason) VALUES ($1::uuid, $2, $3, $4, $5) ON CONFLICT (command_id) DO "
                    "UPDATE SET whatsapp_message_id = COALESCE(EXCLUDED.whatsapp_message_id, "
                    "k.whatsapp_message_id), whatsapp_status = EXCLUDED.whatsapp_status, "
                    "status_reason = EXCLUDED.status_reason";
    // Oldest first. The DELETE waits for a tick being applied to a row, and returns the row
    // as that left it; a tick that comes after finds the message instead (on_status).
    // A batch of ticks holding one of the rows while it waits for another this takes is a
    // deadlock PostgreSQL breaks: one transaction rolls back and its records run again.
    campaign_take = "DELETE FROM " + camp + waiting_for("$2", "$3") +
                    " RETURNING "
                    "command_id::text, content, " +
                    store::ts("requested_at") +
                    ", whatsapp_message_id, whatsapp_status, status_reason";
    // Dated when it was requested: it comes before the answer in the conversation.
    campaign_insert_message =
        "INSERT INTO " + msgs +
        " (id, conversation_id, instance, direction, role, author, content, kind, "
        "whatsapp_message_id, whatsapp_status, status_reason, status_updated_at, send_by, "
        "command_id, sent_at, created_at) VALUES ($1::uuid, $2::uuid, $3, 'outbound', "
        "'assistant', 'system', $4, 'text', $5, $6, $7, now(), 'campaign', $8::uuid, "
        "$9::timestamptz, $9::timestamptz) ON CONFLICT DO NOTHING RETURNING id";
    // By the request's time once known: a request handled late is not kept longer for it.
    purge_campaign =
        "DELETE FROM " + camp + " WHERE COALESCE(requested_at, created_at) < now() - $1::interval";
  }

  // ---- helpers ---------------------------------------------------------------------

  core::Result<bool> claim(pg::Tx& tx, std::string_view topic, const std::string& event_id) {
    return pg::inbox_claim(tx, sql.schema(), "conversation." + std::string(topic), event_id);
  }

  Status emit(pg::Tx& tx, std::string_view topic, std::string key, std::string_view type,
              std::string subject, std::string data) {
    return store::emit(tx, sql, topic, std::move(key), type, std::move(subject), std::move(data),
                       clock);
  }

  Status emit_chat(pg::Tx& tx, const ConversationRow& c, std::string_view type, std::string data) {
    return emit(tx, topics::conversation_events, events::chat_key(c.instance, c.chat_id), type,
                c.id, std::move(data));
  }

  core::Result<std::optional<ConversationRow>> conversation_for_update(pg::Tx& tx,
                                                                       const std::string& id) {
    auto r = tx.exec(sql.conversation_by_id_for_update, id);
    if (!r) return r.error();
    if (r->empty()) return std::optional<ConversationRow>{};
    return std::optional<ConversationRow>(store::read_conversation((*r)[0]));
  }

  // The ticks that waited for their message (rows of status, reason), applied forward-only.
  static domain::MessageTick with_pending(domain::MessageTick tick, const pg::Rows& pending) {
    for (const auto& p : pending) {
      auto s = domain::parse_message_status(p.get<std::string>(0));
      if (!s) continue;
      domain::MessageTick t{*s, p.get<std::optional<std::string>>(1).value_or("")};
      if (t.status != domain::MessageStatus::error) t.error_reason.clear();
      tick = domain::advance(tick, t);
    }
    return tick;
  }

  // The campaign messages waiting for this customer's answer, moved into the conversation it
  // went to, oldest first, each with its tick and its conversation.message.stored.
  core::Result<std::size_t> attach_campaign_messages(pg::Tx& tx, const ConversationRow& conv,
                                                     const std::string& phone,
                                                     const std::string& written_at) {
    auto rows = tx.exec(campaign_take, conv.instance, phone, written_at);
    if (!rows) return rows.error();
    struct Waiting {
      std::string command_id, content, requested_at;
      std::optional<std::string> provider_id, status, reason;
    };
    std::vector<Waiting> waiting;
    for (const auto& r : *rows) {
      waiting.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
                         r.get<std::optional<std::string>>(3), r.get<std::optional<std::string>>(4),
                         r.get<std::optional<std::string>>(5)});
    }
    std::sort(waiting.begin(), waiting.end(),
              [](const Waiting& a, const Waiting& b) { return a.requested_at < b.requested_at; });
    std::size_t attached = 0;
    for (const auto& w : waiting) {
      const auto id = core::Uuid::v7(clock).str();
      auto ins = tx.exec(campaign_insert_message, id, conv.id, conv.instance, w.content,
                         w.provider_id, w.status, w.reason, w.command_id, w.requested_at);
      if (!ins) return ins.error();
      if (ins->empty()) continue;  // its provider id is stored already (an old-style echo)
      ++attached;
      StoredMessageData stored;
      stored.chat = store::chat_of(conv);
      stored.message_id = id;
      stored.provider_message_id = w.provider_id;
      stored.direction = "outbound";
      stored.author = "system";
      stored.kind = "text";
      stored.text = w.content;
      stored.status = w.status;
      stored.timestamp = w.requested_at;
      if (auto st =
              emit_chat(tx, conv, types::conversation_message_stored, message_stored_data(stored));
          !st) {
        return st.error();
      }
    }
    return attached;
  }

  // The tick a send's outcome (`incoming`) leaves on a message, or a kept campaign message,
  // whose tick is (status, reason): forward only, except that an ERROR while the provider id is
  // not known yet can only be notification's own failure report, which a `sent` after it (its
  // dead letter replayed) overrides: the provider took it.
  static domain::MessageTick outcome_tick(const std::optional<std::string>& status,
                                          const std::optional<std::string>& reason,
                                          bool no_provider_id, bool sent,
                                          const domain::MessageTick& incoming) {
    auto current = tick_of(status, reason);
    if (sent && current.status == domain::MessageStatus::error && no_provider_id) current = {};
    return domain::advance(current, incoming);
  }

  // Sent with the statement that follows (the look-up of the message it guards).
  void lock_provider_id(pg::Tx& tx, const std::string& instance, const std::string& provider_id) {
    tx.exec_later(provider_lock, sql.schema() + ".pmid:" + instance + ":" + provider_id);
  }

  // ---- whatsapp.inbound.v1 ---------------------------------------------------------

  struct Inbound {
    std::string provider, instance, chat_id, provider_message_id, from, kind, timestamp;
    std::optional<std::string> push_name;
    std::optional<std::string> text;  // what the message says, whatever its kind
    std::optional<std::string> media_json, location_json;
    bool from_me = false;
    bool via_api = false;  // sent through the provider's send API: an echo of a send of ours
  };

  static core::Result<Inbound> parse_inbound(const events::CloudEvent& ev) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    Inbound in;
    in.provider = req(*o, "provider");
    in.instance = req(*o, "instance");
    in.chat_id = req(*o, "chat_id");
    in.provider_message_id = req(*o, "message_id");
    in.from = req(*o, "from");
    in.kind = req(*o, "kind");
    in.timestamp = req(*o, "timestamp");
    in.push_name = opt(*o, "push_name");
    auto from_me = o->opt_boolean("from_me");
    in.from_me = from_me && *from_me && **from_me;
    auto via_api = o->opt_boolean("via_api");
    in.via_api = in.from_me && via_api && *via_api && **via_api;
    // An empty name says nothing; on from_me messages the name is the business's own.
    if (in.push_name && (in.push_name->empty() || in.from_me)) in.push_name.reset();
    in.text = opt(*o, "text");
    // message.stored v1's media and location properties only: ingestion may add one within
    // v1 (consumers read tolerantly), which message.stored's schema would refuse.
    if (const auto* media = o->get("media"); media != nullptr && media->IsObject()) {
      in.media_json =
          json::to_string_only(*media, {"id", "url", "mime_type", "sha256", "caption", "filename",
                                        "bytes", "seconds", "voice", "animated"});
      if (!in.text) {
        if (auto m = json::Obj::of(*media)) in.text = opt(*m, "caption");
      }
    }
    if (const auto* loc = o->get("location"); loc != nullptr && loc->IsObject()) {
      in.location_json =
          json::to_string_only(*loc, {"latitude", "longitude", "name", "address", "url"});
      if (!in.text) {
        if (auto l = json::Obj::of(*loc)) in.text = opt(*l, "name");
      }
    }
    if (!in.text) {
      if (auto i = o->opt_obj("interactive"); i && *i) in.text = opt(**i, "title");
    }
    if (!in.text) {
      if (auto b = o->opt_obj("button"); b && *b) in.text = opt(**b, "text");
    }
    if (!in.text) {
      if (auto r = o->opt_obj("reaction"); r && *r) in.text = opt(**r, "emoji");
    }
    if (in.provider.empty() || in.instance.empty() || in.chat_id.empty() ||
        in.provider_message_id.empty() || in.kind.empty()) {
      return bad_event(ev, "missing chat or message fields");
    }
    return in;
  }

  struct ContactResult {
    ContactData data;
    bool changed = false;
    bool created = false;  // inserted now: no conversation has it yet
  };

  static ContactResult read_contact(const pg::Row& r) {
    ContactResult c;
    c.data.contact_id = r.get<std::string>(0);
    c.data.phone = r.get<std::string>(1);
    c.data.name = r.get<std::optional<std::string>>(2);
    c.data.push_name = r.get<std::optional<std::string>>(3);
    c.data.email = r.get<std::optional<std::string>>(4);
    c.data.document = r.get<std::optional<std::string>>(5);
    c.data.city = r.get<std::optional<std::string>>(6);
    c.data.state = r.get<std::optional<std::string>>(7);
    c.data.cep = r.get<std::optional<std::string>>(8);
    c.data.tags = parse_text_array(r.get<std::string>(9));
    c.data.provider = r.get<std::optional<std::string>>(10);
    c.data.instance = r.get<std::optional<std::string>>(11);
    c.data.chat_id = r.get<std::optional<std::string>>(12);
    c.data.blocked = r.get<bool>(13);
    c.data.created_at = r.get<std::string>(14);
    c.data.updated_at = r.get<std::string>(15);
    c.changed = r.get<bool>(16);
    return c;
  }

  core::Result<ContactResult> upsert_contact(pg::Tx& tx, const std::string& phone,
                                             const Inbound& in) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto up = tx.exec(contact_update, phone, in.push_name, in.provider, in.instance, in.chat_id);
      if (!up) return up.error();
      if (!up->empty()) return read_contact((*up)[0]);
      auto ins = tx.exec(contact_insert, core::Uuid::v7(clock), phone, in.push_name, in.provider,
                         in.instance, in.chat_id);
      if (!ins) return ins.error();
      if (!ins->empty()) {
        auto made = read_contact((*ins)[0]);
        made.created = true;
        return made;
      }
      // Inserted by a concurrent transaction in between: update it instead.
    }
    return Error(Errc::unavailable, "contact upsert raced twice");
  }

  core::Result<Outcome> on_received(const events::CloudEvent& ev, std::string_view topic) {
    auto parsed = parse_inbound(ev);
    if (!parsed) return parsed.error();
    const Inbound& in = *parsed;
    if (in.via_api) {
      // Sent through the provider's send API, so by notification: a reply or an agent's
      // message (stored here when written, given this id by `sent`), a survey or a campaign
      // message (another service's). Not a message an agent wrote on the phone.
      log.debug("echo of a send through the provider's API",
                {f::id("event_id", ev.id), f::id("instance", in.instance)});
      return Outcome::ignored;
    }

    // The customer's phone: `from`, except on a message written on the business phone, whose
    // `from` is the business number itself: then the chat names the customer.
    const std::string& source = in.from_me ? in.chat_id : in.from;
    std::string phone = source.substr(0, source.find('@'));
    if (auto p = domain::normalize_wa_id(source)) {
      phone = p->digits;
    } else if (in.from_me) {
      // Ingestion checks the customer's number of an inbound message, not the chat of one
      // written on the business phone: a chat that is no phone number (seven digits, say)
      // has no conversation, since its customer's own messages are refused.
      log.warn(
          "message written on the business phone to a chat that is not a phone number: "
          "ignored",
          {f::id("event_id", ev.id), f::str("reason", p.error().message())});
      return Outcome::ignored;
    } else {
      log.warn("phone kept as received",
               {f::phone("phone", phone), f::str("reason", p.error().message())});
    }
    const auto received_at = parse_time(in.timestamp).value_or(clock.now());

    std::string route;
    bool created = false;
    bool reopened = false;
    std::size_t attached = 0;
    std::string conversation_id;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      created = reopened = false;
      attached = 0;
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      // Is the provider message known, and the chat's conversation (locked): one round trip.
      // The conversation is locked before its contact is updated (no other path locks both;
      // two batches whose chats share contacts on two instances may still lock two contacts
      // in opposite orders: PostgreSQL aborts one, and its records run again one by one),
      // and also for a duplicate, until this transaction ends. A from_me message may be the
      // echo of a send of ours whose `sent` is being applied: the provider id's lock, which
      // that path takes too, orders the two.
      if (in.from_me) lock_provider_id(tx, in.instance, in.provider_message_id);
      // And whether a campaign's message waits for this customer's answer (not for a message
      // written on the business phone).
      const std::string written_at = core::format_rfc3339(received_at);
      const auto by_message = pg::make_params(
          in.instance, in.provider_message_id,
          in.from_me ? std::nullopt : std::optional<std::string>(phone), written_at);
      const auto by_chat = pg::make_params(in.instance, in.chat_id);
      auto first = tx.exec_pipeline(
          {{message_exists, &by_message}, {sql.conversation_by_chat_for_update, &by_chat}});
      if (!first) return first.error();
      if ((*first)[0][0].get<bool>(0)) return Outcome::duplicate;
      const bool campaign = (*first)[0][0].get<bool>(1);
      // None: the chat's conversation may be there under its other spelling, a Brazilian
      // mobile with and without its ninth digit (Meta's wa_id in the customer's messages, the
      // typed number in a Business app message's `to`). Found here, before the contact is
      // locked, as every message finds its conversation: one lock order.
      if ((*first)[1].empty()) {
        if (auto alt = other_spelling(in.chat_id)) {
          auto by_alt = tx.exec(sql.conversation_by_chat_for_update, in.instance, *alt);
          if (!by_alt) return by_alt.error();
          (*first)[1] = std::move(*by_alt);
        }
      }
      if (in.from_me && in.text && in.provider != "meta" &&
          !in.provider_message_id.starts_with("wamid.") && !(*first)[1].empty()) {
        // The echo of our own reply, before its `sent`: not an agent's message. The `sent`
        // gives the reply this provider id; ticks meanwhile wait in pending_statuses. (Meta
        // echoes none of its API's sends: its from_me messages, smb_message_echoes, are all
        // written in the Business app, however like a pending reply of ours they read. So
        // does Evolution over the Cloud API, a wamid. id: its API's sends come back as
        // send.message, via_api.)
        auto own = tx.exec(own_pending_send, (*first)[1][0].get<std::string>(0), *in.text);
        if (!own) return own.error();
        if (!own->empty()) return Outcome::duplicate;
      }

      auto contact = upsert_contact(tx, phone, in);
      if (!contact) return contact.error();
      if (contact->changed) {
        if (auto st = emit(tx, topics::contacts, contact->data.contact_id, types::contact_upserted,
                           contact->data.contact_id, contact_upserted_data(contact->data));
            !st) {
          return st.error();
        }
      }

      // No conversation under either spelling of the chat: one may have been created since by
      // a message under the other. The contact is one (its phone is normalized), and its row,
      // locked above, makes this look-up wait for that message's transaction, so the two do not
      // both create one. A contact inserted just now has none.
      if ((*first)[1].empty() && !contact->created) {
        auto by_contact =
            tx.exec(sql.conversation_by_contact_for_update, in.instance, contact->data.contact_id);
        if (!by_contact) return by_contact.error();
        (*first)[1] = std::move(*by_contact);
      }
      const pg::Rows& found = (*first)[1];
      ConversationRow conv;
      if (!found.empty()) {
        conv = store::read_conversation(found[0]);
      } else {
        auto ins = tx.exec(sql.insert_conversation, core::Uuid::v7(clock), in.provider, in.instance,
                           in.chat_id, contact->data.contact_id);
        if (!ins) return ins.error();
        if (ins->empty())
          return Error(Errc::unavailable, "conversation created concurrently; retry");
        conv = store::read_conversation((*ins)[0]);
        created = true;
        tx.exec_later(sql.bump_contact_conversations, conv.contact_id);
        if (auto st =
                emit_chat(tx, conv, types::conversation_created,
                          conversation_created_data(store::chat_of(conv), "ai", conv.assistant));
            !st) {
          return st.error();
        }
      }
      conversation_id = conv.id;

      store::NewMessage m;
      m.id = core::Uuid::v7(clock).str();
      m.conversation_id = conv.id;
      m.instance = in.instance;
      m.kind = in.kind;
      m.content = in.text;
      m.media_json = in.media_json;
      m.location_json = in.location_json;
      m.whatsapp_message_id = in.provider_message_id;
      m.sent_at = in.timestamp;
      StoredMessageData stored;
      stored.chat = store::chat_of(conv);
      stored.message_id = m.id;
      stored.provider_message_id = in.provider_message_id;
      stored.kind = in.kind;
      stored.text = in.text;
      stored.media_json = in.media_json;
      stored.location_json = in.location_json;
      stored.assistant = conv.assistant;
      stored.timestamp = in.timestamp;

      domain::ConversationState next = conv.state;
      if (in.from_me) {
        // Written on the business phone itself: an agent's outbound message, never routed.
        m.direction = "outbound";
        m.role = "assistant";
        m.author = "agent";
        m.from_me = true;
        // Its ticks may have come first (statuses and messages are different topics, read by
        // different groups): they waited in pending_statuses, under the provider id's lock.
        auto pend = tx.exec(take_pending, in.instance, in.provider_message_id);
        if (!pend) return pend.error();
        const auto tick = with_pending({domain::MessageStatus::server_ack, {}}, *pend);
        m.whatsapp_status = std::string(domain::to_string(tick.status));
        m.status_reason = reason_of(tick);
        m.send_by = "agent";
        stored.direction = "outbound";
        stored.author = "agent";
        stored.status = m.whatsapp_status;
        route = "none";
      } else {
        auto survey_at = pending_survey(conv.survey_sent_at, conv.survey_failed);
        if (survey_at && conv.survey_answered &&
            conv.state.status == domain::ConversationStatus::resolved &&
            domain::parse_nps_score(routing_text(in.kind, in.text.value_or("")))) {
          // Answered already: a further score only shortly after the last one.
          auto recent = tx.exec(recent_survey_reply, conv.id,
                                std::chrono::seconds{kFurtherScoreWindow}.count());
          if (!recent) return recent.error();
          if (recent->empty()) survey_at.reset();
        }
        const auto plan = plan_inbound(conv.state, in.kind, in.text.value_or(""), survey_at,
                                       received_at, conv.survey_window);
        next = plan.next;
        reopened = plan.reopen;
        if (reopened) stored.assistant = "apresentacao";  // as touch_conversation sets it
        route = plan.route;
        m.direction = "inbound";
        m.role = "user";
        m.author = "customer";
        m.route = plan.route;
        m.send_by = "client";
        stored.direction = "inbound";
        stored.author = "customer";
        stored.route = plan.route;
      }
      auto inserted = store::insert_message(tx, sql, m);
      if (!inserted) return inserted.error();
      if (!*inserted) return Error(Errc::conflict, std::string(kDuplicateMarker), false);

      // A reaction changes nothing (README): not the list's preview, nor its order.
      if (in.kind != "reaction") {
        store::touch_conversation(tx, sql, conv.id, store::preview(in.kind, in.text.value_or("")),
                                  next, reopened, route == "survey");
      }
      if (reopened) {
        if (auto st = emit_chat(
                tx, conv, types::conversation_reopened,
                reopened_data(store::chat_of(conv), "ai", "customer_message", std::nullopt));
            !st) {
          return st.error();
        }
      }
      // After a reopening (ai_orchestration starts its read model afresh at it), before the
      // answer; not for a reaction or a survey's score, which leave the conversation as it was.
      if (campaign && route != "none" && route != "survey") {
        auto n = attach_campaign_messages(tx, conv, phone, written_at);
        if (!n) return n.error();
        attached = *n;
      }
      if (auto st =
              emit_chat(tx, conv, types::conversation_message_stored, message_stored_data(stored));
          !st) {
        return st.error();
      }
      return Outcome::applied;
    });
    if (!r && r.error().message() == kDuplicateMarker) return Outcome::duplicate;
    if (!r) return r.error();
    if (*r == Outcome::applied) {
      if (created) log.info("conversation created", {f::id("conversation_id", conversation_id)});
      if (reopened) log.info("conversation reopened", {f::id("conversation_id", conversation_id)});
      if (attached > 0) {
        log.info("campaign messages shown in the conversation the debtor answered in",
                 {f::id("conversation_id", conversation_id),
                  f::num("count", static_cast<std::int64_t>(attached))});
      }
      log.debug("message stored", {f::id("conversation_id", conversation_id), f::id("route", route),
                                   f::id("kind", in.kind), f::body("text", in.text.value_or(""))});
    }
    return r;
  }

  // ---- whatsapp.status.v1 ----------------------------------------------------------

  core::Result<Outcome> on_status(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string instance = req(*o, "instance");
    const std::string provider_id = req(*o, "message_id");
    const std::string status_text = req(*o, "status");
    const std::string at = req(*o, "timestamp");
    auto status = domain::parse_message_status(status_text);
    if (!status) return bad_event(ev, status.error().message());
    domain::MessageTick incoming{*status, {}};
    if (*status == domain::MessageStatus::error) {
      incoming.error_reason = "error";
      if (auto e = o->opt_obj("error"); e && *e) incoming.error_reason = req(**e, "reason");
    }
    bool kept = false;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      kept = false;
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      lock_provider_id(tx, instance, provider_id);
      auto row = tx.exec(message_by_provider_id, instance, provider_id);
      if (!row) return row.error();
      if (row->empty()) {
        // A campaign's message waiting for the debtor's answer; or, when the answer has just
        // moved it into a conversation (the look-up waited for that), the message now.
        auto kept = tx.exec(campaign_by_provider_id, instance, provider_id);
        if (!kept) return kept.error();
        if (!kept->empty()) {
          const auto current = tick_of((*kept)[0].get<std::optional<std::string>>(1),
                                       (*kept)[0].get<std::optional<std::string>>(2));
          const auto next = domain::advance(current, incoming);
          if (next == current) return Outcome::ignored;
          tx.exec_later(campaign_tick, (*kept)[0].get<std::string>(0), instance, provider_id,
                        std::string(domain::to_string(next.status)), reason_of(next));
          return Outcome::applied;
        }
        row = tx.exec(message_by_provider_id, instance, provider_id);
        if (!row) return row.error();
      }
      if (row->empty()) {
        auto ins = tx.exec(insert_pending, instance, provider_id, status_text, reason_of(incoming),
                           parse_time(at) ? std::optional<std::string>(at) : std::nullopt);
        if (!ins) return ins.error();
        kept = true;
        return Outcome::applied;
      }
      const auto id = (*row)[0].get<std::string>(0);
      const auto current = tick_of((*row)[0].get<std::optional<std::string>>(1),
                                   (*row)[0].get<std::optional<std::string>>(2));
      const auto next = domain::advance(current, incoming);
      if (next == current) return Outcome::ignored;
      tx.exec_later(set_tick, id, std::string(domain::to_string(next.status)), reason_of(next));
      return Outcome::applied;
    });
    if (r && kept)
      log.debug("status kept until its message is known", {f::id("status", status_text)});
    return r;
  }

  // ---- ai.events.v1 ----------------------------------------------------------------

  core::Result<Outcome> on_reply(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string conversation_id = req(*o, "conversation_id");
    const std::string reply_id = req(*o, "reply_id");
    const std::string in_reply_to = req(*o, "in_reply_to");
    const std::string assistant = req(*o, "assistant");
    const std::string text = req(*o, "text");
    const std::string delivery = req(*o, "delivery");
    std::string dropped_because;
    bool earlier = false;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      dropped_because.clear();
      earlier = false;
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      auto rows = tx.exec(reply_conversation, conversation_id, in_reply_to);
      if (!rows) return rows.error();
      if (rows->empty()) return bad_event(ev, "unknown conversation " + conversation_id);
      const auto row = (*rows)[0];
      const ConversationRow c = store::read_conversation(row);

      store::NewMessage m;
      m.id = reply_id;
      m.conversation_id = c.id;
      m.instance = c.instance;
      m.direction = "outbound";
      m.role = "assistant";
      m.author = "ai";
      m.assistant = assistant;
      m.content = text;
      m.kind = "text";
      m.send_by = "ai";
      m.reply_to_message_id = in_reply_to;
      // The answer to a message of the session before a resolve and a reopening (the customer
      // wrote again while the AI was still answering): the new session gets its own answer.
      earlier = row.get<bool>(row.columns() - 1);
      // A reply goes out while the AI answers (active, mode ai); a draft (hybrid mode: for the
      // agent, kept private and never sent) is kept while an agent answers in hybrid mode.
      // Either only for this session's message: a late one would show up in a session it has
      // nothing to do with.
      const bool draft = delivery == "suggest";
      if (c.state.status != (draft ? domain::ConversationStatus::transferred
                                   : domain::ConversationStatus::active) ||
          c.state.mode !=
              (draft ? domain::ConversationMode::hybrid : domain::ConversationMode::ai)) {
        dropped_because = std::string(domain::to_string(c.state.status)) + "/" +
                          std::string(domain::to_string(c.state.mode));
        return Outcome::ignored;
      }
      if (earlier) return Outcome::ignored;
      if (draft) {
        m.is_private = true;
        auto ins = store::insert_message(tx, sql, m);
        if (!ins) return ins.error();
        return *ins ? Outcome::applied : Outcome::duplicate;
      }
      const auto command_id = core::Uuid::v7(clock).str();
      m.whatsapp_status = "PENDING";
      m.command_id = command_id;
      auto ins = store::insert_message(tx, sql, m);
      if (!ins) return ins.error();
      if (!*ins) return Outcome::duplicate;
      store::touch_conversation(tx, sql, c.id, store::preview("text", text), c.state, false);
      StoredMessageData stored;
      stored.chat = store::chat_of(c);
      stored.message_id = reply_id;
      stored.direction = "outbound";
      stored.author = "ai";
      stored.assistant = assistant;
      stored.kind = "text";
      stored.text = text;
      stored.reply_to_message_id = in_reply_to;
      stored.route = "none";
      stored.status = "PENDING";
      stored.timestamp = core::format_rfc3339(clock.now());
      if (auto st =
              emit_chat(tx, c, types::conversation_message_stored, message_stored_data(stored));
          !st) {
        return st.error();
      }
      SendTextData cmd{command_id, c.provider, c.instance, c.chat_id, c.id, reply_id, text};
      if (auto st = emit(tx, topics::notification_commands, events::chat_key(c.instance, c.chat_id),
                         types::notification_send_text, c.id, send_text_data(cmd));
          !st) {
        return st.error();
      }
      return Outcome::applied;
    });
    if (r && !dropped_because.empty()) {
      log.info(delivery == "suggest"
                   ? "AI draft not kept: the conversation is no longer in hybrid mode"
                   : "AI reply not sent: the conversation is not with the AI",
               {f::id("conversation_id", conversation_id), f::id("state", dropped_because)});
    }
    if (r && earlier) log_earlier_session(ev, conversation_id);
    return r;
  }

  core::Result<Outcome> on_handoff(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string conversation_id = req(*o, "conversation_id");
    const std::string assistant = req(*o, "assistant");
    const std::string reason = req(*o, "reason");
    const auto department_in = opt(*o, "department");
    const auto urgency = opt(*o, "urgency");
    const auto in_reply_to = opt(*o, "in_reply_to");
    std::optional<std::string> agent;
    std::string department;
    bool transferred = false;
    bool earlier = false;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      transferred = false;
      earlier = false;
      agent.reset();
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      // The assignment lock before the row, the order a transfer and a deactivation take them
      // (a batch's earlier records may still hold other rows: a rare deadlock is rerun).
      if (auto st = store::lock_assignments(tx, sql); !st) return st.error();
      auto conv = conversation_for_update(tx, conversation_id);
      if (!conv) return conv.error();
      if (!*conv) return bad_event(ev, "unknown conversation " + conversation_id);
      const ConversationRow& c = **conv;
      if (in_reply_to) {
        auto rows = tx.exec(earlier_session, c.id, *in_reply_to);
        if (!rows) return rows.error();
        earlier = !rows->empty();
        if (earlier) return Outcome::ignored;  // the session it was asked in is over
      }
      auto next = domain::apply(c.state, {domain::ConversationEventKind::ai_handoff, {}});
      if (!next) return Outcome::ignored;             // resolved: nothing to hand off
      if (*next == c.state) return Outcome::ignored;  // already with humans

      if (department_in) {
        department = canonical_department(*department_in);
      } else if (c.department != "general") {
        department = c.department;
      } else {
        department = department_for_assistant(assistant);
      }
      auto picked = store::pick_agent(tx, sql, department);
      if (!picked) return picked.error();
      agent = *picked;
      auto up = tx.exec(handoff_update, c.id, std::string(domain::to_string(next->status)),
                        std::string(domain::to_string(next->mode)), core::utf8_prefix(reason, 2048),
                        department, urgency, agent);
      if (!up) return up.error();
      TransferData t;
      t.previous_mode = std::string(domain::to_string(c.state.mode));
      t.mode = std::string(domain::to_string(next->mode));
      t.requested_by = "ai";
      t.reason = reason;
      t.department = department;
      t.agent_user_id = agent;
      if (auto st = emit_chat(tx, c, types::conversation_transferred,
                              transferred_data(store::chat_of(c), t));
          !st) {
        return st.error();
      }
      if (agent) {
        if (auto st =
                emit_chat(tx, c, types::conversation_assigned,
                          assigned_data(store::chat_of(c), *agent, std::nullopt, std::nullopt));
            !st) {
          return st.error();
        }
      } else if (auto st =
                     store::add_alert(tx, sql, c.id, "no_agent_available", "high",
                                      "handoff to " + department + " with no active agent", clock);
                 !st) {
        return st.error();
      }
      json::Writer details;
      details.begin_object()
          .field("reason", core::utf8_prefix(reason, 2048))
          .field("department", department)
          .end_object();
      if (auto st = store::log_activity(tx, sql,
                                        {std::nullopt, "transfer_conversation", std::nullopt,
                                         std::nullopt, c.id, agent, details.take()},
                                        clock);
          !st) {
        return st.error();
      }
      transferred = true;
      return Outcome::applied;
    });
    if (r && earlier) log_earlier_session(ev, conversation_id);
    if (r && transferred) {
      if (agent) {
        log.info("conversation transferred",
                 {f::id("conversation_id", conversation_id), f::id("department", department),
                  f::id("agent_user_id", *agent)});
      } else {
        log.warn("conversation transferred with no agent available",
                 {f::id("conversation_id", conversation_id), f::id("department", department)});
      }
    }
    return r;
  }

  // One UPDATE ... RETURNING id of a conversation: a row is applied; none, for a known
  // conversation, is ignored (the statement's own condition left it alone); unknown -> dead
  // letter.
  template <class... A>
  core::Result<Outcome> update_conversation(const events::CloudEvent& ev, std::string_view topic,
                                            const std::string& conversation_id,
                                            const std::string& statement, const A&... args) {
    return pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      auto up = tx.exec(statement, conversation_id, args...);
      if (!up) return up.error();
      if (!up->empty()) return Outcome::applied;
      auto known = tx.exec(conversation_exists, conversation_id);
      if (!known) return known.error();
      if (known->empty()) return bad_event(ev, "unknown conversation " + conversation_id);
      return Outcome::ignored;
    });
  }

  core::Result<Outcome> on_analysis(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    auto score = o->num("sentiment_score");
    return update_conversation(ev, topic, req(*o, "conversation_id"), analysis_update,
                               req(*o, "sentiment"), score ? *score : 0.0, req(*o, "urgency"),
                               opt(*o, "message_id"));
  }

  core::Result<Outcome> on_assistant(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string conversation_id = req(*o, "conversation_id");
    const std::string to = req(*o, "to_assistant");
    auto r = update_conversation(ev, topic, conversation_id, assistant_update, to,
                                 department_for_assistant(to), opt(*o, "in_reply_to"));
    // (the UPDATE leaves a known conversation alone only for an earlier session's message)
    if (r && *r == Outcome::ignored) log_earlier_session(ev, conversation_id);
    return r;
  }

  // An AI event answering a message from before the conversation's last reopening (a resolve
  // and a new message while the AI was still answering): the new session is not changed.
  void log_earlier_session(const events::CloudEvent& ev, const std::string& conversation_id) {
    log.info("AI event from before the conversation's reopening ignored",
             {f::id("conversation_id", conversation_id), f::id("type", ev.type)});
  }

  // A lead or a complaint an assistant registered: its row, under the protocol the customer
  // was told. Other tools (coverage, outages, handoffs, payment promises) change nothing here.
  core::Result<Outcome> on_tool(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string tool = req(*o, "tool");
    const bool lead = tool == "register_lead";
    if (!lead && tool != "register_complaint") return Outcome::ignored;
    auto ok = o->opt_boolean("ok");
    if (!ok || !*ok || !**ok) return Outcome::ignored;  // a failed call registered nothing
    auto args = o->opt_obj("arguments");
    auto result = o->opt_obj("result");
    if (!args || !*args || !result || !*result) {
      return bad_event(ev, "a successful " + tool + " needs its arguments and result");
    }
    const auto protocol = opt(**result, "protocol");
    if (!protocol || protocol->empty()) return bad_event(ev, tool + " result has no protocol");
    const std::string conversation_id = req(*o, "conversation_id");
    const auto text = [&](std::string_view field, std::size_t max) -> std::optional<std::string> {
      auto v = opt(**args, field);
      if (!v || core::trim(*v).empty()) return std::nullopt;
      return std::string(core::utf8_prefix(core::trim(*v), max));
    };
    return pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      const auto id = core::Uuid::v7(clock).str();
      core::Result<pg::Rows> ins = core::Error(core::Errc::internal, "not run");
      if (lead) {
        ins = tx.exec(lead_insert, id, conversation_id, text("name", 256), text("cep", 16),
                      text("plan", 128), text("interest", 2048), *protocol);
      } else {
        static constexpr std::array<std::string_view, 5> kCategories{
            "atendimento", "tecnico", "financeiro", "comercial", "outro"};
        auto category = text("category", 32).value_or("outro");
        if (std::find(kCategories.begin(), kCategories.end(), category) == kCategories.end()) {
          category = "outro";
        }
        json::Writer meta;
        meta.begin_object()
            .field("assistant", opt(*o, "assistant"))
            .field("call_id", opt(*o, "call_id"))
            .field("event_id", ev.id)
            .end_object();
        ins =
            tx.exec(complaint_insert, id, conversation_id, category,
                    text("description", 4096).value_or("(sem descrição)"), meta.take(), *protocol);
      }
      if (!ins) return ins.error();
      if (ins->affected() == 0) {
        auto known = tx.exec(conversation_exists, conversation_id);
        if (!known) return known.error();
        if (known->empty()) return bad_event(ev, "unknown conversation " + conversation_id);
        return Outcome::duplicate;  // this protocol is registered already
      }
      log.info(lead ? "sales lead registered" : "complaint registered",
               {f::id("conversation_id", conversation_id), f::id("protocol", *protocol)});
      return Outcome::applied;
    });
  }

  // ---- engagement.events.v1 --------------------------------------------------------

  core::Result<Outcome> on_survey_sent(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    // Its window opened at the resolution (sent_at), not when nps_gamification published it;
    // an older nps_gamification leaves sent_at out.
    return update_conversation(ev, topic, req(*o, "conversation_id"), survey_sent_update,
                               req(*o, "survey_id"), opt(*o, "sent_at").value_or(ev.time),
                               opt(*o, "expires_at"));
  }

  core::Result<Outcome> on_survey_failed(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    return update_conversation(ev, topic, req(*o, "conversation_id"), survey_failed_update,
                               req(*o, "survey_id"));
  }

  core::Result<Outcome> on_score(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    auto score = o->i64("score");
    return update_conversation(ev, topic, req(*o, "conversation_id"), score_update,
                               req(*o, "survey_id"), score ? *score : std::int64_t{0});
  }

  // ---- notification.events.v1 ------------------------------------------------------

  core::Result<Outcome> on_notification(const events::CloudEvent& ev, std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const bool sent = ev.type == types::notification_message_sent;
    const std::string command_id = req(*o, "command_id");
    const std::string instance = req(*o, "instance");
    const std::string provider_id = sent ? req(*o, "provider_message_id") : std::string();
    // A send for no conversation: a campaign's (or a broadcast's), kept in campaign_messages.
    const bool no_conversation = !opt(*o, "conversation_id");
    domain::MessageTick incoming{domain::MessageStatus::server_ack, {}};
    if (!sent) incoming = {domain::MessageStatus::error, req(*o, "reason")};
    return pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      if (sent) lock_provider_id(tx, instance, provider_id);
      auto row = tx.exec(message_by_command, command_id);
      if (!row) return row.error();
      if (row->empty() && no_conversation) {
        auto kept = tx.exec(campaign_by_command, command_id);
        if (!kept) return kept.error();
        // None: the debtor's answer may have just moved it into a conversation (the look-up
        // waited for that), or it is not known yet.
        if (kept->empty()) {
          row = tx.exec(message_by_command, command_id);
          if (!row) return row.error();
        }
        if (row->empty()) {
          auto tick = domain::advance({}, incoming);  // not known yet: PENDING
          if (!kept->empty()) {
            const auto k = (*kept)[0];
            tick =
                outcome_tick(k.get<std::optional<std::string>>(0),
                             k.get<std::optional<std::string>>(1), k.get<bool>(2), sent, incoming);
          }
          if (sent) {
            auto pend = tx.exec(take_pending, instance, provider_id);
            if (!pend) return pend.error();
            tick = with_pending(tick, *pend);
          }
          tx.exec_later(campaign_tick, command_id, instance,
                        sent ? std::optional<std::string>(provider_id) : std::nullopt,
                        std::string(domain::to_string(tick.status)), reason_of(tick));
          return Outcome::applied;
        }
      }
      if (row->empty()) {
        // Another service's command for a conversation (a survey, a thank-you): its ticks
        // will never be ours.
        if (sent) {
          tx.exec_later(drop_pending, instance, provider_id);
        }
        return Outcome::ignored;
      }
      const auto id = (*row)[0].get<std::string>(0);
      auto tick = outcome_tick((*row)[0].get<std::optional<std::string>>(1),
                               (*row)[0].get<std::optional<std::string>>(2), (*row)[0].get<bool>(3),
                               sent, incoming);
      if (!sent) {
        tx.exec_later(set_tick, id, std::string(domain::to_string(tick.status)), reason_of(tick));
        return Outcome::applied;
      }
      auto pend = tx.exec(take_pending_and_echo, instance, provider_id, id);
      if (!pend) return pend.error();
      tick = with_pending(tick, *pend);
      tx.exec_later(set_provider_id, id, provider_id, std::string(domain::to_string(tick.status)),
                    reason_of(tick));
      return Outcome::applied;
    });
  }

  // ---- collections.events.v1 -------------------------------------------------------

  // A campaign's message: kept until the debtor answers (on_received), with its ticks.
  core::Result<Outcome> on_campaign_requested(const events::CloudEvent& ev,
                                              std::string_view topic) {
    auto doc = json::parse(ev.data);
    if (!doc) return bad_event(ev, doc.error().message());
    auto o = json::Obj::root(*doc);
    if (!o) return bad_event(ev, o.error().message());
    const std::string command_id = req(*o, "command_id");
    const std::string instance = req(*o, "instance");
    const std::string to = req(*o, "to");
    // What was sent: the text, or the Meta template with its parameters. Neither (an older
    // collections): nothing to show.
    std::string content;
    if (auto text = opt(*o, "text")) {
      content = std::move(*text);
    } else if (auto name = opt(*o, "template")) {
      content = "Modelo " + *name;
      if (auto params = o->opt_arr("parameters"); params && *params) {
        std::string joined;
        for (std::size_t i = 0; i < (*params)->size(); ++i) {
          auto p = (*params)->str(i);
          if (!p) return bad_event(ev, p.error().message());
          joined += (i == 0 ? "" : " | ") + std::string(*p);
        }
        if (!joined.empty()) content += ": " + joined;
      }
    } else {
      return Outcome::ignored;
    }
    auto phone = domain::normalize_wa_id(to);
    if (!phone) return bad_event(ev, "'to' is not a phone number: " + phone.error().message());
    return pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Outcome> {
      auto fresh = claim(tx, topic, ev.id);
      if (!fresh) return fresh.error();
      if (!*fresh) return Outcome::duplicate;
      auto ins = tx.exec(campaign_requested, command_id, instance, phone->digits,
                         req(*o, "campaign_id"), req(*o, "target_id"), content, ev.time);
      if (!ins) return ins.error();
      return Outcome::applied;
    });
  }

  // ---- dispatch --------------------------------------------------------------------

  core::Result<Outcome> dispatch(std::string_view topic, const events::CloudEvent& ev) {
    const std::string_view type = ev.type;
    if (topic == topics::whatsapp_inbound) {
      if (type == types::whatsapp_message_received) return on_received(ev, topic);
    } else if (topic == topics::whatsapp_status) {
      if (type == types::whatsapp_message_status) return on_status(ev, topic);
      if (type == types::whatsapp_connection_updated) {
        // The fields it knows only: a newer producer's may hold what logs must not show.
        std::string instance, state;
        if (auto doc = json::parse(ev.data); doc) {
          if (auto o = json::Obj::root(*doc); o) {
            instance = std::string(o->opt_str("instance").value_or(std::nullopt).value_or(""));
            state = std::string(o->opt_str("state").value_or(std::nullopt).value_or(""));
          }
        }
        log.info("provider connection changed",
                 {f::id("event_id", ev.id), f::id("instance", instance), f::id("state", state)});
        return Outcome::ignored;
      }
    } else if (topic == topics::ai_events) {
      if (type == types::ai_reply_generated) return on_reply(ev, topic);
      if (type == types::ai_handoff_requested) return on_handoff(ev, topic);
      if (type == types::ai_analysis_completed) return on_analysis(ev, topic);
      if (type == types::ai_assistant_changed) return on_assistant(ev, topic);
      if (type == types::ai_tool_invoked) return on_tool(ev, topic);
    } else if (topic == topics::notification_events) {
      if (type == types::notification_message_sent || type == types::notification_message_failed ||
          type == types::notification_message_dead_lettered) {
        return on_notification(ev, topic);
      }
    } else if (topic == topics::engagement_events) {
      if (type == types::engagement_survey_sent) return on_survey_sent(ev, topic);
      if (type == types::engagement_survey_failed) return on_survey_failed(ev, topic);
      if (type == types::engagement_score_recorded) return on_score(ev, topic);
    } else if (topic == topics::collections_events) {
      if (type == types::collections_message_requested) return on_campaign_requested(ev, topic);
    }
    return Outcome::ignored;  // meant for another consumer of the topic
  }
};

namespace {

// The types dispatch() handles (or logs): every other type on the topics is skipped.
bool reads(std::string_view type) {
  for (const std::string_view t :
       {types::whatsapp_message_received, types::whatsapp_message_status,
        types::whatsapp_connection_updated, types::ai_reply_generated, types::ai_handoff_requested,
        types::ai_analysis_completed, types::ai_assistant_changed, types::ai_tool_invoked,
        types::notification_message_sent, types::notification_message_failed,
        types::notification_message_dead_lettered, types::engagement_survey_sent,
        types::engagement_survey_failed, types::engagement_score_recorded,
        types::collections_message_requested}) {
    if (type == t) return true;
  }
  return false;
}

}  // namespace

Handlers::Handlers(std::shared_ptr<pg::Pool> pool, const std::string& schema,
                   const core::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(pool), schema, clock)) {}

Handlers::~Handlers() = default;

Status Handlers::handle(const kafka::Message& message) {
  // A type this service does not read (another consumer's, or one newer than this build,
  // whose schema it may not know) is skipped on the relay's type header, before decoding.
  if (const std::string* type = message.header(events::headers::event_type); type != nullptr) {
    if (!reads(*type)) return {};
  }
  auto ev = runtime::decode_event(message);
  if (!ev) {
    impl_->log.warn("undecodable record",
                    {f::id("topic", message.topic), f::num("partition", message.partition),
                     f::num("offset", message.offset), f::str("error", ev.error().message())});
    return ev.error();
  }
  return apply(message.topic, *ev);
}

Status Handlers::apply(std::string_view topic, const events::CloudEvent& event) {
  auto r = impl_->dispatch(topic, event);
  if (!r) {
    impl_->log.log(r.error().retryable() ? core::Level::warn : core::Level::error,
                   "event not applied",
                   {f::id("topic", std::string(topic)), f::id("type", event.type),
                    f::id("event_id", event.id), f::str("error", r.error().describe())});
    return r.error();
  }
  core::metrics()
      .counter("lia_conversation_events_total", "Events handled by conversation",
               {{"type", event.type}, {"outcome", std::string(outcome_name(*r))}})
      .inc();
  impl_->log.debug("event handled", {f::id("type", event.type), f::id("event_id", event.id),
                                     f::id("outcome", std::string(outcome_name(*r)))});
  return {};
}

core::Result<std::int64_t> Handlers::purge_pending_statuses(std::chrono::seconds age) {
  auto r = impl_->pool->exec(impl_->purge_pending, std::to_string(age.count()) + " seconds");
  if (!r) return r.error();
  return r->affected();
}

core::Result<std::int64_t> Handlers::purge_campaign_messages(std::chrono::seconds age) {
  auto r = impl_->pool->exec(impl_->purge_campaign, std::to_string(age.count()) + " seconds");
  if (!r) return r.error();
  return r->affected();
}

}  // namespace lia::conversation
