#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <lia/core/config.hpp>
#include <lia/core/url.hpp>

namespace lia::core {
namespace {

std::string join_problems(const std::vector<std::string>& problems) {
  std::string s = "invalid configuration:";
  for (const auto& p : problems) {
    s += "\n  - ";
    s += p;
  }
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

Env::Env()
    : lookup_([](const std::string& name) -> std::optional<std::string> {
        // Read once at start-up, before any thread exists.
        const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      }) {}

Env::Env(Lookup lookup) : lookup_(std::move(lookup)) {}

Env Env::from_map(std::map<std::string, std::string> values) {
  return Env([values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  });
}

std::optional<std::string> Env::raw(const std::string& name) {
  auto v = lookup_(name);
  if (v && v->empty()) return std::nullopt;  // an empty variable counts as unset
  return v;
}

void Env::problem(const std::string& name, const std::string& what) {
  problems_.push_back(fmt::format("{}: {}", name, what));
}

void Env::note(const std::string& name, const std::string& shown) {
  summary_.emplace_back(name, shown);
}

std::string Env::string(const std::string& name, const std::string& fallback) {
  auto v = raw(name).value_or(fallback);
  note(name, v);
  return v;
}

std::optional<std::string> Env::optional(const std::string& name) {
  auto v = raw(name);
  note(name, v.value_or("(unset)"));
  return v;
}

std::string Env::required(const std::string& name) {
  auto v = raw(name);
  if (!v) {
    problem(name, "is required but not set");
    return {};
  }
  note(name, *v);
  return *v;
}

std::string Env::secret(const std::string& name, const std::optional<std::string>& fallback) {
  auto v = raw(name);
  if (!v && !fallback) {
    problem(name, "is required but not set");
    return {};
  }
  note(name, v ? "***" : "(default)");
  return v ? *v : *fallback;
}

std::string Env::credential(const std::string& name, const std::optional<std::string>& fallback) {
  const auto v = raw(name);
  auto out = secret(name, fallback);
  if (!v) return out;
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  const bool control =
      std::any_of(out.begin(), out.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (space(static_cast<unsigned char>(out.front())) ||
      space(static_cast<unsigned char>(out.back()))) {
    problem(name,
            "has whitespace at its start or end (a Secret made from a file that ends in "
            "a newline?); it is used as it is, so every request would fail");
  } else if (control) {
    problem(name, "holds a control character; it is used as it is, so every request would fail");
  }
  return out;
}

std::string Env::topic(const std::string& name, const std::string& fallback) {
  auto v = raw(name).value_or(fallback);
  const bool legal = !v.empty() && v.size() <= 249 && v != "." && v != ".." &&
                     std::all_of(v.begin(), v.end(), [](unsigned char c) {
                       return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
                     });
  if (!legal) {
    problem(name, fmt::format("expected a Kafka topic name (1..249 of letters, digits, '.', '_', "
                              "'-'), got '{}'",
                              v));
    return fallback;
  }
  note(name, v);
  return v;
}

std::int64_t Env::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) {
  auto v = raw(name);
  if (!v) {
    note(name, std::to_string(fallback));
    return fallback;
  }
  std::int64_t out = 0;
  const char* begin = v->data();
  const char* end = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc{} || ptr != end) {
    problem(name, fmt::format("expected an integer, got '{}'", *v));
    return fallback;
  }
  if (out < min || out > max) {
    problem(name, fmt::format("must be between {} and {}, got {}", min, max, out));
    return fallback;
  }
  note(name, *v);
  return out;
}

std::uint16_t Env::port(const std::string& name, std::uint16_t fallback) {
  // 0 asks the OS for a free port (tests use it).
  return static_cast<std::uint16_t>(integer(name, fallback, 0, 65535));
}

bool Env::boolean(const std::string& name, bool fallback) {
  auto v = raw(name);
  if (!v) {
    note(name, fallback ? "true" : "false");
    return fallback;
  }
  const auto s = lower(*v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") {
    note(name, "true");
    return true;
  }
  if (s == "0" || s == "false" || s == "no" || s == "off") {
    note(name, "false");
    return false;
  }
  problem(name, fmt::format("expected true or false, got '{}'", *v));
  return fallback;
}

std::chrono::milliseconds Env::millis(const std::string& name, std::chrono::milliseconds fallback,
                                      std::chrono::milliseconds min,
                                      std::chrono::milliseconds max) {
  return std::chrono::milliseconds{integer(name, fallback.count(), min.count(), max.count())};
}

std::string Env::one_of(const std::string& name, const std::string& fallback,
                        std::initializer_list<const char*> choices) {
  auto v = raw(name);
  if (!v) {
    note(name, fallback);
    return fallback;
  }
  for (const char* c : choices) {
    if (*v == c) {
      note(name, *v);
      return *v;
    }
  }
  std::string list;
  for (const char* c : choices) {
    if (!list.empty()) list += ", ";
    list += c;
  }
  problem(name, fmt::format("must be one of {}, got '{}'", list, *v));
  return fallback;
}

std::string Env::url(const std::string& name, const std::optional<std::string>& fallback) {
  auto v = raw(name);
  if (!v && !fallback) {
    problem(name, "is required but not set");
    return {};
  }
  std::string s = v ? *v : *fallback;
  // The HTTP client's own parser: a URL accepted here is one it takes.
  if (auto u = parse_url(s); !u) {
    if (s.find('@') != std::string::npos) {
      // Not echoed: what comes before an '@' may be a password.
      problem(name, fmt::format("is not a usable http:// or https:// URL ({}); the value is not "
                                "shown, as it may hold a password",
                                u.error().message()));
    } else {
      problem(name, fmt::format("expected an http:// or https:// URL ({}), got '{}'",
                                u.error().message(), s));
    }
    return {};
  }
  if (const auto at = s.find_first_of("?#"); at != std::string::npos) {
    // Each of these URLs gets its paths appended ("/chat/completions", "/message/sendText/…"),
    // which would land inside a query or fragment.
    problem(name, fmt::format("must not have a {} ('{}'): paths are appended to it",
                              s[at] == '?' ? "query" : "fragment", s.substr(at, 1)));
    return {};
  }
  while (!s.empty() && s.back() == '/') s.pop_back();
  note(name, s);
  return s;
}

std::string Env::ip_address(const std::string& name, const std::string& fallback) {
  auto v = raw(name);
  std::string s = v ? *v : fallback;
  in6_addr buf{};
  if (::inet_pton(AF_INET, s.c_str(), &buf) != 1 && ::inet_pton(AF_INET6, s.c_str(), &buf) != 1) {
    problem(name,
            fmt::format("expected a numeric IP address such as 0.0.0.0 or 127.0.0.1, got '{}'", s));
    return fallback;
  }
  note(name, s);
  return s;
}

std::string Env::pg_url(const std::string& name, const std::optional<std::string>& fallback) {
  auto v = raw(name);
  if (!v && !fallback) {
    problem(name, "is required but not set (e.g. postgresql://user@127.0.0.1:5432/lia)");
    return {};
  }
  std::string s = v ? *v : *fallback;
  if (s.rfind("postgres://", 0) != 0 && s.rfind("postgresql://", 0) != 0) {
    problem(name, "expected a postgresql:// URL");
    return {};
  }
  // libpq ends the user and password at the first '/': a password with one would be read as a
  // host and port (and shown in libpq's error). It has to be percent-encoded.
  if (const auto start = s.find("://") + 3, at = s.rfind('@'); at != std::string::npos) {
    const auto slash = s.find('/', start);
    const auto query = s.find('?', start);
    if (slash < at && query > at) {
      problem(name, "its user or password has a '/': write it percent-encoded (%2F)");
    }
  }
  note(name, hide_url_passwords(s, s));
  return s;
}

std::string hide_url_passwords(std::string text, std::string_view url) {
  std::vector<std::string_view> secrets;
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    // Up to the last '@': a password may hold '/', '?', '#' or '@' unencoded (libpq reads some
    // of those, and refuses the rest with an error that quotes them). An '@' further on, in
    // a parameter, only hides more.
    const auto start = scheme + 3;
    const auto at = url.rfind('@');
    if (at != std::string_view::npos && at > start) {
      if (const auto colon = url.find(':', start); colon != std::string_view::npos && colon < at) {
        secrets.push_back(url.substr(colon + 1, at - colon - 1));
      }
    }
  }
  if (const auto query = url.find('?'); query != std::string_view::npos) {
    for (auto p = url.find("password=", query); p != std::string_view::npos;
         p = url.find("password=", p + 1)) {
      const auto from = p + 9;
      secrets.push_back(url.substr(from, std::min(url.find('&', from), url.size()) - from));
    }
  }
  for (const auto s : secrets) {
    if (s.empty()) continue;
    for (auto p = text.find(s); p != std::string::npos; p = text.find(s, p + 3)) {
      text.replace(p, s.size(), "***");
    }
  }
  return text;
}

void Env::check() const {
  if (!problems_.empty()) throw ConfigError(problems_);
}

CommonConfig CommonConfig::read(Env& env, const std::string& service, std::uint16_t default_port) {
  CommonConfig c;
  c.service = service;
  c.http_port = env.port("LIA_HTTP_PORT", default_port);
  c.http_address = env.ip_address("LIA_HTTP_ADDRESS", "0.0.0.0");
  c.kafka_bootstrap = env.string("LIA_KAFKA_BOOTSTRAP", "127.0.0.1:9092");
  // host:port[,host:port...], as librdkafka's bootstrap.servers takes it (a scheme such as
  // PLAINTEXT:// or SSL:// before each is allowed).
  for (std::string_view rest = c.kafka_bootstrap; !c.kafka_bootstrap.empty();) {
    const auto comma = rest.find(',');
    std::string_view server = rest.substr(0, comma);
    if (const auto scheme = server.find("://"); scheme != std::string_view::npos) {
      server = server.substr(scheme + 3);
    }
    const auto colon = server.rfind(':');
    const bool ok = colon != std::string_view::npos && colon > 0 &&
                    parse_port(server.substr(colon + 1)) &&
                    std::none_of(server.begin(), server.end(), [](unsigned char ch) {
                      return ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '@';
                    });
    if (!ok) {
      env.problem("LIA_KAFKA_BOOTSTRAP",
                  fmt::format("expected host:port[,host:port...] with ports 1..65535, got '{}'",
                              c.kafka_bootstrap));
      break;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  c.pg_url = env.pg_url("LIA_PG_URL", std::string("postgresql://lia@127.0.0.1:54329/lia"));
  c.log_level = env.one_of("LIA_LOG_LEVEL", "info", {"debug", "info", "warn", "error"});
  c.log_unmask = env.boolean("LIA_LOG_UNMASK", false);
  c.shutdown_grace = env.millis("LIA_SHUTDOWN_GRACE_MS", std::chrono::milliseconds{25000},
                                std::chrono::milliseconds{100}, std::chrono::minutes{10});
  return c;
}

}  // namespace lia::core
