#pragma once
// The agents' REST API (JWT HS256; every route but login needs "Authorization: Bearer").
//
//   POST /api/auth/login                      {username, password} -> {token, user}; 429
//                                             after 5 failures of a username in 15 min
//   POST /api/users                           ADMIN: {username, password, full_name, role,
//                                             departments[], email?} -> 201 {user}
//   GET  /api/users?limit=&after=             SUPERVISOR+: {users: [...], next_after?} by
//                                             username, 200 a page (limit 1..500)
//   PATCH /api/users/{id}                     ADMIN: {role?, status?, departments?,
//                                             full_name?} -> 200 {user}
//   GET  /api/conversations                   ?status=&assigned_to=me|<id>&limit= (1..200)
//                                             &before=<the previous page's next_before>
//   GET  /api/conversations/{id}
//   GET  /api/conversations/{id}/messages     ?limit= (1..500, the latest, oldest first)
//   POST /api/conversations/{id}/messages     {text}: assigned agent or SUPERVISOR+ -> 202;
//                                             with an Idempotency-Key, a retry of the same
//                                             request within a day sends nothing again
//   POST /api/conversations/{id}/transfer     SUPERVISOR+: {agent_id, mode?, reason?}
//   POST /api/conversations/{id}/resolve      assigned agent or SUPERVISOR+: {reason?}
//
// Errors are JSON ({"error":{"code","message"}}): 400 invalid_argument naming the field,
// 401 unauthorized (no, bad or expired token; wrong credentials), 403 forbidden (role or
// not the assigned agent), 404 not_found, 409 conflict (resolved conversation, taken
// username), 422 idempotency_key_reused (the key came with another request), 503
// unavailable (database trouble; retry).

#include <chrono>
#include <memory>
#include <string>

#include <lia/auth/auth.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/http/message.hpp>
#include <lia/http/router.hpp>
#include <lia/pg/pool.hpp>

namespace lia::conversation {

// How long an agent's message's Idempotency-Key is remembered (clients retry within
// minutes; a day covers a desk that was offline overnight).
inline constexpr std::chrono::hours kIdempotencyKeyTtl{24};

struct ApiConfig {
  std::string jwt_secret;
  std::chrono::milliseconds token_ttl{std::chrono::hours{12}};
  // Password checks (PBKDF2 hashes) run at once; past it a login is 503 `busy`. One leaves
  // the server's other blocking thread to the rest of the API.
  int password_checks = 1;
  // PBKDF2-HMAC-SHA512 rounds of the password hashes made from now on (LIA_PASSWORD_ITERATIONS).
  // A login whose stored hash has other rounds, or the older SHA-256 scheme, rehashes it.
  int password_iterations = auth::kPasswordIterations;
};

class Api {
 public:
  Api(std::shared_ptr<pg::Pool> pool, const std::string& schema, ApiConfig config,
      const core::Clock& clock = core::SystemClock::instance());
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Registers every route (all on the blocking pool: they use the database). The Api must
  // outlive the router's server.
  void add_routes(http::Router& router);

  http::Response login(const http::Request& req);
  http::Response create_user(const http::Request& req);
  http::Response update_user(const http::Request& req);
  http::Response list_users(const http::Request& req);
  http::Response list_conversations(const http::Request& req);
  http::Response get_conversation(const http::Request& req);
  http::Response list_messages(const http::Request& req);
  http::Response send_message(const http::Request& req);
  http::Response transfer(const http::Request& req);
  http::Response resolve(const http::Request& req);

  // Deletes the Idempotency-Keys of agents' messages older than `age`; how many went.
  core::Result<std::int64_t> purge_idempotency_keys(std::chrono::seconds age);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lia::conversation
