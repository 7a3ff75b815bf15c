#pragma once
// nps_gamification's REST API (JWT HS256 with LIA_JWT_SECRET; every route blocking):
//
//   GET   /api/nps?from=&to=&agent_id=        AGENT+       NPS of the feedback in [from, to)
//   GET   /api/feedback?category=&handling_status=&from=&to=&limit=&before=   SUPERVISOR+
//                                         (newest first; `offset=` still works)
//   PATCH /api/feedback/{id}                  SUPERVISOR+  handling_status/notes/score
//   POST  /api/gamification/calculate?period=YYYY-MM      SUPERVISOR+  (re)computes a period
//   GET   /api/gamification/ranking?period=YYYY-MM        AGENT+
//   GET   /api/gamification/settings          SUPERVISOR+
//   PUT   /api/gamification/settings          ADMIN        validated, partial updates allowed
//
// Errors are JSON ({"error":{"code","message"}}): 400 bad input, 401 no/invalid token,
// 403 role too low, 404 unknown feedback, 422 stored settings invalid, 503 database
// unavailable, 500 any other database error.

#include <chrono>
#include <memory>
#include <string>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>
#include <lia/http/message.hpp>
#include <lia/http/router.hpp>
#include <lia/nps_gamification/handlers.hpp>
#include <lia/pg/pool.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::nps_gamification {

class Api {
 public:
  // Reads the JWT secret and the local calendar's offset from `settings`.
  Api(std::shared_ptr<pg::Pool> pool, std::string schema, const Settings& settings,
      const core::Clock& clock = core::SystemClock::instance());

  // Registers every route; the Api must outlive the router.
  void add_routes(http::Router& router) const;

  http::Response nps(const http::Request& req) const;
  http::Response list_feedback(const http::Request& req) const;
  http::Response patch_feedback(const http::Request& req) const;
  http::Response calculate(const http::Request& req) const;
  http::Response ranking(const http::Request& req) const;
  http::Response get_settings(const http::Request& req) const;
  http::Response put_settings(const http::Request& req) const;

 private:
  core::Result<std::string> ranking_json(const std::string& period) const;
  core::Result<std::string> settings_json() const;

  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  std::string q_;
  std::string jwt_secret_;
  std::chrono::minutes utc_offset_;  // months and bare dates are local (LIA_NPS_UTC_OFFSET_MINUTES)
  runtime::DeskUsers users_;         // a user demoted or deactivated in conversation: its rights go
  const core::Clock& clock_;
};

}  // namespace lia::nps_gamification
