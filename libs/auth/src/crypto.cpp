#include <charconv>
#include <stdexcept>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <lia/auth/auth.hpp>

namespace lia::auth {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // A failure would leave an empty digest, which an empty signature would then match.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &len) == nullptr ||
      len != 32) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return {reinterpret_cast<const char*>(out), len};
}

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return {reinterpret_cast<const char*>(out), sizeof out};
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 0x0F]);
  }
  return s;
}

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return s;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool verify_meta_signature(std::string_view header_value, std::string_view secret,
                           std::string_view body) {
  constexpr std::string_view kPrefix = "sha256=";
  if (header_value.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string given(header_value.substr(kPrefix.size()));
  for (auto& c : given) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return constant_time_equal(given, to_hex(hmac_sha256(secret, body)));
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  // Exactly one spelling per value (RFC 7515 2: base64url without padding): no '+', '/' or
  // '=', and the last character's spare bits zero, so a token has one accepted form.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if ((acc & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

namespace {
// Throws when OpenSSL fails (out of memory): its output would be all zeros, the same for
// every password.
std::string pbkdf2(std::string_view password, std::string_view salt, int iterations,
                   const EVP_MD* digest, std::size_t size) {
  std::string out(size, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, digest,
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

constexpr std::string_view kSha512 = "pbkdf2_sha512";
constexpr std::string_view kSha256 = "pbkdf2_sha256";

struct StoredHash {
  std::string_view scheme;
  int iterations = 0;
  std::string salt;
  std::string hash;
};

std::optional<StoredHash> parse_stored(std::string_view stored) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto pos = stored.find('$', start);
    parts.push_back(stored.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  if (parts.size() != 4 || (parts[0] != kSha512 && parts[0] != kSha256)) return std::nullopt;
  StoredHash h;
  h.scheme = parts[0] == kSha512 ? kSha512 : kSha256;
  const auto* end = parts[1].data() + parts[1].size();
  auto [p, ec] = std::from_chars(parts[1].data(), end, h.iterations);
  if (ec != std::errc{} || p != end || h.iterations < kMinPasswordIterations ||
      h.iterations > kMaxPasswordIterations) {
    return std::nullopt;
  }
  auto salt = base64url_decode(parts[2]);
  auto hash = base64url_decode(parts[3]);
  if (!salt || !hash) return std::nullopt;
  h.salt = std::move(*salt);
  h.hash = std::move(*hash);
  return h;
}
}  // namespace

std::string hash_password(std::string_view password, int iterations) {
  const std::string salt = random_bytes(16);
  return std::string(kSha512) + "$" + std::to_string(iterations) + "$" + base64url_encode(salt) +
         "$" + base64url_encode(pbkdf2(password, salt, iterations, EVP_sha512(), 64));
}

bool verify_password(std::string_view password, std::string_view stored) {
  const auto h = parse_stored(stored);
  if (!h) return false;
  const bool sha512 = h->scheme == kSha512;
  return constant_time_equal(pbkdf2(password, h->salt, h->iterations,
                                    sha512 ? EVP_sha512() : EVP_sha256(), sha512 ? 64 : 32),
                             h->hash);
}

bool password_needs_rehash(std::string_view stored, int iterations) {
  const auto h = parse_stored(stored);
  return !h || h->scheme != kSha512 || h->iterations < iterations;
}

int pad_failed_check(std::string_view password, std::string_view stored, int iterations) {
  const auto h = parse_stored(stored);
  // What the check just made cost, in SHA-512 rounds (nothing for a hash it could not read).
  std::int64_t spent = 0;
  if (h) spent = h->scheme == kSha512 ? h->iterations : std::int64_t{h->iterations} * 45 / 100;
  const std::int64_t missing = std::int64_t{iterations} - spent;
  if (missing <= 0) return 0;
  (void)pbkdf2(password, "pad", static_cast<int>(missing), EVP_sha512(), 64);
  return static_cast<int>(missing);
}

}  // namespace lia::auth
