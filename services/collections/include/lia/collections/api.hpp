#pragma once
// collections' REST API (JWT HS256 with LIA_JWT_SECRET, role SUPERVISOR or ADMIN; every
// route blocking):
//
//   POST /api/campaigns               create a campaign with its targets -> 201
//   GET  /api/campaigns               the newest campaigns (limit, offset) with target counts
//   GET  /api/campaigns/{id}          one campaign with every target's status
//   POST /api/campaigns/{id}/pause    active -> paused
//   POST /api/campaigns/{id}/resume   paused or draft -> active
//   GET  /api/opt-outs/{phone}        whether the number asked for no more collection
//                                     messages -> 200 {phone, opted_out_at, conversation_id,
//                                     source}, or 404
//   DELETE /api/opt-outs/{phone}      (ADMIN) the number may be sent campaigns again -> 200
//
// A bad request is 400 {"error":{"code":"invalid_argument","message","field",
// "target_index"?}} naming the field ("targets[2].phone", "template", "allowed_hours"); when
// targets are at fault, also "invalid_targets" (how many) and "targets" (the first 100:
// {target_index, field, message}). With "skip_invalid_targets": true the campaign is created
// with the valid targets, and the 201 adds "skipped_targets" and "skipped" (the same form).
//
// POST /api/campaigns takes an optional Idempotency-Key (1..200 printable ASCII; else 400
// with field "Idempotency-Key"), unique per user (the JWT's subject): the same key and body
// again answer the first 201 with `Idempotent-Replayed: true` and create nothing; the same
// key with another body is 422 "idempotency_key_reused".

#include <memory>
#include <string>

#include <lia/collections/campaign.hpp>
#include <lia/core/clock.hpp>
#include <lia/http/message.hpp>
#include <lia/http/router.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::collections {

class Api {
 public:
  Api(std::shared_ptr<pg::Pool> pool, std::string schema, Settings settings,
      const core::Clock& clock = core::SystemClock::instance());

  // Registers every route; the Api must outlive the router.
  void add_routes(http::Router& router) const;

  http::Response create(const http::Request& req) const;
  http::Response list(const http::Request& req) const;
  http::Response get(const http::Request& req) const;
  http::Response pause(const http::Request& req) const;
  http::Response resume(const http::Request& req) const;
  http::Response get_opt_out(const http::Request& req) const;
  http::Response delete_opt_out(const http::Request& req) const;

 private:
  http::Response transition(const http::Request& req, bool to_active) const;

  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string q_;
  Settings settings_;
  runtime::DeskUsers users_;  // a user demoted or deactivated in conversation: its rights go
  const core::Clock& clock_;
};

}  // namespace lia::collections
