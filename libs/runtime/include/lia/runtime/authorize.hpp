#pragma once
// The REST APIs' access check: a JWT (HS256, from conversation's login) with at least a role.
//
//   auth::Claims who;
//   if (auto denied = runtime::authorize(req, jwt_secret, auth::Role::supervisor, who)) return
//   *denied;

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <lia/auth/auth.hpp>
#include <lia/core/config.hpp>
#include <lia/http/message.hpp>

namespace lia::runtime {

class DeskUsers;

// nullopt when allowed (claims filled in). Otherwise the answer to give: 401 JSON (with
// WWW-Authenticate: Bearer) for a missing, malformed, forged or expired token; 403 JSON when
// the role is below `need`. With `users`, the user's role and status as this service last
// heard them from conversation (users.v1) win over the token's (claims.role is that role):
// see desk_users.hpp.
std::optional<http::Response> authorize(const http::Request& req, std::string_view jwt_secret,
                                        auth::Role need, auth::Claims& claims,
                                        const DeskUsers* users = nullptr);

// LIA_JWT_SECRET, the HS256 key of the desk's tokens, the same in every service: a problem
// named for it when shorter than kMinJwtSecret bytes (a short key is guessed offline from a
// single token; RFC 7518 asks HS256 for a key of at least the hash's 256 bits), or when
// missing and `required`; without it and not required, empty.
inline constexpr std::size_t kMinJwtSecret = 32;
std::string jwt_secret(core::Env& env, bool required = true);

}  // namespace lia::runtime
