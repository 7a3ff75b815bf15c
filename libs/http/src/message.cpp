#include <algorithm>

#include <lia/core/log.hpp>
#include <lia/core/text.hpp>
#include <lia/http/message.hpp>

namespace lia::http {
namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const std::string* find_in(const StringMap& m, std::string_view key) noexcept {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const std::string* Headers::find(std::string_view name) const noexcept {
  for (const auto& e : entries_) {
    if (iequals(e.name, name)) return &e.value;
  }
  return nullptr;
}

void Headers::add(std::string name, std::string value) {
  entries_.push_back({std::move(name), std::move(value)});
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  add(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(entries_, [&](const Entry& e) { return iequals(e.name, name); });
}

const std::string* Request::param(std::string_view name) const noexcept {
  return find_in(params, name);
}

const std::string* Request::query_param(std::string_view name) const noexcept {
  return find_in(query, name);
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  r.content_type.clear();
  return r;
}

Response json_error(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.body.reserve(40 + code.size() + message.size());
  r.body += R"({"error":{"code":")";
  core::json_escape(r.body, code);
  r.body += R"(","message":")";
  core::json_escape(r.body, message);
  r.body += "\"}}";
  return r;
}

core::Result<std::optional<std::string>> idempotency_key(const Request& req) {
  constexpr std::size_t kMax = 200;
  const std::string* found = nullptr;
  for (const auto& h : req.headers) {
    if (!iequals(h.name, kIdempotencyKey)) continue;
    if (found != nullptr) {
      return core::Error(core::Errc::invalid_argument,
                         "send one Idempotency-Key header, not several");
    }
    found = &h.value;
  }
  if (found == nullptr) return std::optional<std::string>{};
  const bool printable =
      std::all_of(found->begin(), found->end(), [](char ch) { return ch >= 0x20 && ch <= 0x7e; });
  if (found->empty() || found->size() > kMax || !printable) {
    return core::Error(core::Errc::invalid_argument,
                       "Idempotency-Key must be 1..200 printable ASCII characters");
  }
  return std::optional<std::string>(*found);
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

std::string url_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_as_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

StringMap parse_query(std::string_view query) {
  StringMap out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1), true);
    out.insert_or_assign(std::move(key), std::move(value));
  }
  return out;
}

bool split_target(std::string_view target, std::string& path, StringMap& query) {
  if (target.empty()) return false;
  // An escaped NUL would decode into a parameter that PostgreSQL, given C strings, cuts there.
  if (target.find("%00") != std::string_view::npos) return false;
  if (target.front() != '/') {
    // absolute-form: scheme://authority/path?query
    std::string_view rest;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {
      rest = target.substr(7);
    } else if (target.size() > 8 && iequals(target.substr(0, 8), "https://")) {
      rest = target.substr(8);
    } else {
      return false;
    }
    const auto slash = rest.find_first_of("/?");
    if (slash == std::string_view::npos) {
      target = "/";
    } else if (rest[slash] == '?') {
      path = "/";
      query = parse_query(rest.substr(slash + 1));
      return true;
    } else {
      target = rest.substr(slash);
    }
  }
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    path.assign(target);
    query.clear();
    return true;
  }
  path.assign(target.substr(0, q));
  auto qs = target.substr(q + 1);
  if (const auto hash = qs.find('#'); hash != std::string_view::npos) qs = qs.substr(0, hash);
  query = parse_query(qs);
  return true;
}

}  // namespace lia::http
