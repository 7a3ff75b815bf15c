#pragma once
// Absolute http(s) URLs, parsed one way for the HTTP client that uses them and for the
// settings that name them (Env::url), so a URL accepted at start is one the client takes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/result.hpp>

namespace lia::core {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
};
// Parses an absolute http(s) URL; userinfo and fragments are rejected / dropped.
// Errors: invalid_argument, "bad URL: <why>".
Result<Url> parse_url(std::string_view url);

// A TCP port written in decimal, 1..65535.
std::optional<std::uint16_t> parse_port(std::string_view text);

}  // namespace lia::core
