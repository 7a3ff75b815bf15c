#include <cctype>

#include <fmt/format.h>

#include <lia/core/url.hpp>

namespace lia::core {
namespace {

bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

core::Result<Url> parse_url(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, fmt::format("bad URL: {}", why));
  };
  Url u;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad("missing scheme (want http:// or https://)");
  const auto scheme = text.substr(0, sep);
  if (iequals_ascii(scheme, "http")) {
    u.scheme = "http";
    u.port = 80;
  } else if (iequals_ascii(scheme, "https")) {
    u.scheme = "https";
    u.port = 443;
  } else {
    return bad("unsupported scheme (want http or https)");
  }
  std::string_view rest = text.substr(sep + 3);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in URLs are not supported");
  if (authority.empty()) return bad("missing host");
  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    u.host.assign(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    u.host.assign(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("missing host");
  for (char c : u.host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '\\') return bad("invalid host");
  }
  if (!port_text.empty() || authority.back() == ':') {
    const auto port = parse_port(port_text);
    if (!port) return bad("invalid port");
    u.port = *port;
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad("invalid character in path");
  }
  if (target.front() == '?') {
    u.target = "/";
    u.target += target;
  } else {
    u.target.assign(target);
  }
  return u;
}

}  // namespace lia::core
