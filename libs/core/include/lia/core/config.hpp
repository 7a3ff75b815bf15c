#pragma once
// Typed settings from LIA_* environment variables, validated once at start. Every problem
// is collected and reported together, each naming its variable, so a bad deployment says
// exactly what to fix:
//
//   lia::core::Env env;
//   auto port = env.port("LIA_HTTP_PORT", 8080);
//   auto pg   = env.required("LIA_PG_URL");
//   env.check();  // throws ConfigError listing every bad or missing variable

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lia::core {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// `text` with every password of the database URL `url` (its user info's, and any password=
// parameter's) replaced by "***": for the URL itself in a summary, or a client library's
// message that quotes part of it.
std::string hide_url_passwords(std::string text, std::string_view url);

class Env {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string&)>;

  // Reads the process environment.
  Env();
  explicit Env(Lookup lookup);
  static Env from_map(std::map<std::string, std::string> values);

  std::string string(const std::string& name, const std::string& fallback);
  std::optional<std::string> optional(const std::string& name);
  std::string required(const std::string& name);
  // Like required/string, but the value never appears in summary() or errors.
  std::string secret(const std::string& name, const std::optional<std::string>& fallback = {});
  // A secret used as it is, in a header or a signature (a token, an API key, an HMAC key):
  // whitespace at either end or a control character anywhere (a Secret made from a file that
  // ends in a newline) is refused, where it would otherwise fail every request later.
  std::string credential(const std::string& name, const std::optional<std::string>& fallback = {});
  // A Kafka topic name: 1..249 of [A-Za-z0-9._-], not "." or "..".
  std::string topic(const std::string& name, const std::string& fallback);
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  std::uint16_t port(const std::string& name, std::uint16_t fallback);
  // A numeric IPv4 or IPv6 address to listen on (0.0.0.0, 127.0.0.1, ::).
  std::string ip_address(const std::string& name, const std::string& fallback);
  bool boolean(const std::string& name, bool fallback);
  std::chrono::milliseconds millis(const std::string& name, std::chrono::milliseconds fallback,
                                   std::chrono::milliseconds min = std::chrono::milliseconds{0},
                                   std::chrono::milliseconds max = std::chrono::hours{24});
  std::string one_of(const std::string& name, const std::string& fallback,
                     std::initializer_list<const char*> choices);
  // An http:// or https:// URL with a host (and a port of 1..65535 if one is given), no
  // credentials (user:password@), no spaces, no query or fragment (paths are appended to it),
  // without a trailing slash.
  std::string url(const std::string& name, const std::optional<std::string>& fallback);
  // A libpq connection URI (postgres:// or postgresql://).
  std::string pg_url(const std::string& name, const std::optional<std::string>& fallback);

  // Records a problem found by the caller's own validation (e.g. a value too long), so it
  // is reported with the others and stops the start the same way.
  void problem(const std::string& name, const std::string& what);

  // Throws ConfigError if any lookup so far found a problem.
  void check() const;
  const std::vector<std::string>& problems() const { return problems_; }
  // name -> value as read (secrets shown as "***"), for the start-up log.
  const std::vector<std::pair<std::string, std::string>>& summary() const { return summary_; }

 private:
  std::optional<std::string> raw(const std::string& name);
  void note(const std::string& name, const std::string& shown);

  Lookup lookup_;
  std::vector<std::string> problems_;
  std::vector<std::pair<std::string, std::string>> summary_;
};

// Settings every service shares. Read by the service runtime.
struct CommonConfig {
  std::string service;                              // e.g. "ingestion"
  std::uint16_t http_port = 0;                      // LIA_HTTP_PORT
  std::string http_address = "0.0.0.0";             // LIA_HTTP_ADDRESS
  std::string kafka_bootstrap;                      // LIA_KAFKA_BOOTSTRAP
  std::string pg_url;                               // LIA_PG_URL
  std::string log_level;                            // LIA_LOG_LEVEL: debug|info|warn|error
  bool log_unmask = false;                          // LIA_LOG_UNMASK: show PII in logs (debug only)
  std::chrono::milliseconds shutdown_grace{25000};  // LIA_SHUTDOWN_GRACE_MS

  static CommonConfig read(Env& env, const std::string& service, std::uint16_t default_port);
};

}  // namespace lia::core
