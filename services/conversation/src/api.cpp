#include <algorithm>
#include <cctype>
#include <mutex>

#include <lia/auth/auth.hpp>
#include <lia/conversation/api.hpp>
#include <lia/conversation/api_bodies.hpp>
#include <lia/conversation/event_data.hpp>
#include <lia/conversation/login_throttle.hpp>
#include <lia/conversation/users.hpp>
#include <lia/core/log.hpp>
#include <lia/core/page.hpp>
#include <lia/core/text.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/json/writer.hpp>
#include <lia/pg/tx.hpp>

#include "store.hpp"

namespace lia::conversation {

using http::Request;
using http::Response;
namespace f = core::f;
namespace types = events::types;
namespace topics = events::topics;

namespace {

Response bad_request(const core::Error& e) {
  return http::json_error(400, "invalid_argument", e.message());
}
// 401 for a missing, bad or expired token, or its user gone: the challenge names the scheme.
Response bearer_challenge(std::string_view why) {
  Response r = http::json_error(401, "unauthorized", why);
  r.headers.set("WWW-Authenticate", "Bearer");
  return r;
}

Response not_found(std::string_view what) {
  return http::json_error(404, "not_found", what);
}
Response forbidden(std::string_view why) {
  return http::json_error(403, "forbidden", why);
}
Response conflict(std::string_view why) {
  return http::json_error(409, "conflict", why);
}

// A resolution while the conversation's last survey is still open (sent, unexpired, not
// failed; answered or not) gets no new survey from nps_gamification, which asks once per
// window: that survey's window goes on (a bare number still scores it, if unanswered). Any
// other resolution starts afresh, its window open from the resolution until its survey.sent.
constexpr const char* kSurveyStillOpen =
    "COALESCE(c.survey_id IS NOT NULL AND c.survey_expires_at > now() AND NOT c.survey_failed, "
    "false)";
std::string kept_survey(const std::string& column) {
  return column + " = CASE WHEN " + kSurveyStillOpen + " THEN c." + column + " END";
}

// The outcome of authenticate(): the viewer, or the response to send instead.
struct Authed {
  std::optional<Viewer> viewer;
  Response failure;
};

}  // namespace

struct Api::Impl {
  std::shared_ptr<pg::Pool> pool;
  store::Sql sql;
  ApiConfig config;
  const core::Clock& clock;
  core::Logger log = core::log().with({f::id("component", "api")});

  LoginThrottle throttle;
  LoginSlots login_slots;
  // Verified against for unknown usernames, so timing tells nothing; made at once, so the first
  // such login costs one hash as the others do.
  std::string dummy_hash;

  std::string viewer_by_id;
  std::string access_by_id;
  std::string list_users_sql;
  std::string list_conversations_sql;
  std::string list_messages_sql;
  std::string login_update;
  std::string user_state;
  std::string transfer_update;
  std::string open_assigned_to;
  std::string waiting_unassigned;
  std::string reassign_update;
  std::string resolve_update;
  std::string insert_supervisor_action;
  std::string send_key_lookup;
  std::string send_key_insert;
  std::string send_key_purge;

