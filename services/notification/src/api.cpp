#include <lia/auth/auth.hpp>
#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/json/writer.hpp>
#include <lia/notification/app.hpp>
#include <lia/runtime/authorize.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::notification {
namespace {

std::string to_json(const OutboundRecord& r) {
  json::Writer w;
  w.begin_object()
      .field("command_id", r.command_id)
      .field("type", r.command_type)
      .field("provider", r.provider)
      .field("instance", r.instance)
      .field("to", r.to)
      .field("conversation_id", r.conversation_id)
      .field("message_id", r.message_id)
      .field("text", r.body)
      .field("template_name", r.template_name)
      .field("template_language", r.template_language)
      .field("status", r.status)
      .field("attempts", r.attempts)
      .field("provider_message_id", r.provider_message_id)
      .field("delivery_status", r.delivery_status)
      .field("delivery_error", r.delivery_error)
      .field("last_error", r.last_error)
      .field("error_code", r.error_code)
      .field("http_status", r.http_status)
      .field("not_after", r.not_after)
      .field("created_at", r.created_at)
      .field("last_attempt_at", r.last_attempt_at)
      .field("sent_at", r.sent_at)
      .field("finished_at", r.finished_at)
      .field("updated_at", r.updated_at)
      .end_object();
  return w.take();
}

}  // namespace

void add_routes(http::Router& router, const std::shared_ptr<OutboundStore>& store,
                std::string jwt_secret, std::shared_ptr<const runtime::DeskUsers> users) {
  router.add(
      "GET", "/api/outbound/{command_id}",
      [store, secret = std::move(jwt_secret),
       users = std::move(users)](const http::Request& req) -> http::Response {
        auth::Claims claims;
        if (auto denied =
                runtime::authorize(req, secret, auth::Role::supervisor, claims, users.get())) {
          return *denied;
        }
        const auto* raw = req.param("command_id");
        auto id = raw != nullptr ? core::Uuid::parse(*raw) : std::nullopt;
        if (!id) return http::json_error(400, "invalid_argument", "command_id must be a UUID");
        auto found = store->find(id->str());
        if (!found) {
          core::log().error("outbound lookup failed",
                            {core::f::str("error", found.error().describe())});
          return found.error().retryable()
                     ? http::json_error(503, "unavailable", "the database is not reachable, retry")
                     : http::json_error(500, "internal", "the lookup failed");
        }
        if (!*found) return http::json_error(404, "not_found", "no send command " + id->str());
        return http::Response::json(200, to_json(**found));
      },
      http::RouteOptions{.blocking = true});
}

}  // namespace lia::notification
