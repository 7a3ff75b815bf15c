#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>

using namespace lia::auth;

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2") {
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("Meta signature check") {
  const std::string body = R"({"object":"whatsapp_business_account"})";
  const std::string sig = "sha256=" + to_hex(hmac_sha256("app-secret", body));
  CHECK(verify_meta_signature(sig, "app-secret", body));
  std::string upper = sig;
  for (std::size_t i = 7; i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  CHECK(verify_meta_signature(upper, "app-secret", body));
  CHECK_FALSE(verify_meta_signature(sig, "other-secret", body));
  CHECK_FALSE(verify_meta_signature(sig, "app-secret", body + " "));
  CHECK_FALSE(verify_meta_signature(sig.substr(7), "app-secret", body));
  CHECK_FALSE(verify_meta_signature("sha256=", "app-secret", body));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
}

TEST_CASE("base64url round trip") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    auto back = base64url_decode(base64url_encode(s));
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
  CHECK_FALSE(base64url_decode("a$b"));
  // One spelling per value: no standard-alphabet characters, no padding, no spare bits set.
  CHECK(base64url_decode("-_8") == std::optional<std::string>("\xfb\xff"));
  CHECK_FALSE(base64url_decode("+_8"));
  CHECK_FALSE(base64url_decode("-/8"));
  CHECK_FALSE(base64url_decode("Zm8="));
  CHECK(base64url_decode("Zm8") == std::optional<std::string>("fo"));
  CHECK_FALSE(base64url_decode("Zm9"));  // "fo" with a spare bit set
  CHECK(base64url_decode("Zg") == std::optional<std::string>("f"));
  CHECK_FALSE(base64url_decode("Zh"));  // "f" with spare bits set
}

TEST_CASE("password hashes verify and differ by salt") {
  const auto h1 = hash_password("s3nha-forte", 2000);
  const auto h2 = hash_password("s3nha-forte", 2000);
  CHECK(h1 != h2);
  CHECK(h1.rfind("pbkdf2_sha512$2000$", 0) == 0);
  CHECK(verify_password("s3nha-forte", h1));
  CHECK_FALSE(verify_password("s3nha-fraca", h1));
  CHECK_FALSE(verify_password("s3nha-forte", "plaintext"));
  CHECK_FALSE(verify_password("s3nha-forte", h1.substr(0, 18) + "x" + h1.substr(18)));
  CHECK(hash_password("s3nha-forte").rfind("pbkdf2_sha512$210000$", 0) == 0);
}

// The expected strings come from Python's hashlib.pbkdf2_hmac, not from this library.
TEST_CASE("password hashes of both schemes verify against another implementation") {
  const std::string sha256 =
      "pbkdf2_sha256$1000$c2FsIGRlIGNvemluaGEhIQ$CjaK3d6WAYmkOLTOctEy2nKpRJTE-r9xktmX6DZU2Sk";
  const std::string sha512 =
      "pbkdf2_sha512$1000$c2FsIGRlIGNvemluaGEhIQ$iTW73WlWvtmMsH7HyEQKvjjWWvWjS1Cy4w3suT6Bpnh5eLSDxF"
      "uOYa2zUt74OoQkAwbcd_UyCK-L3le5FBI54A";
  CHECK(verify_password("s3nha-forte", sha256));
  CHECK(verify_password("s3nha-forte", sha512));
  CHECK_FALSE(verify_password("s3nha-fraca", sha256));
  CHECK_FALSE(verify_password("s3nha-fraca", sha512));
  // One scheme's hash under the other's name does not verify.
  CHECK_FALSE(verify_password("s3nha-forte", "pbkdf2_sha512" + sha256.substr(13)));
  CHECK_FALSE(verify_password("s3nha-forte", "pbkdf2_sha256" + sha512.substr(13)));
}

TEST_CASE("a stored hash needs rehashing unless it is SHA-512 with the rounds asked for") {
  const auto h = hash_password("s3nha-forte", 2000);
  CHECK_FALSE(password_needs_rehash(h, 2000));
  CHECK(password_needs_rehash(h, 3000));
  CHECK_FALSE(password_needs_rehash(h, 1000));  // more rounds than asked: kept
  CHECK(password_needs_rehash(
      "pbkdf2_sha256$2000$c2FsIGRlIGNvemluaGEhIQ$CjaK3d6WAYmkOLTOctEy2nKpRJTE-r9xktmX6DZU2Sk",
      2000));
  CHECK(password_needs_rehash("plaintext", 2000));
}