  Impl(std::shared_ptr<pg::Pool> p, const std::string& schema, ApiConfig c, const core::Clock& clk)
      : pool(std::move(p)),
        sql(schema),
        config(std::move(c)),
        clock(clk),
        login_slots(config.password_checks),
        dummy_hash(auth::hash_password("not a password", config.password_iterations)) {
    const std::string users = sql.t("users");
    const std::string conv = sql.t("conversations");
    viewer_by_id =
        "SELECT role, status, departments::text, (extract(epoch FROM tokens_valid_from) * "
        "1000)::bigint FROM " +
        users + " WHERE id = $1::uuid";
    access_by_id =
        "SELECT status, assigned_to::text, department FROM " + conv + " WHERE id = $1::uuid";
    list_users_sql = "SELECT " + store::user_columns() + " FROM " + users +
                     " u WHERE $1::text IS NULL OR u.username > $1 ORDER BY u.username LIMIT $2";
    // The page's order is (last_message_time, id) descending; its last item's pair, exact to
    // the microsecond, is the cursor of the next page.
    list_conversations_sql =
        "SELECT " + store::view_columns() +
        ", (extract(epoch FROM c.last_message_time) * 1000000)::bigint FROM " + conv + " c JOIN " +
        sql.t("contacts") +
        " k ON k.id = c.contact_id WHERE ($1::text IS NULL OR c.status = $1) AND ($2::uuid IS "
        "NULL OR c.assigned_to = $2::uuid) AND ($3::boolean OR c.assigned_to = $4::uuid OR "
        "(c.assigned_to IS NULL AND c.status = 'transferred' AND c.department = ANY "
        "($5::text[]))) AND ($7::bigint IS NULL OR (c.last_message_time, c.id) < (timestamptz "
        "'epoch' + $7::bigint * interval '1 microsecond', $8::uuid)) ORDER BY "
        "c.last_message_time DESC, c.id DESC LIMIT $6";
    // The latest $2 (before the cursor $3, $4), oldest first; the last column is the
    // message's time in microseconds, for the next page's cursor.
    list_messages_sql =
        "SELECT * FROM (SELECT " + store::message_columns() +
        ", m.created_at AS sort_at, m.id AS sort_id, (extract(epoch FROM m.created_at) * "
        "1000000)::bigint AS sort_us FROM " +
        sql.t("messages") +
        " m WHERE m.conversation_id = $1::uuid AND ($3::bigint IS NULL OR (m.created_at, m.id) "
        "< (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::uuid)) ORDER BY "
        "m.created_at DESC, m.id DESC LIMIT $2) x ORDER BY x.sort_at, x.sort_id";
    // Only a user still active (a deactivation may have committed while the password was
    // checked), with the revocation time as it is now. $2, when given, is the password hashed
    // again with the rounds configured now; it replaces the hash just verified ($3), not one
    // written since.
    login_update = "UPDATE " + users +
                   " SET last_login_at = now(), last_activity_at = now(), password_hash = CASE "
                   "WHEN $2::text IS NOT NULL AND password_hash = $3 THEN $2 ELSE password_hash "
                   "END WHERE id = $1::uuid AND status = 'ACTIVE' RETURNING (extract(epoch FROM "
                   "tokens_valid_from) * 1000)::bigint, floor(extract(epoch FROM "
                   "clock_timestamp()) * 1000)::bigint";
    user_state = "SELECT status FROM " + users + " WHERE id = $1::uuid";
    transfer_update =
        "UPDATE " + conv +
        " SET status = $2, mode = $3, assigned_to = $4::uuid, transferred_to_human = true, "
        "transferred_at = CASE WHEN status <> 'transferred' THEN now() ELSE transferred_at END, "
        "transfer_reason = COALESCE($5, transfer_reason), updated_at = now() WHERE id = $1::uuid";
    open_assigned_to = "SELECT id::text FROM " + conv +
                       " WHERE assigned_to = $1::uuid AND status = 'transferred' ORDER BY id FOR "
                       "UPDATE";
    // The queue nobody could take: the oldest transfer first.
    waiting_unassigned = "SELECT id::text FROM " + conv +
                         " WHERE assigned_to IS NULL AND status = 'transferred' ORDER BY "
                         "transferred_at NULLS FIRST, id FOR UPDATE";
    reassign_update =
        "UPDATE " + conv + " SET assigned_to = $2::uuid, updated_at = now() WHERE id = $1::uuid";
    // Dated when the row is locked, not at the transaction's start: a message written by a
    // transaction the resolve waited for (a reply, an agent's message) is dated when it was
    // written (store.cpp's insert_message), so it must count in the session this resolve ends,
    // not in the next one.
    resolve_update =
        "UPDATE " + conv +
        " c SET status = 'resolved', resolved_by = $2::uuid, resolved_at = clock_timestamp(), "
        "resolution_time = GREATEST(0, extract(epoch FROM clock_timestamp() - "
        "c.opened_at))::integer, "
        "transferred_to_human = false, " +
        kept_survey("survey_id") + ", " + kept_survey("survey_sent_at") + ", " +
        kept_survey("survey_expires_at") + ", " + kept_survey("survey_score") +
        ", survey_answered = c.survey_answered AND " + kSurveyStillOpen +
        ", survey_failed = false, updated_at = now() WHERE c.id = $1::uuid RETURNING "
        "GREATEST(0, extract(epoch FROM clock_timestamp() - c.opened_at) * 1000)::bigint, (SELECT "
        "count(*) "
        "FROM " +
        sql.t("messages") +
        " m WHERE m.conversation_id = c.id AND NOT m.is_private AND m.created_at >= c.opened_at)";
    insert_supervisor_action = "INSERT INTO " + sql.t("supervisor_actions") +
                               " (id, conversation_id, action, notes, created_by) VALUES ($1, $2, "
                               "$3, $4, $5)";
    const std::string keys = sql.t("agent_send_keys");
    send_key_lookup = "SELECT request_sha256, message_id::text, command_id::text FROM " + keys +
                      " WHERE user_id = $1::uuid AND idempotency_key = $2";
    send_key_insert = "INSERT INTO " + keys +
                      " (user_id, idempotency_key, request_sha256, conversation_id, message_id, "
                      "command_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING "
                      "RETURNING 1";
    send_key_purge = "DELETE FROM " + keys + " WHERE created_at < now() - $1::interval";
  }

  Response db_error(const core::Error& e) {
    log.error("database error in the API", {f::str("error", e.describe())});
    if (e.retryable()) return http::json_error(503, "unavailable", "database unavailable; retry");
    if (pg::commit_outcome_unknown(e)) {
      // The change may or may not have been written: a retry of a message with the same
      // Idempotency-Key is answered from the first if it was.
      return http::json_error(503, "outcome_unknown",
                              "the database connection was lost while the change was being "
                              "committed: it may have been made; retry (a message with the same "
                              "Idempotency-Key is not sent twice)");
    }
    return http::json_error(500, "internal", "internal error");
  }

  // Checks the bearer token, then that the user still exists, is active and was not
  // deactivated since the token was issued; the role and departments come from the database
  // (a demoted user loses rights at once).
  Authed authenticate(const Request& req, auth::Role need) {
    Authed a;
    auto claims = auth::verify_bearer(req.header("Authorization"), config.jwt_secret, clock);
    if (!claims) {
      a.failure = bearer_challenge(claims.error().message());
      return a;
    }
    if (!is_uuid(claims->subject)) {
      a.failure = bearer_challenge("token subject is not a user id");
      return a;
    }
    auto rows = pool->exec(viewer_by_id, claims->subject);
    if (!rows) {
      a.failure = db_error(rows.error());
      return a;
    }
    if (rows->empty() || (*rows)[0].get<std::string>(1) != "ACTIVE") {
      a.failure = bearer_challenge("user is unknown or inactive");
      return a;
    }
    // iat is in whole seconds: a token of the deactivation's own second is refused too.
    if (const auto valid_from = (*rows)[0].get<std::optional<std::int64_t>>(3);
        valid_from && claims->issued_at * 1000 < *valid_from) {
      a.failure =
          bearer_challenge("token was issued before the user was deactivated; log in again");
      return a;
    }
    Viewer v;
    v.user_id = claims->subject;
    v.role = auth::parse_role((*rows)[0].get<std::string>(0)).value_or(auth::Role::agent);
    v.departments = parse_text_array((*rows)[0].get<std::string>(2));
    if (!auth::role_at_least(v.role, need)) {
      a.failure = forbidden("requires role " + std::string(auth::to_string(need)) + " or above");
      return a;
    }
    a.viewer = std::move(v);
    return a;
  }

