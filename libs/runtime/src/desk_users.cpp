#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>
#include <lia/json/json.hpp>
#include <lia/pg/connection.hpp>
#include <lia/runtime/desk_users.hpp>
#include <lia/runtime/events.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::runtime {

namespace {
core::Error malformed(const std::string& why) {
  return core::Error(core::Errc::invalid_argument, "user.upserted: " + why, false);
}
}  // namespace

DeskUsers::DeskUsers(std::shared_ptr<pg::Pool> pool, const std::string& schema, Options options)
    : pool_(std::move(pool)), options_(options) {
  const std::string t = pg::quote_ident(schema) + ".desk_users";
  const bool g = options_.gamification;
  // tokens_valid_from only moves forward: an event without it (an older producer) keeps it.
  upsert_ = "INSERT INTO " + t + " AS u (user_id, role, active, updated_at, tokens_valid_from" +
            (g ? ", participates_in_gamification" : "") +
            ") VALUES ($1::uuid, $2, $3, $4::timestamptz, $5::timestamptz" + (g ? ", $6" : "") +
            ") ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, active = "
            "excluded.active, updated_at = excluded.updated_at, tokens_valid_from = "
            "GREATEST(u.tokens_valid_from, excluded.tokens_valid_from)" +
            (g ? ", participates_in_gamification = excluded.participates_in_gamification" : "") +
            " WHERE u.updated_at <= excluded.updated_at";
  lookup_ = "SELECT role, active, (extract(epoch FROM tokens_valid_from) * 1000)::bigint FROM " +
            t + " WHERE user_id = $1::uuid";
}

core::Status DeskUsers::apply(const kafka::Message& message) {
  auto ev = decode_event(message);
  if (!ev) return ev.error();
  if (ev->type != events::types::user_upserted) return {};
  auto doc = json::parse(ev->data);
  if (!doc) return malformed(doc.error().message());
  auto o = json::Obj::root(*doc);
  if (!o) return malformed(o.error().message());
  auto id = o->str("user_id");
  auto role = o->str("role");
  auto active = o->boolean("active");
  auto updated = o->str("updated_at");
  if (!id || !role || !active || !updated) {
    return malformed("needs user_id, role, active and updated_at");
  }
  if (!core::Uuid::parse(*id)) return malformed("user_id is not a UUID");
  if (!auth::parse_role(*role)) return malformed("unknown role " + std::string(*role));
  auto valid_from = o->opt_str("tokens_valid_from");
  if (!valid_from) return malformed(valid_from.error().message());
  std::optional<std::string> tokens_valid_from;
  if (*valid_from) {
    if (!core::parse_rfc3339(**valid_from)) {
      return malformed("tokens_valid_from is not an RFC 3339 time");
    }
    tokens_valid_from = std::string(**valid_from);
  }
  core::Result<pg::Rows> r = core::Error(core::Errc::internal, "not run");
  if (options_.gamification) {
    auto participates = o->opt_boolean("participates_in_gamification");
    if (!participates) return malformed(participates.error().message());
    r = pool_->exec(upsert_, std::string(*id), std::string(*role), *active, std::string(*updated),
                    tokens_valid_from, participates->value_or(true));
  } else {
    r = pool_->exec(upsert_, std::string(*id), std::string(*role), *active, std::string(*updated),
                    tokens_valid_from);
  }
  if (!r) return r.error();
  return {};
}

std::optional<http::Response> DeskUsers::check(auth::Claims& claims) const {
  // Not a desk user's token, or no database (an API checked without one): the token decides.
  if (!core::Uuid::parse(claims.subject) || !pool_) return std::nullopt;
  auto rows = pool_->exec(lookup_, claims.subject);
  if (!rows) {
    core::log().error("desk user lookup failed", {core::f::str("error", rows.error().describe())});
    return http::json_error(503, "unavailable", "database unavailable; retry");
  }
  if (rows->empty()) return std::nullopt;
  const auto unauthorized = [](const std::string& why) {
    auto res = http::json_error(401, "unauthorized", why);
    res.headers.set("WWW-Authenticate", "Bearer");
    return res;
  };
  if (!(*rows)[0].get<bool>(1)) return unauthorized("user is inactive");
  // Deactivated since this token was issued (and active again): conversation refuses it too.
  if (const auto valid_from = (*rows)[0].get<std::optional<std::int64_t>>(2);
      valid_from && claims.issued_at * 1000 < *valid_from) {
    return unauthorized("token was issued before the user was deactivated; log in again");
  }
  auto role = auth::parse_role((*rows)[0].get<std::string>(0));
  if (!role) {
    // apply() keeps only roles it reads; a row written by hand with another is no role at all.
    return http::json_error(403, "forbidden", "user has no known role");
  }
  claims.role = *role;
  return std::nullopt;
}

std::shared_ptr<DeskUsers> follow_desk_users(Context& ctx, const std::string& group,
                                             DeskUsers::Options options) {
  auto users = std::make_shared<DeskUsers>(ctx.pool(), ctx.spec().schema, options);
  ctx.add_consumer({.topics = {std::string(events::topics::users)},
                    .handler = [users](const kafka::Message& m) { return users->apply(m); },
                    .group = group});
  return users;
}

}  // namespace lia::runtime
