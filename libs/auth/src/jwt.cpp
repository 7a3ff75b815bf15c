#include <algorithm>

#include <lia/auth/auth.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>

namespace lia::auth {
namespace {
using core::Errc;
using core::Error;

Error unauthorized(std::string why) {
  return Error(Errc::unauthorized, std::move(why));
}

// How far ahead of this pod's clock a token's iat or nbf may be (seconds).
constexpr std::int64_t kClockLeeway = 60;
}  // namespace

std::string_view to_string(Role r) {
  switch (r) {
    case Role::admin:
      return "ADMIN";
    case Role::supervisor:
      return "SUPERVISOR";
    case Role::agent:
      return "AGENT";
  }
  return "AGENT";
}

std::optional<Role> parse_role(std::string_view s) {
  if (s == "ADMIN") return Role::admin;
  if (s == "SUPERVISOR") return Role::supervisor;
  if (s == "AGENT") return Role::agent;
  return std::nullopt;
}

bool role_at_least(Role have, Role need) {
  auto rank = [](Role r) { return r == Role::admin ? 3 : r == Role::supervisor ? 2 : 1; };
  return rank(have) >= rank(need);
}

std::string sign_jwt(const Claims& c, std::string_view secret) {
  static const std::string kHeader = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  json::Writer w;
  w.begin_object();
  w.key("sub").value(c.subject);
  w.key("name").value(c.username);
  w.key("role").value(std::string(to_string(c.role)));
  w.key("iat").value(c.issued_at);
  w.key("exp").value(c.expires_at);
  w.end_object();
  std::string token = kHeader + "." + base64url_encode(w.str());
  token += "." + base64url_encode(hmac_sha256(secret, token));
  return token;
}

core::Result<Claims> verify_jwt(std::string_view token, std::string_view secret,
                                const core::Clock& clock) {
  // Anyone can sign with an empty key: no token is valid without one.
  if (secret.empty()) return unauthorized("no signing key is set");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return unauthorized("malformed token");
  }
  const auto signed_part = token.substr(0, dot2);
  const auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!sig || !constant_time_equal(*sig, hmac_sha256(secret, signed_part))) {
    return unauthorized("bad token signature");
  }
  const auto header = base64url_decode(token.substr(0, dot1));
  const auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!header || !payload) return unauthorized("malformed token");
  auto hdoc = json::parse(*header);
  if (!hdoc) return unauthorized("malformed token header");
  auto hobj = json::Obj::root(*hdoc);
  if (!hobj) return unauthorized("malformed token header");
  auto alg = hobj->str("alg");
  if (!alg || *alg != "HS256") return unauthorized("token algorithm must be HS256");

  auto doc = json::parse(*payload);
  if (!doc) return unauthorized("malformed token payload");
  auto obj = json::Obj::root(*doc);
  if (!obj) return unauthorized("malformed token payload");
  Claims c;
  auto sub = obj->str("sub");
  auto role = obj->str("role");
  auto exp = obj->i64("exp");
  if (!sub || !role || !exp) return unauthorized("token lacks sub, role or exp");
  auto parsed_role = parse_role(*role);
  if (!parsed_role) return unauthorized("unknown role in token");
  c.subject = std::string(*sub);
  c.role = *parsed_role;
  c.expires_at = *exp;
  if (auto name = obj->opt_str("name"); name && *name) c.username = std::string(**name);
  const auto now = clock.now_ms() / 1000;
  // The desk revokes tokens issued before a time (tokens_valid_from), so a token claiming to be
  // issued later than now would outlive its revocation. `nbf` (RFC 7519 4.1.5) this suite does
  // not issue, but a token that carries one is not taken before it. Both allow the pods'
  // clocks to differ by kClockLeeway.
  auto iat = obj->opt_i64("iat");
  auto nbf = obj->opt_i64("nbf");
  if (!iat || !nbf) return unauthorized("token's iat and nbf must be whole seconds");
  if (*iat) {
    if (**iat > now + kClockLeeway) return unauthorized("token issued in the future");
    c.issued_at = **iat;
  }
  if (*nbf && **nbf > now + kClockLeeway) return unauthorized("token not valid yet");
  if (now >= c.expires_at) return unauthorized("token expired");
  return c;
}

core::Result<Claims> verify_bearer(const std::string* authorization, std::string_view secret,
                                   const core::Clock& clock) {
  constexpr std::string_view kBearer = "bearer ";
  if (authorization == nullptr) return unauthorized("missing Authorization header");
  std::string_view v = *authorization;
  // The scheme's name is case-insensitive (RFC 9110 11.1).
  const auto lower = [](char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch;
  };
  if (v.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), v.begin(),
                  [&](char want, char got) { return want == lower(got); })) {
    return unauthorized("Authorization must be 'Bearer <token>'");
  }
  return verify_jwt(v.substr(kBearer.size()), secret, clock);
}

}  // namespace lia::auth
