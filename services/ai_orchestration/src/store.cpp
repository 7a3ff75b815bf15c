#include "store.hpp"

#include <lia/core/uuid.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/connection.hpp>
#include <lia/pg/outbox.hpp>

#include "tools.hpp"

namespace lia::ai_orchestration {
namespace {

// "{a,b}": a text[] literal of UUIDs (no quoting needed for them).
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

core::Error changed_meanwhile(const std::string& conversation_id) {
  return core::Error(core::Errc::conflict,
                     "conversation " + conversation_id + " changed while the answer was made",
                     true);
}

}  // namespace

Store::Store(std::string schema, std::string consumer)
    : schema_(std::move(schema)), consumer_(std::move(consumer)) {
  const std::string s = pg::quote_ident(schema_);
  q_load_ = "SELECT EXISTS (SELECT 1 FROM " + s +
            ".inbox WHERE consumer = $2 AND event_id = $3) AS seen, EXISTS (SELECT 1 FROM " + s +
            ".campaign_chats WHERE instance = $5 AND phone = $6 AND requested_at BETWEEN $7 AND "
            "$8) AS campaign, c.conversation_id IS NOT NULL AS known, c.status, c.mode, "
            "c.assistant_type, "
            "c.handoff_requested_at IS NOT NULL AS handoff_pending, c.message_count, "
            "c.customer_message_count, c.ai_reply_count, c.negative_streak, c.version, "
            "t.id AS thread_id, t.message_count AS thread_count, t.summary AS thread_summary, "
            "k.first_name, c.registrations::text AS registrations, r.message_id, r.author, "
            "r.content "
            "FROM (VALUES (1)) AS one (x) "
            "LEFT JOIN " +
            s +
            ".conversations c ON c.conversation_id = $1::uuid "
            "LEFT JOIN " +
            s +
            ".conversation_threads t ON t.conversation_id = $1::uuid AND t.closed_at IS NULL "
            "LEFT JOIN " +
            s +
            ".contacts k ON k.contact_id = $4::uuid "
            "LEFT JOIN " +
            s +
            ".recent_messages r ON r.conversation_id = $1::uuid "
            "ORDER BY r.seq, r.direction";
  q_registrations_ = "UPDATE " + s +
                     ".conversations SET registrations = registrations || $2::jsonb WHERE "
                     "conversation_id = $1::uuid";
  q_forget_registrations_ = "UPDATE " + s +
                            ".conversations SET registrations = '{}'::jsonb WHERE "
                            "conversation_id = $1::uuid AND registrations <> '{}'::jsonb";
  q_remember_reply_ = "INSERT INTO " + s +
                      ".recent_messages (message_id, conversation_id, seq, direction, author, "
                      "kind, assistant_type, content, sent_at, confirmed) VALUES ($1, $2, $3, "
                      "'outbound', 'ai', 'text', $4, $5, now(), false) ON CONFLICT (message_id) "
                      "DO NOTHING";
  q_forget_unconfirmed_ =
      "DELETE FROM " + s + ".recent_messages WHERE conversation_id = $1::uuid AND NOT confirmed";
  q_record_ =
      "WITH conv AS (INSERT INTO " + s +
      ".conversations AS c (conversation_id, contact_id, "
      "provider, instance, chat_id, status, mode, assistant_type, handoff_requested_at, "
      "message_count, customer_message_count, ai_reply_count, negative_streak, sentiment, "
      "sentiment_score, urgency, last_intent, version) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $10::boolean THEN now() END, 1, $11::int, "
      "$12::int, CASE WHEN $13::boolean THEN 1 ELSE 0 END, $14, $15::double precision, $16, $17, "
      "1) "
      "ON CONFLICT (conversation_id) DO UPDATE SET "
      "assistant_type = CASE WHEN $9::boolean THEN EXCLUDED.assistant_type ELSE c.assistant_type "
      "END, "
      "handoff_requested_at = CASE WHEN $10::boolean THEN now() ELSE c.handoff_requested_at END, "
      "message_count = c.message_count + 1, "
      "customer_message_count = c.customer_message_count + $11::int, "
      "ai_reply_count = c.ai_reply_count + $12::int, "
      "negative_streak = CASE WHEN $13::boolean IS NULL THEN c.negative_streak "
      "WHEN $13::boolean THEN c.negative_streak + 1 ELSE 0 END, "
      "sentiment = coalesce(EXCLUDED.sentiment, c.sentiment), "
      "sentiment_score = coalesce(EXCLUDED.sentiment_score, c.sentiment_score), "
      "urgency = coalesce(EXCLUDED.urgency, c.urgency), "
      "last_intent = coalesce(EXCLUDED.last_intent, c.last_intent), "
      "version = c.version + 1, updated_at = now() "
      "WHERE $18::bigint IS NULL OR c.version = $18::bigint "
      "RETURNING c.conversation_id, c.message_count), "
      "msg AS (INSERT INTO " +
      s +
      ".recent_messages AS rm (message_id, conversation_id, seq, direction, "
      "author, kind, assistant_type, content, sent_at) SELECT $19::uuid, conversation_id, "
      "message_count, $20, $21, $22, $23, $24, $25::timestamptz FROM conv "
      "ON CONFLICT (message_id) DO UPDATE SET confirmed = true WHERE NOT rm.confirmed), "
      "pruned AS (DELETE FROM " +
      s +
      ".recent_messages r USING conv "
      "WHERE r.conversation_id = conv.conversation_id AND r.seq <= conv.message_count - $26::int), "
      "thread AS (UPDATE " +
      s +
      ".conversation_threads t SET message_count = t.message_count + 1 "
      "FROM conv WHERE t.conversation_id = conv.conversation_id AND t.closed_at IS NULL "
      "RETURNING t.id, t.message_count) "
      "SELECT conv.message_count, thread.id, thread.message_count FROM conv LEFT JOIN thread ON "
      "true";
  q_open_thread_ = "INSERT INTO " + s +
                   ".conversation_threads (id, conversation_id, thread_id, message_count, "
                   "summary) VALUES ($1, $2, $3, $4, nullif($5, ''))";
  q_close_load_ =
      "SELECT c.assistant_type, c.sentiment, t.id, t.message_count, t.summary, r.message_id, "
      "r.author, r.content FROM " +
      s +
      ".conversations c "
      "JOIN " +
      s +
      ".conversation_threads t ON t.conversation_id = c.conversation_id "
      "AND t.closed_at IS NULL "
      "LEFT JOIN " +
      s +
      ".recent_messages r ON r.conversation_id = c.conversation_id AND r.confirmed "
      "WHERE c.conversation_id = $1 ORDER BY r.seq, r.direction";
  q_close_thread_ =
      "UPDATE " + s +
      ".conversation_threads SET closed_at = now(), closed_reason = $2, "
      "summary = $3, preserved_message_ids = $4::text[] WHERE id = $1 AND closed_at IS NULL";
  q_state_ =
      "INSERT INTO " + s +
      ".conversations AS c (conversation_id, contact_id, provider, instance, "
      "chat_id, status, mode, assistant_type, version) VALUES ($1, $2, $3, $4, $5, "
      "coalesce($6, 'active'), coalesce($7, 'ai'), coalesce($8, 'apresentacao'), 1) "
      "ON CONFLICT (conversation_id) DO UPDATE SET status = coalesce($6, c.status), "
      "mode = coalesce($7, c.mode), assistant_type = coalesce($8, c.assistant_type), "
      "handoff_requested_at = CASE WHEN $9::boolean THEN NULL ELSE c.handoff_requested_at END, "
      // A resolution ends the customer's mood with the case: days later a first message is
      // not read as the sixth angry one.
      "negative_streak = CASE WHEN $6 = 'resolved' THEN 0 ELSE c.negative_streak END, "
      "version = c.version + 1, updated_at = now()";
  q_contact_ = "INSERT INTO " + s +
               ".contacts AS k (contact_id, first_name, updated_at) VALUES ($1, $2, $3) "
               "ON CONFLICT (contact_id) DO UPDATE SET first_name = EXCLUDED.first_name, "
               "updated_at = EXCLUDED.updated_at WHERE k.updated_at <= EXCLUDED.updated_at";
  q_erase_contact_ = "DELETE FROM " + s + ".contacts WHERE contact_id = $1";
}

core::Result<Snapshot> Store::load(pg::Pool& pool, const std::string& conversation_id,
                                   const std::string& contact_id, const std::string& event_id,
                                   const CampaignProbe& campaign) const {
  auto rows = pool.exec(q_load_, conversation_id, consumer_, event_id, contact_id,
                        campaign.instance, campaign.phone, campaign.since, campaign.until);
  if (!rows) return rows.error();
  Snapshot s;
  if (rows->empty()) return s;
  const auto first = (*rows)[0];
  s.seen = first.get<bool>("seen");
  s.known = first.get<bool>("known");
  s.campaign = first.get<bool>("campaign");
  s.first_name = first.get<std::optional<std::string>>("first_name");
  if (s.known) {
    s.status = first.get<std::string>("status");
    s.mode = first.get<std::string>("mode");
    s.assistant =
        parse_assistant(first.get<std::string>("assistant_type")).value_or(Assistant::apresentacao);
    s.handoff_pending = first.get<bool>("handoff_pending");
    s.message_count = first.get<int>("message_count");
    s.customer_message_count = first.get<int>("customer_message_count");
    s.ai_reply_count = first.get<int>("ai_reply_count");
    s.negative_streak = first.get<int>("negative_streak");
    s.version = first.get<std::int64_t>("version");
    if (auto doc = json::parse(first.get<std::string>("registrations"))) {
      if (auto made = json::Obj::root(*doc)) {
        for (const Tool tool :
             {Tool::register_lead, Tool::register_complaint, Tool::register_payment_promise}) {
          const std::string name(to_string(tool));
          if (auto value = made->opt_str(name); value && *value) {
            s.registrations[name] = std::string(**value);
          }
        }
      }
    }
    s.thread_id = first.get<std::optional<std::string>>("thread_id");
    if (s.thread_id) {
      s.thread_count = first.get<int>("thread_count");
      s.thread_summary = first.get<std::optional<std::string>>("thread_summary").value_or("");
    }
  }
  for (const auto& row : *rows) {
    auto id = row.get<std::optional<std::string>>("message_id");
    if (!id) continue;
    s.recent.push_back(
        {std::move(*id), row.get<std::string>("author"), row.get<std::string>("content")});
  }
  return s;
}

void Store::forget_registrations(pg::Tx& tx, const std::string& conversation_id) const {
  tx.exec_later(q_forget_registrations_, conversation_id);
}

void Store::remember_reply(pg::Tx& tx, const std::string& conversation_id, int seq,
                           const std::string& reply_id, const std::string& assistant,
                           const std::string& text) const {
  tx.exec_later(q_remember_reply_, reply_id, conversation_id, seq, assistant, text);
}

core::Status Store::add_registrations(pg::Tx& tx, const std::string& conversation_id,
                                      const std::string& registrations_json) const {
  auto r = tx.exec(q_registrations_, conversation_id, registrations_json);
  if (!r) return r.error();
  return core::ok();
}

core::Status Store::note_campaign(pg::Tx& tx, const std::string& instance, const std::string& phone,
                                  core::SysTime at) const {
  auto r = tx.exec("INSERT INTO " + pg::quote_ident(schema_) +
                       ".campaign_chats AS c (instance, phone, requested_at) VALUES ($1, $2, $3) "
                       "ON CONFLICT (instance, phone) DO UPDATE SET requested_at = "
                       "GREATEST(c.requested_at, EXCLUDED.requested_at)",
                   instance, phone, at);
  if (!r) return r.error();
  return core::ok();
}

core::Result<bool> Store::claim(pg::Tx& tx, const std::string& event_id) const {
  return pg::inbox_claim(tx, schema_, consumer_, event_id);
}

core::Result<Recorded> Store::record_message(pg::Tx& tx, const MessageRecord& m) const {
  const std::optional<std::int64_t> expected = m.expected_version;
  auto rows = tx.exec(q_record_, m.chat.conversation_id, m.chat.contact_id, m.chat.provider,
                      m.chat.instance, m.chat.chat_id, m.status, m.mode, to_string(m.assistant),
                      m.set_assistant, m.request_handoff, m.from_customer ? 1 : 0,
                      m.from_ai ? 1 : 0, m.negative, m.sentiment, m.sentiment_score, m.urgency,
                      m.last_intent, expected, m.message_id, m.direction, m.author, m.kind,
                      m.message_assistant, m.content, m.sent_at, m.keep_recent);
  if (!rows) return rows.error();
  if (rows->empty()) return changed_meanwhile(m.chat.conversation_id);
  const auto row = (*rows)[0];
  Recorded r;
  r.message_count = row.get<int>(0);
  r.thread_id = row.get<std::optional<std::string>>(1);
  r.thread_count = row.get<std::optional<int>>(2).value_or(0);
  return r;
}

core::Result<std::string> Store::open_thread(pg::Tx& tx, const std::string& conversation_id,
                                             int message_count, const std::string& summary) const {
  const auto id = core::Uuid::v7().str();
  auto r = tx.exec(q_open_thread_, id, conversation_id, id, message_count, summary);
  if (!r) return r.error();
  return id;
}

core::Result<std::string> Store::close_thread(pg::Tx& tx, const std::string& conversation_id,
                                              const std::string& reason, bool open_next) const {
  auto rows = tx.exec(q_close_load_, conversation_id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::string();  // no open thread
  const auto first = (*rows)[0];
  SummaryInput in;
  in.assistant = parse_assistant(first.get<std::string>(0)).value_or(Assistant::apresentacao);
  if (auto s = first.get<std::optional<std::string>>(1)) {
    in.last_sentiment = *s == "negative"   ? Sentiment::negative
                        : *s == "positive" ? Sentiment::positive
                                           : Sentiment::neutral;
  }
  const auto thread_id = first.get<std::string>(2);
  in.message_count = first.get<int>(3);
  in.previous_summary = first.get<std::optional<std::string>>(4).value_or("");
  for (const auto& row : *rows) {
    auto id = row.get<std::optional<std::string>>(5);
    if (!id) continue;
    in.recent.push_back({std::move(*id), row.get<std::string>(6), row.get<std::string>(7)});
  }
  auto summary = summarize_thread(in);
  auto closed =
      tx.exec(q_close_thread_, thread_id, reason, summary, text_array(preserved_ids(in.recent)));
  if (!closed) return closed.error();
  if (open_next) {
    auto next = open_thread(tx, conversation_id, 0, summary);
    if (!next) return next.error();
  }
  return summary;
}

core::Status Store::apply_state(pg::Tx& tx, const StateWrite& w) const {
  auto r = tx.exec(q_state_, w.chat.conversation_id, w.chat.contact_id, w.chat.provider,
                   w.chat.instance, w.chat.chat_id, w.status, w.mode, w.assistant, w.clear_handoff);
  if (!r) return r.error();
  // A reply not confirmed by now was dropped by conversation (the chat changed hands or ended
  // before it could go out): its message.stored came before this state change, or never.
  if (w.forget_unconfirmed) tx.exec_later(q_forget_unconfirmed_, w.chat.conversation_id);
  return core::ok();
}

core::Status Store::upsert_contact(pg::Pool& pool, const std::string& contact_id,
                                   const std::optional<std::string>& first_name,
                                   const std::string& updated_at) const {
  auto r = pool.exec(q_contact_, contact_id, first_name, updated_at);
  if (!r) return r.error();
  return core::ok();
}

core::Status Store::erase_contact(pg::Pool& pool, const std::string& contact_id) const {
  auto r = pool.exec(q_erase_contact_, contact_id);
  if (!r) return r.error();
  return core::ok();
}

// ---- outages and prompts ----------------------------------------------------------------

PgOutages::PgOutages(std::shared_ptr<pg::Pool> pool, const std::string& schema)
    : pool_(std::move(pool)) {
  query_ =
      "SELECT id, cep_prefix, region, description, "
      "to_char(eta AT TIME ZONE 'America/Sao_Paulo', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '-03:00' "
      "FROM " +
      pg::quote_ident(schema) +
      ".outages "
      "WHERE closed_at IS NULL AND starts_with($1, cep_prefix) "
      "ORDER BY length(cep_prefix) DESC, opened_at DESC LIMIT 1";
}

core::Result<std::optional<Outage>> PgOutages::find(std::string_view cep) {
  auto rows = pool_->exec(query_, cep);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Outage>{};
  const auto row = (*rows)[0];
  Outage o;
  o.id = row.get<std::string>(0);
  o.cep_prefix = row.get<std::string>(1);
  o.region = row.get<std::string>(2);
  o.description = row.get<std::string>(3);
  o.eta = row.get<std::optional<std::string>>(4);
  return std::optional<Outage>(std::move(o));
}

PgPrompts::PgPrompts(std::shared_ptr<pg::Pool> pool, const std::string& schema,
                     std::chrono::milliseconds ttl, const core::Clock& clock)
    : pool_(std::move(pool)), ttl_(ttl), clock_(&clock) {
  query_ = "SELECT content, coalesce(instructions, ''), temperature FROM " +
           pg::quote_ident(schema) +
           ".prompt_templates WHERE assistant_type = $1 AND status = 'active'";
}

std::optional<Prompt> PgPrompts::prompt(Assistant assistant) {
  const int key = static_cast<int>(assistant);
  const auto now = clock_->now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.loaded_at < ttl_) return it->second.prompt;
  }
  auto rows = pool_->exec(query_, to_string(assistant));
  std::lock_guard lock(mu_);
  if (!rows) {
    auto it = cache_.find(key);
    return it != cache_.end() ? it->second.prompt : std::nullopt;
  }
  std::optional<Prompt> p;
  if (!rows->empty()) {
    const auto row = (*rows)[0];
    p = Prompt{row.get<std::string>(0), row.get<std::string>(1), row.get<std::optional<int>>(2)};
  }
  cache_[key] = Entry{p, now};
  return p;
}

void PgPrompts::invalidate() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

}  // namespace lia::ai_orchestration
