#include <lia/auth/auth.hpp>
#include <lia/conversation/users.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/events/names.hpp>

#include "store.hpp"

namespace lia::conversation {

namespace {
// user.upserted for the user as stored now (no credentials).
core::Status publish_user(pg::Tx& tx, const store::Sql& sql, const UserView& v,
                          const core::Clock& clock) {
  UserData data{v.id,
                v.full_name,
                email_or_placeholder(v.email, v.username),
                std::string(auth::to_string(v.role)),
                v.active,
                v.departments.empty() ? std::optional<std::string>{} : v.departments.front(),
                v.updated_at,
                v.participates_in_gamification,
                v.tokens_valid_from};
  return store::emit(tx, sql, events::topics::users, v.id, events::types::user_upserted, v.id,
                     user_upserted_data(data), clock);
}
}  // namespace

core::Result<UserView> create_user(pg::Tx& tx, const std::string& schema, const NewUser& user,
                                   int password_iterations, const core::Clock& clock) {
  const store::Sql sql(schema);
  const auto id = core::Uuid::v7(clock).str();
  // The slow part (PBKDF2) before the lock below, which other creations of the name wait on.
  const auto password_hash = auth::hash_password(user.password, password_iterations);
  // Two creations of one name in different cases, at once: the second waits, then sees the
  // first (a unique index holds only the exact case).
  if (auto locked = tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1 || lower($2), 0))",
                            sql.schema() + ".username:", user.username);
      !locked) {
    return locked.error();
  }
  auto rows = tx.exec(sql.insert_user, id, user.username, password_hash, user.full_name, user.email,
                      std::string(auth::to_string(user.role)), text_array_literal(user.departments),
                      user.participates_in_gamification);
  if (!rows) return rows.error();
  if (rows->empty()) {
    return core::Error(core::Errc::conflict,
                       user.email ? "username or email already taken" : "username already taken");
  }
  UserView v = store::read_user((*rows)[0]);
  if (auto st = publish_user(tx, sql, v, clock); !st) return st.error();
  return v;
}

// updated_at is user.upserted's version, which the other services keep the highest of: it
// is taken after the row lock (clock_timestamp, not the transaction's start) and always past
// the change before, so of two overlapping changes the one committed last wins everywhere.
// The event carries milliseconds, hence the step. A deactivation also ends every token issued
// before it, for good: authenticate() refuses them after a reactivation too. Its cut-off is
// the database's clock after the row lock, as a login's token is dated by that clock under the
// same lock (Api::login): a login that held the row while the deactivation waited is before
// it, whichever pod's clock runs ahead.
core::Result<UserView> update_user(pg::Tx& tx, const std::string& schema, const std::string& id,
                                   const UserUpdate& update, const core::Clock& clock) {
  const store::Sql sql(schema);
  auto rows = tx.exec(
      "UPDATE " + sql.t("users") +
          " u SET role = COALESCE($2, u.role), status = COALESCE($3, u.status), departments = "
          "COALESCE($4::text[], u.departments), full_name = COALESCE($5, u.full_name), "
          "participates_in_gamification = COALESCE($6, u.participates_in_gamification), "
          "tokens_valid_from = CASE WHEN $3 = 'INACTIVE' THEN clock_timestamp() "
          "ELSE u.tokens_valid_from END, "
          "updated_at = GREATEST(clock_timestamp(), u.updated_at + interval '1 millisecond') "
          "WHERE u.id = $1::uuid RETURNING " +
          store::user_columns(),
      id, update.role ? std::optional<std::string>(auth::to_string(*update.role)) : std::nullopt,
      update.active ? std::optional<std::string>(*update.active ? "ACTIVE" : "INACTIVE")
                    : std::nullopt,
      update.departments ? std::optional(text_array_literal(*update.departments)) : std::nullopt,
      update.full_name, update.participates_in_gamification);
  if (!rows) return rows.error();
  if (rows->empty()) return core::Error(core::Errc::not_found, "no user " + id);
  UserView v = store::read_user((*rows)[0]);
  if (auto st = publish_user(tx, sql, v, clock); !st) return st.error();
  return v;
}

core::Result<bool> ensure_admin(pg::Pool& pool, const std::string& schema,
                                const std::string& password, int password_iterations,
                                const core::Clock& clock) {
  const store::Sql sql(schema);
  return pg::transact(pool, [&](pg::Tx& tx) -> core::Result<bool> {
    auto existing = tx.exec("SELECT 1 FROM " + sql.t("users") + " WHERE lower(username) = 'admin'");
    if (!existing) return existing.error();
    if (!existing->empty()) return false;
    NewUser admin;
    admin.username = "admin";
    admin.password = password;
    admin.full_name = "Administrator";
    admin.role = auth::Role::admin;
    admin.departments = {"general"};
    auto created = create_user(tx, schema, admin, password_iterations, clock);
    if (!created) {
      // Another replica made it at the same moment.
      if (created.error().code() == core::Errc::conflict) return false;
      return created.error();
    }
    core::log().info("admin user created", {core::f::id("user_id", created->id)});
    return true;
  });
}

}  // namespace lia::conversation