  // The {id} path parameter as a conversation id, or the 400 to answer.
  static std::optional<Response> check_id(const Request& req, std::string& id,
                                          std::string_view of = "conversation") {
    const auto* p = req.param("id");
    if (p == nullptr || !is_uuid(*p)) {
      return bad_request(core::Error(core::Errc::invalid_argument,
                                     "field 'id' must be a " + std::string(of) + " id (UUID)"));
    }
    id = *p;
    for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return std::nullopt;
  }

  static ConversationAccess access_of(const ConversationRow& c) {
    return {std::string(domain::to_string(c.state.status)), c.assigned_to, c.department};
  }

  core::Result<std::optional<ConversationRow>> conversation_for_update(pg::Tx& tx,
                                                                       const std::string& id) {
    auto r = tx.exec(sql.conversation_by_id_for_update, id);
    if (!r) return r.error();
    if (r->empty()) return std::optional<ConversationRow>{};
    return std::optional<ConversationRow>(store::read_conversation((*r)[0]));
  }

  core::Result<std::string> view_json(pg::Tx& tx, const std::string& id) {
    auto v = tx.exec(sql.view_by_id, id);
    if (!v) return v.error();
    if (v->empty()) return core::Error(core::Errc::internal, "conversation vanished");
    return conversation_json(store::read_view((*v)[0]));
  }

  core::Status emit_chat(pg::Tx& tx, const ConversationRow& c, std::string_view type,
                         std::string data) {
    return store::emit(tx, sql, topics::conversation_events,
                       events::chat_key(c.instance, c.chat_id), type, c.id, std::move(data), clock);
  }

  // Each conversation of `ids` (locked in this order) goes to the least-loaded active agent
  // of its department, as a handoff would: `conversation.assigned` naming the previous agent
  // and `by`; with nobody left, it waits unassigned in its queue with an alert saying `why`
  // (and `conversation.unassigned` when it had an agent).
  // The caller holds the assignment lock, so a handoff that saw another state has committed.
  core::Status assign_each(pg::Tx& tx, const pg::Rows& ids, const std::string& by,
                           std::string_view why) {
    for (const auto& row : ids) {
      auto conv = conversation_for_update(tx, row.get<std::string>(0));
      if (!conv) return conv.error();
      if (!*conv) continue;
      const ConversationRow& c = **conv;
      auto picked = store::pick_agent(tx, sql, c.department);
      if (!picked) return picked.error();
      if (!*picked) {
        if (c.assigned_to) {
          if (auto up = tx.exec(reassign_update, c.id, *picked); !up) return up.error();
          auto st = emit_chat(tx, c, types::conversation_unassigned,
                              unassigned_data(store::chat_of(c), *c.assigned_to, c.department, by));
          if (!st) return st.error();
        }
        auto st = store::add_alert(tx, sql, c.id, "no_agent_available", "high",
                                   std::string(why) + c.department, clock);
        if (!st) return st.error();
        continue;
      }
      if (auto up = tx.exec(reassign_update, c.id, *picked); !up) return up.error();
      auto st = emit_chat(tx, c, types::conversation_assigned,
                          assigned_data(store::chat_of(c), **picked, c.assigned_to, by));
      if (!st) return st.error();
    }
    return {};
  }

  // A deactivated user's open conversations go to another agent (assign_each); nobody but a
  // supervisor would see them otherwise, and the customer's messages would reach an agent who
  // can no longer log in. Returns how many moved.
  core::Result<std::int64_t> reassign_from(pg::Tx& tx, const std::string& user_id,
                                           const std::string& by) {
    if (auto st = store::lock_assignments(tx, sql); !st) return st.error();
    auto open = tx.exec(open_assigned_to, user_id);
    if (!open) return open.error();
    auto st =
        assign_each(tx, *open, by, "its agent was deactivated and no active agent is left for ");
    if (!st) return st.error();
    return static_cast<std::int64_t>(open->size());
  }

  // A user who is now an active agent ends the wait of the conversations that found nobody
  // (a handoff, or a deactivation, with no active agent left): each goes to the least-loaded
  // agent, this one or another. Without this, they would stay unassigned, and an agent can
  // see a queued conversation but not answer it. Returns how many were assigned.
  core::Result<std::int64_t> assign_waiting(pg::Tx& tx, const UserView& user,
                                            const std::string& by) {
    if (!user.active || user.role != auth::Role::agent) return std::int64_t{0};
    if (auto st = store::lock_assignments(tx, sql); !st) return st.error();
    auto waiting = tx.exec(waiting_unassigned);
    if (!waiting) return waiting.error();
    auto st = assign_each(tx, *waiting, by, "no active agent is left for ");
    if (!st) return st.error();
    return static_cast<std::int64_t>(waiting->size());
  }

  // An admin's change to a user, in the activity log.
  core::Status log_user_action(pg::Tx& tx, const std::string& by, std::string action,
                               const std::string& user_id, std::string details) {
    return store::log_activity(tx, sql,
                               {by, std::move(action), std::nullopt, std::nullopt, std::nullopt,
                                user_id, std::move(details)},
                               clock);
  }

  // ---- routes ----------------------------------------------------------------------

