#pragma once
// The desk's users as conversation publishes them (users.v1, lia.user.upserted), for the
// services whose REST API takes conversation's tokens: each keeps every user's role and
// status in its own schema (table desk_users, made by its migrations), so a user that an
// admin demotes or deactivates loses its rights there too, at once instead of when the token
// expires; the tokens issued before a deactivation stay refused after a reactivation
// (tokens_valid_from, a column of desk_users too). A user not seen yet (this service's consumer
// still catching up) is taken as the token says. users.v1 is compacted: every user's latest state
// stays on it.
//
//   DeskUsers users(pool, schema);
//   ctx.add_consumer({.topics = {"users.v1"}, .handler = [&](auto& m) { return users.apply(m); },
//                     .group = "<service group>.users"});
//   if (auto denied = runtime::authorize(req, secret, auth::Role::supervisor, claims, &users))

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <lia/auth/auth.hpp>
#include <lia/core/result.hpp>
#include <lia/http/message.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>

namespace lia::runtime {

class Context;

class DeskUsers {
 public:
  struct Options {
    // Also keep participates_in_gamification (absent in an event: true), in a desk_users
    // column of that name the service's migrations add (nps_gamification's ranking).
    bool gamification = false;
  };

  DeskUsers(std::shared_ptr<pg::Pool> pool, const std::string& schema)
      : DeskUsers(std::move(pool), schema, Options{}) {}
  DeskUsers(std::shared_ptr<pg::Pool> pool, const std::string& schema, Options options);

  // The users.v1 handler: a user.upserted replaces what is kept unless it is older than that
  // (replays and redeliveries change nothing); other event types are ignored. A malformed
  // event is a non-retryable error (dead-lettered); database trouble a retryable one.
  core::Status apply(const kafka::Message& message);

  // The token's user as this service knows them (without a pool it knows nobody): nullopt
  // when active, `claims.role` then set to the role kept for them (unchanged for a user not
  // seen yet); else the answer: 401 JSON (inactive user, or a token issued before the user's
  // last deactivation, as conversation refuses it), 503 (database). authorize() then checks
  // that role.
  std::optional<http::Response> check(auth::Claims& claims) const;

 private:
  std::shared_ptr<pg::Pool> pool_;
  Options options_;
  std::string upsert_;
  std::string lookup_;
};

// The service's DeskUsers over its pool and schema, kept up to date by a consumer of users.v1
// in `group` (the service's own "<group>.users"), added to `ctx`: what every service whose
// API takes the desk's tokens starts with.
std::shared_ptr<DeskUsers> follow_desk_users(Context& ctx, const std::string& group,
                                             DeskUsers::Options options = {});

}  // namespace lia::runtime
