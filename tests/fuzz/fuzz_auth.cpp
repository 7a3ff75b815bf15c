// What strangers send to the agent API and the webhook gateway before they are trusted:
// bearer tokens and signature headers.
// Properties:
//   - no input verifies as a token or as a Meta signature without the secret;
//   - a token we signed verifies and gives back its claims, and changing any one of its
//     characters makes it fail;
//   - base64url decodes what it encodes.

#include <lia/auth/auth.hpp>
#include <lia/core/clock.hpp>

#include "fuzz.hpp"

using lia::fuzz::require;
namespace auth = lia::auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = lia::fuzz::as_text(data, size);
  static const lia::core::ManualClock clock;
  constexpr std::string_view secret = "fuzzing-secret-0123456789abcdef";

  auto forged = auth::verify_jwt(input, secret, clock);
  require(!forged, "no input verifies as a token without the secret");
  require(forged.error().code() == lia::core::Errc::unauthorized, "a refused token is unauthorized",
          forged.error().describe());
  const std::string header = "Bearer " + std::string(input);
  require(!auth::verify_bearer(&header, secret, clock), "no bearer verifies without the secret");
  require(!auth::verify_meta_signature(input, secret, "{}"),
          "no header verifies as a Meta signature without the secret");

  const std::string encoded = auth::base64url_encode(input);
  auto decoded = auth::base64url_decode(encoded);
  require(decoded && *decoded == input, "base64url decodes what it encodes", encoded);

  if (!lia::fuzz::valid_utf8(input)) return 0;  // user names are text
  auth::Claims claims;
  claims.subject = "0190e0a4-7b2c-7def-8123-0123456789ab";
  claims.username = std::string(input);
  claims.role = static_cast<auth::Role>(size % 3);
  claims.issued_at = clock.now_ms() / 1000;
  claims.expires_at = claims.issued_at + 3600;
  const std::string token = auth::sign_jwt(claims, secret);
  auto verified = auth::verify_jwt(token, secret, clock);
  require(verified.ok(), "a token we signed verifies",
          verified.ok() ? token : verified.error().message());
  require(verified->username == claims.username && verified->subject == claims.subject &&
              verified->role == claims.role && verified->expires_at == claims.expires_at,
          "a verified token gives back its claims", token);
  if (!token.empty()) {
    std::string changed = token;
    const std::size_t at = size % changed.size();
    changed[at] = changed[at] == 'A' ? 'B' : 'A';
    require(!auth::verify_jwt(changed, secret, clock),
            "a token with a changed character does not verify", changed);
  }
  return 0;
}
