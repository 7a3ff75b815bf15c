#pragma once
// Credentials and signatures, on OpenSSL: HMAC-SHA256 (Meta's X-Hub-Signature-256),
// constant-time comparison, PBKDF2 password hashes, and HS256 JSON Web Tokens with the
// roles ADMIN, SUPERVISOR and AGENT.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

namespace lia::auth {

// Raw 32-byte digests and their lower-case hex form.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);
std::string to_hex(std::string_view bytes);
std::string random_bytes(std::size_t n);

// Compares in time that depends only on the lengths, never on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Checks "sha256=<hex>" against HMAC-SHA256(secret, body). Hex case is ignored.
bool verify_meta_signature(std::string_view header_value, std::string_view secret,
                           std::string_view body);

std::string base64url_encode(std::string_view bytes);
// Strict: the URL alphabet only, no padding, spare bits zero (one spelling per value).
std::optional<std::string> base64url_decode(std::string_view text);

// PBKDF2-HMAC-SHA512 rounds for a new password hash: OWASP's figure (its Password Storage
// Cheat Sheet asks 210,000 for SHA-512, or 600,000 for SHA-256, which costs more here for the
// same strength). About 0.1 s of one core on this project's machines.
inline constexpr int kPasswordIterations = 210'000;
// The rounds a stored hash may name (a hash outside them never verifies).
inline constexpr int kMinPasswordIterations = 1'000;
inline constexpr int kMaxPasswordIterations = 10'000'000;

// "pbkdf2_sha512$<iterations>$<salt b64url>$<hash b64url>", 16 random bytes of salt.
std::string hash_password(std::string_view password, int iterations = kPasswordIterations);
// Verifies either scheme: "pbkdf2_sha512$…" and the older "pbkdf2_sha256$…" (32-byte hash).
bool verify_password(std::string_view password, std::string_view stored);
// True when `stored` is weaker than what hash_password(…, iterations) would make now (the
// older scheme, or fewer rounds): a login that has just verified the password hashes it again.
// A hash of more rounds is kept (a lowered setting, or a replica not yet upgraded, does not
// weaken it).
bool password_needs_rehash(std::string_view stored, int iterations);
// After a failed check of `stored`: spends about the time a check at `iterations` rounds of
// the current scheme takes beyond what checking `stored` took, so a wrong password costs the
// same for a user whose hash is older or cheaper as for an unknown username (checked against a
// dummy hash of `iterations` rounds): the answer's time does not tell who exists. (One round
// of PBKDF2-HMAC-SHA256 costs about 0.45 of a SHA-512 round here.) Returns the SHA-512
// rounds it spent.
int pad_failed_check(std::string_view password, std::string_view stored, int iterations);

enum class Role { admin, supervisor, agent };
std::string_view to_string(Role r);
std::optional<Role> parse_role(std::string_view s);  // "ADMIN", "SUPERVISOR", "AGENT"
// ADMIN ⊇ SUPERVISOR ⊇ AGENT.
bool role_at_least(Role have, Role need);

struct Claims {
  std::string subject;  // user id
  std::string username;
  Role role = Role::agent;
  std::int64_t issued_at = 0;   // seconds since epoch
  std::int64_t expires_at = 0;  // seconds since epoch
};

std::string sign_jwt(const Claims& claims, std::string_view secret);
// Errors: unauthorized with the reason (malformed, bad signature, wrong algorithm, expired).
core::Result<Claims> verify_jwt(std::string_view token, std::string_view secret,
                                const core::Clock& clock = core::SystemClock::instance());
// Takes the token from "Bearer <token>".
core::Result<Claims> verify_bearer(const std::string* authorization, std::string_view secret,
                                   const core::Clock& clock = core::SystemClock::instance());

}  // namespace lia::auth