  Response login(const Request& req) {
    auto body = parse_login(req.body);
    if (!body) return bad_request(body.error());
    // Unknown usernames are counted too, so the answer tells nothing about who exists. The
    // try is counted before the password is checked; a success takes it back.
    if (auto wait = throttle.attempt(body->username, clock.now()); wait.count() > 0) {
      log.warn("login refused: too many failed attempts",
               {f::num("retry_after_s", static_cast<std::int64_t>(wait.count()))});
      Response r = http::json_error(429, "too_many_attempts",
                                    "too many failed logins for this user; retry later");
      r.headers.set("Retry-After", std::to_string(wait.count()));
      return r;
    }
    // Usernames are ASCII (users are made so). Another name could match one only through the
    // database's case folding ("admİn" and "\u212Aiki" are "admin" and "kiki" to lower()), and
    // would count its failures apart from that user's: it is looked up as no one.
    const bool ascii = std::all_of(body->username.begin(), body->username.end(),
                                   [](unsigned char c) { return c < 0x80; });
    auto rows = pool->exec(sql.user_by_username, ascii ? body->username : std::string());
    if (!rows) {
      throttle.not_tried(body->username);  // the database's failure, not a wrong password
      return db_error(rows.error());
    }
    // Only the hash holds a slot: the lookup above may wait on the database.
    auto slot = login_slots.try_enter();
    if (!slot) {
      throttle.not_tried(body->username);
      log.warn("login refused: every password check slot is taken");
      Response r = http::json_error(503, "busy", "too many logins at once; retry in a second");
      r.headers.set("Retry-After", "1");
      return r;
    }
    if (rows->empty()) {
      (void)auth::verify_password(body->password, dummy_hash);
      return http::json_error(401, "unauthorized", "invalid username or password");
    }
    const auto& row = (*rows)[0];
    UserView user = store::read_user(row);
    const auto hash = row.get<std::string>("password_hash");
    const bool right = auth::verify_password(body->password, hash);
    // A hash of fewer rounds (or of the older SHA-256 scheme) is made again now, while the
    // password is at hand; the login's update stores it. A wrong password against such a hash
    // takes as long as against a current one (or the unknown usernames' dummy).
    std::optional<std::string> rehashed;
    if (!right) {
      (void)auth::pad_failed_check(body->password, hash, config.password_iterations);
    } else if (user.active && auth::password_needs_rehash(hash, config.password_iterations)) {
      rehashed = auth::hash_password(body->password, config.password_iterations);
    }
    slot.reset();
    if (!right) {
      log.info("login refused", {f::id("user_id", user.id)});
      return http::json_error(401, "unauthorized", "invalid username or password");
    }
    throttle.succeeded(body->username);
    if (!user.active) return forbidden("user is inactive");
    const auto* ua = req.header("User-Agent");
    bool still_active = false;
    std::optional<std::int64_t> valid_from_ms;
    std::int64_t locked_at_ms = 0;  // the database's clock, the user's row locked
    auto st = pg::transact(*pool, [&](pg::Tx& tx) -> core::Status {
      auto r = tx.exec(login_update, user.id, rehashed, hash);
      if (!r) return r.error();
      still_active = !r->empty();
      if (!still_active) return core::ok();
      valid_from_ms = (*r)[0].get<std::optional<std::int64_t>>(0);
      locked_at_ms = (*r)[0].get<std::int64_t>(1);
      return store::log_activity(
          tx, sql,
          {user.id, "login",
           req.remote_address.empty() ? std::nullopt
                                      : std::optional<std::string>(req.remote_address),
           ua != nullptr ? std::optional<std::string>(core::valid_utf8(*ua, 512)) : std::nullopt,
           std::nullopt, std::nullopt, "{}"},
          clock);
    });
    if (!st) return db_error(st.error());
    if (!still_active) return forbidden("user is inactive");
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
    auth::Claims claims;
    claims.subject = user.id;
    claims.username = user.username;
    claims.role = user.role;
    // Dated no later than the database's clock while the row was locked: a deactivation
    // waiting for that lock takes its cut-off from the same clock once it has it, so the token
    // is before it even if this pod's clock runs ahead (update_user). After a deactivation
    // within this very second, iat (whole seconds) would put the token before it: it is dated
    // the next second instead (the token checks allow an iat up to a minute ahead of their
    // clock).
    const std::int64_t issued_s = std::min<std::int64_t>(now_s, locked_at_ms / 1000);
    claims.issued_at =
        valid_from_ms ? std::max<std::int64_t>(issued_s, (*valid_from_ms + 999) / 1000) : issued_s;
    claims.expires_at =
        now_s + std::chrono::duration_cast<std::chrono::seconds>(config.token_ttl).count();
    const std::string token = auth::sign_jwt(claims, config.jwt_secret);
    log.info("user logged in",
             {f::id("user_id", user.id), f::id("role", std::string(auth::to_string(user.role)))});
    return Response::json(200, login_response_json(token, claims.expires_at, user));
  }

  Response create_user_route(const Request& req) {
    auto a = authenticate(req, auth::Role::admin);
    if (!a.viewer) return a.failure;
    auto body = parse_new_user(req.body);
    if (!body) return bad_request(body.error());
    std::int64_t assigned = 0;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<UserView> {
      auto created =
          conversation::create_user(tx, sql.schema(), *body, config.password_iterations, clock);
      if (!created) return created.error();
      auto took = assign_waiting(tx, *created, a.viewer->user_id);
      if (!took) return took.error();
      assigned = *took;
      json::Writer details;
      details.begin_object()
          .field("username", created->username)
          .field("role", std::string(auth::to_string(created->role)))
          .field("assigned_waiting_conversations", assigned)
          .end_object();
      if (auto st =
              log_user_action(tx, a.viewer->user_id, "create_user", created->id, details.take());
          !st) {
        return st.error();
      }
      return created;
    });
    if (!r) {
      if (r.error().code() == core::Errc::conflict) return conflict(r.error().message());
      return db_error(r.error());
    }
    log.info("user created",
             {f::id("user_id", r->id), f::id("role", std::string(auth::to_string(r->role))),
              f::id("by", a.viewer->user_id), f::num("assigned_waiting_conversations", assigned)});
    return Response::json(201, user_json(*r));
  }

