#pragma once
// Desk users: creation (password hashed with lia::auth::hash_password) and changes (role,
// status, departments, name), each publishing user.upserted on users.v1 through the outbox,
// and the `admin` user made at start from LIA_ADMIN_PASSWORD.

#include <memory>
#include <optional>
#include <string>

#include <lia/auth/auth.hpp>
#include <lia/conversation/api_bodies.hpp>
#include <lia/conversation/model.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>

namespace lia::conversation {

// Creates the user and publishes user.upserted in `tx`. Errc::conflict when the username
// (or email) is taken.
core::Result<UserView> create_user(pg::Tx& tx, const std::string& schema, const NewUser& user,
                                   int password_iterations = auth::kPasswordIterations,
                                   const core::Clock& clock = core::SystemClock::instance());

// Applies the update and publishes user.upserted in `tx`. Errc::not_found for no such user.
core::Result<UserView> update_user(pg::Tx& tx, const std::string& schema, const std::string& id,
                                   const UserUpdate& update,
                                   const core::Clock& clock = core::SystemClock::instance());

// Creates `admin` (role ADMIN, department general) with this password unless a user named
// admin exists. Returns true when it created one.
core::Result<bool> ensure_admin(pg::Pool& pool, const std::string& schema,
                                const std::string& password,
                                int password_iterations = auth::kPasswordIterations,
                                const core::Clock& clock = core::SystemClock::instance());

}  // namespace lia::conversation