TEST_CASE("a failed check of a cheaper hash is padded to the cost of the current one") {
  const std::string sha256 =
      "pbkdf2_sha256$2000$c2FsIGRlIGNvemluaGEhIQ$CjaK3d6WAYmkOLTOctEy2nKpRJTE-r9xktmX6DZU2Sk";
  CHECK(pad_failed_check("nope", sha256, 5000) == 5000 - 900);  // 2000 SHA-256 ~ 900 SHA-512
  CHECK(pad_failed_check("nope", hash_password("x", 2000), 5000) == 3000);
  CHECK(pad_failed_check("nope", hash_password("x", 5000), 5000) == 0);
  CHECK(pad_failed_check("nope", hash_password("x", 8000), 5000) == 0);
  CHECK(pad_failed_check("nope", "plaintext", 5000) == 5000);  // nothing was spent on it
}

TEST_CASE("JWT sign and verify with expiry and roles") {
  lia::core::ManualClock clock;
  const auto now = clock.now_ms() / 1000;
  Claims c{"user-1", "maria", Role::supervisor, now, now + 3600};
  const auto token = sign_jwt(c, "secret");
  auto back = verify_jwt(token, "secret", clock);
  REQUIRE(back.ok());
  CHECK(back->subject == "user-1");
  CHECK(back->username == "maria");
  CHECK(back->role == Role::supervisor);
  CHECK_FALSE(verify_jwt(token, "wrong", clock).ok());
  // Without a key nothing verifies, not even a token signed with none.
  auto keyless = verify_jwt(sign_jwt(c, ""), "", clock);
  REQUIRE_FALSE(keyless.ok());
  CHECK(keyless.error().code() == lia::core::Errc::unauthorized);
  std::string bearer = "Bearer " + token;
  CHECK(verify_bearer(&bearer, "secret", clock).ok());
  CHECK(verify_bearer(nullptr, "secret", clock).error().code() == lia::core::Errc::unauthorized);
  std::string lower_scheme = "bearer " + token;
  CHECK(verify_bearer(&lower_scheme, "secret", clock).ok());
  std::string basic = "Basic " + token;
  CHECK_FALSE(verify_bearer(&basic, "secret", clock).ok());
  // The signature's last character holds two spare bits: another character that differs only
  // there decodes to the same bytes, and is refused (one accepted spelling per token).
  std::string respelled = token;
  REQUIRE(base64url_decode(token.substr(token.rfind('.') + 1)));  // spare bits zero
  respelled.back() = static_cast<char>(respelled.back() + 1);     // the value + 1: a spare bit
  CHECK_FALSE(verify_jwt(respelled, "secret", clock).ok());
  clock.advance(std::chrono::hours{2});
  auto expired = verify_jwt(token, "secret", clock);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().message() == "token expired");
  // Validly signed payloads with times of their own (the clock now 2 h after `now`).
  const auto signed_payload = [](const std::string& payload) {
    std::string t =
        base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload);
    return t + "." + base64url_encode(hmac_sha256("secret", t));
  };
  const auto later = now + 7200;
  const auto with_times = [&](const std::string& times) {
    return verify_jwt(signed_payload(R"({"sub":"u","role":"AGENT","exp":)" +
                                     std::to_string(later + 600) + times + "}"),
                      "secret", clock);
  };
  CHECK(with_times("").ok());
  CHECK(with_times(",\"iat\":" + std::to_string(later + 30)).ok());  // clocks differ a little
  CHECK(with_times(",\"nbf\":" + std::to_string(later + 30)).ok());
  const auto future_iat = with_times(",\"iat\":" + std::to_string(later + 3600));
  REQUIRE_FALSE(future_iat.ok());
  CHECK(future_iat.error().message() == "token issued in the future");
  const auto early = with_times(",\"nbf\":" + std::to_string(later + 3600));
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().message() == "token not valid yet");
  CHECK_FALSE(with_times(R"(,"nbf":"soon")").ok());
  // Tampered payload: same signature, different role.
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  Claims admin = c;
  admin.role = Role::admin;
  const auto other = sign_jwt(admin, "secret");
  const auto forged = token.substr(0, d1 + 1) +
                      other.substr(other.find('.') + 1, other.rfind('.') - other.find('.') - 1) +
                      token.substr(d2);
  // Refused for its signature (the clock moved past its expiry, which is checked after).
  auto refused = verify_jwt(forged, "secret", clock);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message() == "bad token signature");
  CHECK(role_at_least(Role::admin, Role::supervisor));
  CHECK_FALSE(role_at_least(Role::agent, Role::supervisor));
}