  // An admin changes a user's role, status, departments or name. The change holds at once
  // here (every request re-reads its user); the other services learn it from user.upserted.
  Response update_user_route(const Request& req) {
    auto a = authenticate(req, auth::Role::admin);
    if (!a.viewer) return a.failure;
    std::string id;
    if (auto bad = check_id(req, id, "user")) return *bad;
    auto body = parse_user_update(req.body);
    if (!body) return bad_request(body.error());
    // Keeps at least the admin who asks: nobody locks the desk's last admin out by mistake.
    if (id == a.viewer->user_id &&
        ((body->role && *body->role != auth::Role::admin) || (body->active && !*body->active))) {
      return conflict("an admin cannot demote or deactivate themselves");
    }
    std::int64_t reassigned = 0;
    std::int64_t assigned = 0;
    bool caller_gone = false;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<UserView> {
      reassigned = 0;
      assigned = 0;
      // The active admins, locked in one order: of two admins demoting or deactivating each
      // other at once, the second waits for the first and then finds it is no admin any
      // more (authenticate() read its role before). The desk always keeps one admin. NO KEY
      // UPDATE: a resolve or transfer naming an admin (a foreign key) does not wait on it.
      auto admins = tx.exec("SELECT bool_or(id = $1::uuid) FROM (SELECT id FROM " + sql.t("users") +
                                " WHERE role = 'ADMIN' AND status = 'ACTIVE' ORDER BY id FOR "
                                "NO KEY UPDATE) a",
                            a.viewer->user_id);
      if (!admins) return admins.error();
      caller_gone = (*admins)[0].is_null(0) || !(*admins)[0].get<bool>(0);
      if (caller_gone) return core::Error(core::Errc::unauthorized, "no longer an active admin");
      auto updated = conversation::update_user(tx, sql.schema(), id, *body, clock);
      if (!updated) return updated.error();
      if (!updated->active) {
        auto moved = reassign_from(tx, updated->id, a.viewer->user_id);
        if (!moved) return moved.error();
        reassigned = *moved;
      } else {
        auto took = assign_waiting(tx, *updated, a.viewer->user_id);
        if (!took) return took.error();
        assigned = *took;
      }
      json::Writer details;
      details.begin_object()
          .field("role", std::string(auth::to_string(updated->role)))
          .field("status", updated->active ? "ACTIVE" : "INACTIVE")
          .field("reassigned_conversations", reassigned)
          .field("assigned_waiting_conversations", assigned)
          .end_object();
      if (auto st =
              log_user_action(tx, a.viewer->user_id, "update_user", updated->id, details.take());
          !st) {
        return st.error();
      }
      return updated;
    });
    if (!r) {
      if (caller_gone) return forbidden("requires role ADMIN: yours changed meanwhile");
      if (r.error().code() == core::Errc::not_found) return not_found(r.error().message());
      return db_error(r.error());
    }
    log.info("user updated",
             {f::id("user_id", r->id), f::id("role", std::string(auth::to_string(r->role))),
              f::flag("active", r->active), f::id("by", a.viewer->user_id),
              f::num("reassigned_conversations", reassigned),
              f::num("assigned_waiting_conversations", assigned)});
    return Response::json(200, user_json(*r));
  }

  Response list_users(const Request& req) {
    auto a = authenticate(req, auth::Role::supervisor);
    if (!a.viewer) return a.failure;
    auto q = parse_user_list_query(req.query);
    if (!q) return bad_request(q.error());
    auto rows = pool->exec(list_users_sql, q->after, q->limit);
    if (!rows) return db_error(rows.error());
    std::string out = "{\"users\":[";
    std::string last;
    bool first = true;
    for (const auto& row : *rows) {
      if (!first) out += ',';
      first = false;
      auto user = store::read_user(row);
      out += user_json(user);
      last = std::move(user.username);
    }
    out += "]";
    // A full page may have more after it.
    if (static_cast<int>(rows->size()) == q->limit) {
      out += ",\"next_after\":\"";
      core::json_escape(out, last);
      out += '"';
    }
    out += '}';
    return Response::json(200, std::move(out));
  }

  Response list_conversations(const Request& req) {
    auto a = authenticate(req, auth::Role::agent);
    if (!a.viewer) return a.failure;
    auto q = parse_list_query(req.query);
    if (!q) return bad_request(q.error());
    const Viewer& v = *a.viewer;
    std::optional<std::string> assigned = q->assigned_to;
    if (assigned && *assigned == "me") assigned = v.user_id;
    const bool all = auth::role_at_least(v.role, auth::Role::supervisor);
    auto rows = pool->exec(
        list_conversations_sql, q->status, assigned, all,
        all ? std::nullopt : std::optional<std::string>(v.user_id),
        all ? std::nullopt : std::optional<std::string>(text_array_literal(v.departments)),
        q->limit, q->before_us, q->before_id);
    if (!rows) return db_error(rows.error());
    std::string out = "{\"conversations\":[";
    bool first = true;
    std::string next;
    for (const auto& row : *rows) {
      if (!first) out += ',';
      first = false;
      const auto view = store::read_view(row);
      out += conversation_json(view);
      next = core::page_cursor(row.get<std::int64_t>(row.columns() - 1), view.id);
    }
    out += "]";
    // A full page may have more after it.
    if (static_cast<int>(rows->size()) == q->limit) out += ",\"next_before\":\"" + next + "\"";
    out += "}";
    return Response::json(200, std::move(out));
  }

  // Loads who may see conversation `id`; the response to send when it is not `v`.
  std::optional<Response> check_view(const Viewer& v, const std::string& id) {
    auto rows = pool->exec(access_by_id, id);
    if (!rows) return db_error(rows.error());
    if (rows->empty()) return not_found("no conversation " + id);
    ConversationAccess c{(*rows)[0].get<std::string>(0),
                         (*rows)[0].get<std::optional<std::string>>(1),
                         (*rows)[0].get<std::string>(2)};
    if (!can_view(v, c)) return forbidden("this conversation is not yours to see");
    return std::nullopt;
  }

  Response get_conversation(const Request& req) {
    auto a = authenticate(req, auth::Role::agent);
    if (!a.viewer) return a.failure;
    std::string id;
    if (auto bad = check_id(req, id)) return *bad;
    // Checked on the very row answered: a transfer between a check and a read would show an
    // agent the conversation just taken from them.
    auto rows = pool->exec(sql.view_by_id, id);
    if (!rows) return db_error(rows.error());
    if (rows->empty()) return not_found("no conversation " + id);
    const auto view = store::read_view((*rows)[0]);
    if (!can_view(*a.viewer, ConversationAccess{view.status, view.assigned_to, view.department})) {
      return forbidden("this conversation is not yours to see");
    }
    return Response::json(200, conversation_json(view));
  }

  Response list_messages(const Request& req) {
    auto a = authenticate(req, auth::Role::agent);
    if (!a.viewer) return a.failure;
    std::string id;
    if (auto bad = check_id(req, id)) return *bad;
    auto q = parse_message_query(req.query);
    if (!q) return bad_request(q.error());
    auto rows = pool->exec(list_messages_sql, id, q->limit, q->before_us, q->before_id);
    if (!rows) return db_error(rows.error());
    // Checked after the read: the messages were read while the viewer could still see them
    // (a transfer between a check and the read would show an agent the new agent's messages).
    if (auto denied = check_view(*a.viewer, id)) return *denied;
    std::string out = "{\"messages\":[";
    std::string next;
    for (const auto& row : *rows) {
      const auto m = store::read_message(row);
      if (next.empty()) {
        next = core::page_cursor(row.get<std::int64_t>(row.columns() - 1), m.id);  // the oldest
      } else {
        out += ',';
      }
      out += message_json(m);
    }
    out += "]";
    // A full page may have older messages before it.
    if (static_cast<int>(rows->size()) == q->limit) out += ",\"next_before\":\"" + next + "\"";
    out += "}";
    return Response::json(200, std::move(out));
  }

  // The 202 of an agent's message, the same when a retry with its Idempotency-Key replays it.
  static Response accepted(const std::string& message_id, const std::string& command_id,
                           bool replayed) {
    json::Writer w;
    w.begin_object()
        .field("message_id", message_id)
        .field("command_id", command_id)
        .field("status", "PENDING")
        .end_object();
    Response res = Response::json(202, w.take());
    if (replayed) res.headers.add("Idempotent-Replayed", "true");
    return res;
  }

  // The answer to a request whose Idempotency-Key this user already sent: the first
  // message's 202 for the same request, 422 for another one.
  Response replay(const pg::Row& first, const std::string& request_sha256,
                  const std::string& user_id) {
    const auto message_id = first.get<std::string>(1);
    if (first.get<std::string>(0) != request_sha256) {
      log.warn("Idempotency-Key reused with a different request",
               {f::id("message_id", message_id), f::id("user_id", user_id)});
      return http::json_error(422, "idempotency_key_reused",
                              "Idempotency-Key reused with a different request");
    }
    log.info("agent message replayed (same Idempotency-Key and request)",
             {f::id("message_id", message_id), f::id("user_id", user_id)});
    return accepted(message_id, first.get<std::string>(2), true);
  }

  Response send_message(const Request& req) {
    auto a = authenticate(req, auth::Role::agent);
    if (!a.viewer) return a.failure;
    const Viewer& v = *a.viewer;
    std::string id;
    if (auto bad = check_id(req, id)) return *bad;
    auto key = http::idempotency_key(req);
    if (!key) return bad_request(key.error());
    auto text = parse_send_text(req.body);
    if (!text) return bad_request(text.error());
    const std::string request_sha256 =
        *key ? auth::to_hex(auth::sha256(id + '\n' + *text)) : std::string();
    const bool supervisor = auth::role_at_least(v.role, auth::Role::supervisor);
    std::string message_id;
    std::string command_id;
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<std::optional<Response>> {
      // The first request's answer, if it committed: a retry is answered even once the
      // conversation has moved on (resolved, transferred).
      const auto earlier = [&]() -> core::Result<std::optional<Response>> {
        auto first = tx.exec(send_key_lookup, v.user_id, **key);
        if (!first) return first.error();
        if (first->empty()) return std::optional<Response>();
        return std::optional(replay((*first)[0], request_sha256, v.user_id));
      };
      if (*key) {
        auto replayed = earlier();
        if (!replayed || *replayed) return replayed;
      }
      auto conv = conversation_for_update(tx, id);
      if (!conv) return conv.error();
      if (!*conv) return std::optional<Response>(not_found("no conversation " + id));
      const ConversationRow& c = **conv;
      if (*key) {
        // The first request may have committed while this one waited for the row (a slow
        // request the desk retried, a resolve queued between them): its key shows now.
        auto replayed = earlier();
        if (!replayed || *replayed) return replayed;
      }
      if (!can_act(v, access_of(c))) {
        return std::optional<Response>(
            forbidden("only the assigned agent or a supervisor may write here"));
      }
      if (c.state.status == domain::ConversationStatus::resolved) {
        return std::optional<Response>(conflict("the conversation is resolved"));
      }
      if (c.state.status == domain::ConversationStatus::active &&
          c.state.mode == domain::ConversationMode::ai) {
        // The assistant answers here: a person's message beside its replies would read as a
        // muddle to the customer. A supervisor takes the conversation over first.
        return std::optional<Response>(
            conflict("the assistant is answering this conversation: transfer it to a person "
                     "first (POST /api/conversations/{id}/transfer)"));
      }
      message_id = core::Uuid::v7(clock).str();
      command_id = core::Uuid::v7(clock).str();
      if (*key) {
        // A concurrent request with this key waits here for the first one's commit, then
        // inserts nothing and answers what the first one did.
        auto fresh = tx.exec(send_key_insert, v.user_id, **key, request_sha256, c.id, message_id,
                             command_id);
        if (!fresh) return fresh.error();
        if (fresh->empty()) {
          auto replayed = earlier();
          if (replayed && !*replayed) {
            return core::Error(core::Errc::unavailable, "the idempotency key went away", true);
          }
          return replayed;
        }
      }
      store::NewMessage m;
      m.id = message_id;
      m.conversation_id = c.id;
      m.instance = c.instance;
      m.direction = "outbound";
      m.role = "assistant";
      m.author = "agent";
      m.agent_user_id = v.user_id;
      m.content = *text;
      m.kind = "text";
      m.whatsapp_status = "PENDING";
      m.send_by = supervisor ? "supervisor" : "agent";
      m.command_id = command_id;
      auto ins = store::insert_message(tx, sql, m);
      if (!ins) return ins.error();
      store::touch_conversation(tx, sql, c.id, store::preview("text", *text), c.state, false);
      StoredMessageData stored;
      stored.chat = store::chat_of(c);
      stored.message_id = message_id;
      stored.direction = "outbound";
      stored.author = "agent";
      stored.agent_user_id = v.user_id;
      stored.kind = "text";
      stored.text = *text;
      stored.route = "none";
      stored.status = "PENDING";
      stored.timestamp = core::format_rfc3339(clock.now());
      if (auto st =
              emit_chat(tx, c, types::conversation_message_stored, message_stored_data(stored));
          !st) {
        return st.error();
      }
      SendTextData cmd{command_id, c.provider, c.instance, c.chat_id, c.id, message_id, *text};
      if (auto st = store::emit(tx, sql, topics::notification_commands,
                                events::chat_key(c.instance, c.chat_id),
                                types::notification_send_text, c.id, send_text_data(cmd), clock);
          !st) {
        return st.error();
      }
      return std::optional<Response>{};
    });
    if (!r) return db_error(r.error());
    if (*r) return **r;
    log.debug("agent message queued", {f::id("conversation_id", id),
                                       f::id("message_id", message_id), f::body("text", *text)});
    return accepted(message_id, command_id, false);
  }

  Response transfer(const Request& req) {
    auto a = authenticate(req, auth::Role::supervisor);
    if (!a.viewer) return a.failure;
    const Viewer& v = *a.viewer;
    std::string id;
    if (auto bad = check_id(req, id)) return *bad;
    auto body = parse_transfer(req.body);
    if (!body) return bad_request(body.error());
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Response> {
      // The assignment lock before the row, in the order a deactivation takes them.
      if (auto st = store::lock_assignments(tx, sql); !st) return st.error();
      auto conv = conversation_for_update(tx, id);
      if (!conv) return conv.error();
      if (!*conv) return not_found("no conversation " + id);
      const ConversationRow& c = **conv;
      // Another agent for a hybrid conversation keeps it hybrid unless the body says otherwise.
      const auto mode =
          body->mode.value_or(c.state.status == domain::ConversationStatus::transferred
                                  ? c.state.mode
                                  : domain::ConversationMode::human);
      auto next = domain::apply(c.state, {domain::ConversationEventKind::agent_assign, mode});
      if (!next) return conflict("the conversation is resolved");
      auto target = tx.exec(user_state, body->agent_id);
      if (!target) return target.error();
      if (target->empty() || (*target)[0].get<std::string>(0) != "ACTIVE") {
        return bad_request(
            core::Error(core::Errc::invalid_argument, "field 'agent_id' must name an active user"));
      }
      auto up = tx.exec(transfer_update, c.id, std::string(domain::to_string(next->status)),
                        std::string(domain::to_string(next->mode)), body->agent_id, body->reason);
      if (!up) return up.error();
      if (c.state != *next) {
        TransferData t;
        t.previous_mode = std::string(domain::to_string(c.state.mode));
        t.mode = std::string(domain::to_string(next->mode));
        t.requested_by = "supervisor";
        t.requested_by_user_id = v.user_id;
        t.reason = body->reason.value_or("transferred by a supervisor");
        t.department = c.department;
        t.agent_user_id = body->agent_id;
        if (auto st = emit_chat(tx, c, types::conversation_transferred,
                                transferred_data(store::chat_of(c), t));
            !st) {
          return st.error();
        }
      }
      if (c.assigned_to != body->agent_id) {
        if (auto st = emit_chat(
                tx, c, types::conversation_assigned,
                assigned_data(store::chat_of(c), body->agent_id, c.assigned_to, v.user_id));
            !st) {
          return st.error();
        }
      }
      if (auto ins = tx.exec(insert_supervisor_action, core::Uuid::v7(clock), c.id, "transfer",
                             body->reason, v.user_id);
          !ins) {
        return ins.error();
      }
      json::Writer details;
      details.begin_object()
          .field("mode", std::string(domain::to_string(next->mode)))
          .field("reason", body->reason)
          .end_object();
      if (auto st = store::log_activity(tx, sql,
                                        {v.user_id, "transfer_conversation", std::nullopt,
                                         std::nullopt, c.id, body->agent_id, details.take()},
                                        clock);
          !st) {
        return st.error();
      }
      auto view = view_json(tx, c.id);
      if (!view) return view.error();
      return Response::json(200, std::move(*view));
    });
    if (!r) return db_error(r.error());
    if (r->status == 200) {
      log.info("conversation transferred by a supervisor",
               {f::id("conversation_id", id), f::id("agent_user_id", body->agent_id),
                f::id("by", v.user_id)});
    }
    return *r;
  }

  Response resolve(const Request& req) {
    auto a = authenticate(req, auth::Role::agent);
    if (!a.viewer) return a.failure;
    const Viewer& v = *a.viewer;
    std::string id;
    if (auto bad = check_id(req, id)) return *bad;
    auto reason = parse_resolve(req.body);
    if (!reason) return bad_request(reason.error());
    auto r = pg::transact(*pool, [&](pg::Tx& tx) -> core::Result<Response> {
      auto conv = conversation_for_update(tx, id);
      if (!conv) return conv.error();
      if (!*conv) return not_found("no conversation " + id);
      const ConversationRow& c = **conv;
      if (!can_act(v, access_of(c)))
        return forbidden("only the assigned agent or a supervisor may resolve it");
      if (!domain::apply(c.state, {domain::ConversationEventKind::agent_resolve, {}})) {
        return conflict("the conversation is already resolved");
      }
      auto up = tx.exec(resolve_update, c.id, v.user_id);
      if (!up) return up.error();
      ResolveData data;
      const bool agent = v.role == auth::Role::agent;
      data.resolved_by = agent ? "agent" : "supervisor";
      data.agent_user_id = c.assigned_to
                               ? c.assigned_to
                               : (agent ? std::optional<std::string>(v.user_id) : std::nullopt);
      data.reason = *reason;
      data.duration_ms = (*up)[0].get<std::int64_t>(0);
      data.message_count = (*up)[0].get<std::int64_t>(1);
      if (auto st = emit_chat(tx, c, types::conversation_resolved,
                              resolved_data(store::chat_of(c), data));
          !st) {
        return st.error();
      }
      json::Writer details;
      details.begin_object()
          .field("duration_ms", data.duration_ms)
          .field("message_count", data.message_count)
          .end_object();
      if (auto st = store::log_activity(tx, sql,
                                        {v.user_id, "resolve_conversation", std::nullopt,
                                         std::nullopt, c.id, std::nullopt, details.take()},
                                        clock);
          !st) {
        return st.error();
      }
      auto view = view_json(tx, c.id);
      if (!view) return view.error();
      return Response::json(200, std::move(*view));
    });
    if (!r) return db_error(r.error());
    if (r->status == 200)
      log.info("conversation resolved", {f::id("conversation_id", id), f::id("by", v.user_id)});
    return *r;
  }
};

