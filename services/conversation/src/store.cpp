#include "store.hpp"

#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/pg/connection.hpp>
#include <lia/runtime/events.hpp>

namespace lia::conversation::store {

std::string ts(std::string_view col) {
  return "to_char(" + std::string(col) +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}

std::string conversation_columns() {
  return "c.id::text, c.provider, c.instance, c.chat_id, c.contact_id::text, c.assistant_type, "
         "c.department, c.status, c.mode, c.assigned_to::text, c.survey_id::text, " +
         // A resolution that starts a new survey cleared the last one: until
         // nps_gamification's survey.sent arrives (another topic, so possibly after the
         // customer's reply), the window opens at the resolution itself. One that kept a
         // survey still open goes on with that survey's window (api.cpp, resolve).
         ts("COALESCE(c.survey_sent_at, CASE WHEN c.status = 'resolved' THEN c.resolved_at END)") +
         ", CASE WHEN c.survey_failed THEN 2 WHEN c.survey_answered THEN 1 ELSE 0 END, " +
         // The survey's own window (nps_gamification's LIA_NPS_WINDOW_HOURS), once known.
         "EXTRACT(EPOCH FROM c.survey_expires_at - c.survey_sent_at)::bigint";
}

ConversationRow read_conversation(const pg::Row& r) {
  ConversationRow c;
  c.id = r.get<std::string>(0);
  c.provider = r.get<std::string>(1);
  c.instance = r.get<std::string>(2);
  c.chat_id = r.get<std::string>(3);
  c.contact_id = r.get<std::string>(4);
  c.assistant = r.get<std::string>(5);
  c.department = r.get<std::string>(6);
  c.state.status = domain::parse_conversation_status(r.get<std::string>(7))
                       .value_or(domain::ConversationStatus::active);
  c.state.mode =
      domain::parse_conversation_mode(r.get<std::string>(8)).value_or(domain::ConversationMode::ai);
  c.assigned_to = r.get<std::optional<std::string>>(9);
  c.survey_id = r.get<std::optional<std::string>>(10);
  if (auto sent = r.get<std::optional<std::string>>(11)) c.survey_sent_at = parse_time(*sent);
  c.survey_failed = r.get<int>(12) == 2;
  c.survey_answered = r.get<int>(12) == 1;
  if (auto window = r.get<std::optional<std::int64_t>>(13); window && *window > 0) {
    c.survey_window = std::chrono::seconds{*window};
  }
  return c;
}

std::string view_columns() {
  return "c.id::text, c.provider, c.instance, c.chat_id, c.contact_id::text, k.name, k.push_name, "
         "k.phone, c.assistant_type, c.department, c.status, c.mode, c.sentiment, c.urgency, "
         "c.assigned_to::text, c.transfer_reason, " +
         ts("c.transferred_at") + ", c.resolved_by::text, " + ts("c.resolved_at") +
         ", c.last_message, " + ts("c.last_message_time") + ", " + ts("c.created_at") + ", " +
         ts("c.updated_at");
}

ConversationView read_view(const pg::Row& r) {
  ConversationView v;
  v.id = r.get<std::string>(0);
  v.provider = r.get<std::string>(1);
  v.instance = r.get<std::string>(2);
  v.chat_id = r.get<std::string>(3);
  v.contact_id = r.get<std::string>(4);
  v.contact_name = r.get<std::optional<std::string>>(5);
  v.contact_push_name = r.get<std::optional<std::string>>(6);
  v.contact_phone = r.get<std::string>(7);
  v.assistant = r.get<std::string>(8);
  v.department = r.get<std::string>(9);
  v.status = r.get<std::string>(10);
  v.mode = r.get<std::string>(11);
  v.sentiment = r.get<std::string>(12);
  v.urgency = r.get<std::string>(13);
  v.assigned_to = r.get<std::optional<std::string>>(14);
  v.transfer_reason = r.get<std::optional<std::string>>(15);
  v.transferred_at = r.get<std::optional<std::string>>(16);
  v.resolved_by = r.get<std::optional<std::string>>(17);
  v.resolved_at = r.get<std::optional<std::string>>(18);
  v.last_message = r.get<std::optional<std::string>>(19);
  v.last_message_time = r.get<std::string>(20);
  v.created_at = r.get<std::string>(21);
  v.updated_at = r.get<std::string>(22);
  return v;
}

std::string message_columns() {
  return "m.id::text, m.conversation_id::text, m.direction, m.author, m.agent_user_id::text, "
         "m.assistant, m.kind, m.content, m.media::text, m.location::text, m.route, m.is_private, "
         "m.whatsapp_message_id, m.whatsapp_status, m.status_reason, " +
         ts("m.created_at");
}

MessageView read_message(const pg::Row& r) {
  MessageView m;
  m.id = r.get<std::string>(0);
  m.conversation_id = r.get<std::string>(1);
  m.direction = r.get<std::string>(2);
  m.author = r.get<std::string>(3);
  m.agent_user_id = r.get<std::optional<std::string>>(4);
  m.assistant = r.get<std::optional<std::string>>(5);
  m.kind = r.get<std::string>(6);
  m.content = r.get<std::optional<std::string>>(7);
  m.media_json = r.get<std::optional<std::string>>(8);
  m.location_json = r.get<std::optional<std::string>>(9);
  m.route = r.get<std::optional<std::string>>(10);
  m.is_private = r.get<bool>(11);
  m.whatsapp_message_id = r.get<std::optional<std::string>>(12);
  m.whatsapp_status = r.get<std::optional<std::string>>(13);
  m.status_reason = r.get<std::optional<std::string>>(14);
  m.created_at = r.get<std::string>(15);
  return m;
}

std::string user_columns() {
  return "u.id::text, u.username, u.full_name, u.email, u.role, u.status, u.departments::text, " +
         ts("u.last_login_at") + ", " + ts("u.created_at") + ", " + ts("u.updated_at") +
         ", u.participates_in_gamification, " + ts("u.tokens_valid_from");
}

UserView read_user(const pg::Row& r) {
  UserView u;
  u.id = r.get<std::string>(0);
  u.username = r.get<std::string>(1);
  u.full_name = r.get<std::string>(2);
  u.email = r.get<std::optional<std::string>>(3);
  u.role = auth::parse_role(r.get<std::string>(4)).value_or(auth::Role::agent);
  u.active = r.get<std::string>(5) == "ACTIVE";
  u.departments = parse_text_array(r.get<std::string>(6));
  u.last_login_at = r.get<std::optional<std::string>>(7);
  u.created_at = r.get<std::string>(8);
  u.updated_at = r.get<std::string>(9);
  u.participates_in_gamification = r.get<bool>(10);
  u.tokens_valid_from = r.get<std::optional<std::string>>(11);
  return u;
}

Sql::Sql(const std::string& schema) : schema_(schema) {
  const std::string conv = t("conversations");
  conversation_by_id_for_update =
      "SELECT " + conversation_columns() + " FROM " + conv + " c WHERE c.id = $1::uuid FOR UPDATE";
  // One chat id, an equality on the unique index: a prepared statement's generic plan keeps
  // using it, whatever the statistics said when it was made (`chat_id = ANY (...)` was planned
  // as a sequential scan of a table analyzed while empty: 1.5 ms a message in the benchmark).
  conversation_by_chat_for_update = "SELECT " + conversation_columns() + " FROM " + conv +
                                    " c WHERE c.instance = $1 AND c.chat_id = $2 FOR UPDATE";
  conversation_by_contact_for_update =
      "SELECT " + conversation_columns() + " FROM " + conv +
      " c WHERE c.instance = $1 AND c.contact_id = $2::uuid ORDER BY c.last_message_time DESC "
      "LIMIT 1 FOR UPDATE";
  insert_conversation = "INSERT INTO " + conv +
                        " AS c (id, provider, instance, chat_id, contact_id) VALUES ($1, $2, $3, "
                        "$4, $5) ON CONFLICT (instance, chat_id) DO NOTHING RETURNING " +
                        conversation_columns();
  bump_contact_conversations = "UPDATE " + t("contacts") +
                               " SET total_conversations = total_conversations + 1 WHERE id = $1";
  touch_conversation =
      "UPDATE " + conv +
      // last_message_time only moves forward: a transaction that waited for the row writes
      // after the one it waited for, never the earlier time it started at.
      " SET last_message = COALESCE($2, last_message), last_message_time = "
      "GREATEST(last_message_time, clock_timestamp()), updated_at = "
      "now(), status = $3, mode = $4, "
      "assigned_to = CASE WHEN $5 THEN NULL ELSE assigned_to END, "
      "transferred_to_human = CASE WHEN $5 THEN false ELSE transferred_to_human END, "
      "resolved_by = CASE WHEN $5 THEN NULL ELSE resolved_by END, "
      "resolved_at = CASE WHEN $5 THEN NULL ELSE resolved_at END, "
      // Not before the resolution it reopens: in a consumer's batch now() is the batch's
      // BEGIN, which may come before a resolution committed while the batch waited for this
      // row; the last session's closing messages would then count in the new one.
      "opened_at = CASE WHEN $5 THEN GREATEST(now(), resolved_at) ELSE opened_at END, "
      // A customer's new message after a resolution is a new request: routed afresh from
      // apresentacao, not answered by the specialist of the last one (ai_orchestration resets
      // its read model on conversation.reopened the same way).
      "assistant_type = CASE WHEN $5 THEN 'apresentacao' ELSE assistant_type END, "
      "department = CASE WHEN $5 THEN 'general' ELSE department END, "
      // A score routed to the survey answers it here and now: a further one goes to the survey
      // only shortly after (kFurtherScoreWindow), later a number is the customer's message.
      "survey_answered = survey_answered OR $6 WHERE id = $1";
  // Dated when written, not at the transaction's start: in a consumer's batch now() is its
  // BEGIN, and a message stored after a reopening later in the same batch would otherwise be
  // dated before the session it belongs to (see opened_at above), its reply then dropped as
  // an earlier session's. The reopening message itself, written under the conversation's lock
  // after the resolution committed (resolved_at is dated under that lock too), comes after
  // both resolved_at and opened_at.
  insert_message =
      "INSERT INTO " + t("messages") +
      " (id, conversation_id, instance, direction, role, author, agent_user_id, assistant, "
      "content, kind, media, location, route, from_me, is_private, whatsapp_message_id, "
      "whatsapp_status, status_updated_at, send_by, command_id, reply_to_message_id, sent_at, "
      "status_reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, "
      "$12::jsonb, $13, $14, $15, $16, $17::text, CASE WHEN $17::text IS NULL THEN NULL ELSE "
      "now() END, $18, $19, $20, $21, $22, clock_timestamp()) "
      "ON CONFLICT DO NOTHING RETURNING id";
  view_by_id = "SELECT " + view_columns() + " FROM " + conv + " c JOIN " + t("contacts") +
               " k ON k.id = c.contact_id WHERE c.id = $1::uuid";
  assignment_lock = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
  pick_agent = "SELECT u.id::text FROM " + t("users") +
               " u WHERE u.status = 'ACTIVE' AND u.role = 'AGENT' AND ($1::text IS NULL OR $1 = "
               "ANY (u.departments)) ORDER BY (SELECT count(*) FROM " +
               conv +
               " c WHERE c.assigned_to = u.id AND c.status = 'transferred'), u.created_at, u.id "
               "LIMIT 1";
  insert_alert = "INSERT INTO " + t("alerts") +
                 " (id, conversation_id, type, severity, message) VALUES ($1, $2, $3, $4, $5)";
  insert_activity = "INSERT INTO " + t("activity_logs") +
                    " (id, user_id, action, ip_address, user_agent, conversation_id, "
                    "target_user_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)";
  // Usernames are one in any case: a phone's keyboard capitalises the first letter at the
  // login, and "Maria" beside "maria" would be two desk users nobody tells apart.
  insert_user = "INSERT INTO " + t("users") +
                " AS u (id, username, password_hash, full_name, email, role, departments, "
                "participates_in_gamification) SELECT $1::uuid, $2, $3, $4, $5, $6, "
                "$7::text[], $8 WHERE NOT EXISTS (SELECT 1 FROM " +
                t("users") +
                " x WHERE lower(x.username) = lower($2)) ON CONFLICT DO NOTHING RETURNING " +
                user_columns();
  // The exact name first, for two that differ in case only (made before they were one).
  user_by_username = "SELECT " + user_columns() + ", u.password_hash FROM " + t("users") +
                     " u WHERE lower(u.username) = lower($1) ORDER BY u.username = $1 DESC "
                     "LIMIT 1";
}

std::string Sql::t(std::string_view table) const {
  return pg::quote_ident(schema_) + "." + std::string(table);
}

core::Result<bool> insert_message(pg::Tx& tx, const Sql& sql, const NewMessage& m) {
  pg::Params p = pg::make_params(m.id, m.conversation_id, m.instance, m.direction, m.role, m.author,
                                 m.agent_user_id, m.assistant, m.content, m.kind, m.media_json,
                                 m.location_json, m.route, m.from_me, m.is_private,
                                 m.whatsapp_message_id, m.whatsapp_status, m.send_by, m.command_id,
                                 m.reply_to_message_id, m.sent_at, m.status_reason);
  auto r = tx.exec_params(sql.insert_message, p);
  if (!r) return r.error();
  return !r->empty();
}

void touch_conversation(pg::Tx& tx, const Sql& sql, const std::string& id,
                        const std::optional<std::string>& last_message,
                        const domain::ConversationState& next, bool reopen, bool survey_answer) {
  tx.exec_later(sql.touch_conversation, id, last_message,
                std::string(domain::to_string(next.status)),
                std::string(domain::to_string(next.mode)), reopen, survey_answer);
}

core::Status emit(pg::Tx& tx, const Sql& sql, std::string_view topic, std::string key,
                  std::string_view type, std::string subject, std::string data,
                  const core::Clock& clock) {
  runtime::Outgoing out;
  out.topic = std::string(topic);
  out.key = std::move(key);
  out.type = std::string(type);
  out.subject = std::move(subject);
  out.data = std::move(data);
  auto ev = runtime::publish(tx, sql.schema(), kServiceName, std::move(out), clock);
  if (!ev) return ev.error();
  return {};
}

core::Status lock_assignments(pg::Tx& tx, const Sql& sql) {
  auto r = tx.exec(sql.assignment_lock, sql.schema() + ".assignment");
  if (!r) return r.error();
  return {};
}

core::Result<std::optional<std::string>> pick_agent(pg::Tx& tx, const Sql& sql,
                                                    const std::string& department) {
  if (auto st = lock_assignments(tx, sql); !st) return st.error();
  std::vector<std::optional<std::string>> tries{department};
  if (department != "general") tries.emplace_back("general");
  tries.emplace_back(std::nullopt);  // any active agent
  for (const auto& dep : tries) {
    auto r = tx.exec(sql.pick_agent, dep);
    if (!r) return r.error();
    if (!r->empty()) return std::optional<std::string>((*r)[0].get<std::string>(0));
  }
  return std::optional<std::string>{};
}

core::Status add_alert(pg::Tx& tx, const Sql& sql, const std::string& conversation_id,
                       std::string_view type, std::string_view severity, std::string_view message,
                       const core::Clock& clock) {
  auto r =
      tx.exec(sql.insert_alert, core::Uuid::v7(clock), conversation_id, type, severity, message);
  if (!r) return r.error();
  return {};
}

core::Status log_activity(pg::Tx& tx, const Sql& sql, const Activity& a, const core::Clock& clock) {
  auto r = tx.exec(sql.insert_activity, core::Uuid::v7(clock), a.user_id, a.action, a.ip_address,
                   a.user_agent, a.conversation_id, a.target_user_id, a.details_json);
  if (!r) return r.error();
  return {};
}

std::string preview(std::string_view kind, std::string_view content) {
  if (!content.empty()) return std::string(core::utf8_prefix(content, 500));
  return "[" + std::string(kind) + "]";
}

}  // namespace lia::conversation::store
