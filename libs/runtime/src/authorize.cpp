#include <lia/runtime/authorize.hpp>
#include <lia/runtime/desk_users.hpp>

namespace lia::runtime {

std::optional<http::Response> authorize(const http::Request& req, std::string_view jwt_secret,
                                        auth::Role need, auth::Claims& claims,
                                        const DeskUsers* users) {
  auto c = auth::verify_bearer(req.header("Authorization"), jwt_secret);
  if (!c) {
    auto res = http::json_error(401, "unauthorized", c.error().message());
    res.headers.set("WWW-Authenticate", "Bearer");
    return res;
  }
  // The role the desk last published wins over the token's, either way: a demoted user loses
  // the route at once, a promoted one gains it without logging in again.
  if (users != nullptr) {
    if (auto denied = users->check(*c)) return denied;
  }
  if (!auth::role_at_least(c->role, need)) {
    return http::json_error(
        403, "forbidden",
        "this route needs the role " + std::string(auth::to_string(need)) + " or higher");
  }
  claims = std::move(*c);
  return std::nullopt;
}

std::string jwt_secret(core::Env& env, bool required) {
  std::string key =
      required ? env.secret("LIA_JWT_SECRET") : env.secret("LIA_JWT_SECRET", std::string());
  if (!key.empty() && key.size() < kMinJwtSecret) {
    env.problem("LIA_JWT_SECRET",
                "must be at least " + std::to_string(kMinJwtSecret) + " bytes long");
  }
  return key;
}

}  // namespace lia::runtime
