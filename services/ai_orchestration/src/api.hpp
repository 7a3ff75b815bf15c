#pragma once
// The REST API of ai_orchestration (JWT HS256 from conversation's login, LIA_JWT_SECRET):
//
//   GET  /api/ai/assistants                      AGENT       assistants and their departments
//   GET  /api/ai/prompts                         SUPERVISOR  the active prompt of each assistant
//   PUT  /api/ai/prompts/{assistant}             ADMIN       new active version of a prompt
//   GET  /api/ai/conversations/{id}/threads      AGENT       context threads of a conversation
//   GET  /api/ai/outages                         AGENT       open outages (lookup_outage)
//   POST /api/ai/outages                         SUPERVISOR  register an outage
//   POST /api/ai/outages/{id}/close              SUPERVISOR  close it
//
// Errors: {"error":{"code","message"}} with 400, 401, 403, 404, 409, 503.

#include <memory>
#include <optional>
#include <string>

#include <lia/core/result.hpp>
#include <lia/http/router.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::ai_orchestration {

class PgPrompts;

struct ApiDeps {
  std::shared_ptr<pg::Pool> pool;
  std::string schema;
  std::string jwt_secret;              // empty: every route answers 503
  std::shared_ptr<PgPrompts> prompts;  // invalidated when a prompt changes; may be null
  // The desk's users from users.v1: a user deactivated or demoted in conversation loses its
  // rights here at once, not when its token expires. May be null (the token alone decides).
  std::shared_ptr<const runtime::DeskUsers> users;
};

void add_api_routes(http::Router& router, ApiDeps deps);

// Request bodies, checked without a database.
struct OutageInput {
  std::string cep_prefix;  // 1..8 digits
  std::string region;
  std::string description;
  std::optional<std::string> eta;  // RFC 3339
};
core::Result<OutageInput> parse_outage(std::string_view body);

// Left out (or null), instructions and temperature keep the active version's; "" clears the
// instructions.
struct PromptInput {
  std::string content;
  std::optional<std::string> instructions;
  std::optional<int> temperature;  // 0..100
};
core::Result<PromptInput> parse_prompt(std::string_view body);

// "1.0.0" -> "1.1.0"; anything else gets ".1" appended.
std::string next_version(std::string_view version);

}  // namespace lia::ai_orchestration