Api::Api(std::shared_ptr<pg::Pool> pool, const std::string& schema, ApiConfig config,
         const core::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(pool), schema, std::move(config), clock)) {}

Api::~Api() = default;

void Api::add_routes(http::Router& router) {
  const http::RouteOptions blocking{.blocking = true};
  router.add(
      "POST", "/api/auth/login", [this](const Request& r) { return login(r); }, blocking);
  router.add(
      "POST", "/api/users", [this](const Request& r) { return create_user(r); }, blocking);
  router.add(
      "GET", "/api/users", [this](const Request& r) { return list_users(r); }, blocking);
  router.add(
      "PATCH", "/api/users/{id}", [this](const Request& r) { return update_user(r); }, blocking);
  router.add(
      "GET", "/api/conversations", [this](const Request& r) { return list_conversations(r); },
      blocking);
  router.add(
      "GET", "/api/conversations/{id}", [this](const Request& r) { return get_conversation(r); },
      blocking);
  router.add(
      "GET", "/api/conversations/{id}/messages",
      [this](const Request& r) { return list_messages(r); }, blocking);
  router.add(
      "POST", "/api/conversations/{id}/messages",
      [this](const Request& r) { return send_message(r); }, blocking);
  router.add(
      "POST", "/api/conversations/{id}/transfer", [this](const Request& r) { return transfer(r); },
      blocking);
  router.add(
      "POST", "/api/conversations/{id}/resolve", [this](const Request& r) { return resolve(r); },
      blocking);
}

Response Api::login(const Request& req) {
  return impl_->login(req);
}
Response Api::create_user(const Request& req) {
  return impl_->create_user_route(req);
}
Response Api::update_user(const Request& req) {
  return impl_->update_user_route(req);
}
Response Api::list_users(const Request& req) {
  return impl_->list_users(req);
}
Response Api::list_conversations(const Request& req) {
  return impl_->list_conversations(req);
}
Response Api::get_conversation(const Request& req) {
  return impl_->get_conversation(req);
}
Response Api::list_messages(const Request& req) {
  return impl_->list_messages(req);
}
Response Api::send_message(const Request& req) {
  return impl_->send_message(req);
}

core::Result<std::int64_t> Api::purge_idempotency_keys(std::chrono::seconds age) {
  auto r = impl_->pool->exec(impl_->send_key_purge, std::to_string(age.count()) + " seconds");
  if (!r) return r.error();
  return r->affected();
}
Response Api::transfer(const Request& req) {
  return impl_->transfer(req);
}
Response Api::resolve(const Request& req) {
  return impl_->resolve(req);
}

}  // namespace lia::conversation
