#pragma once
// HTTP messages as plain values, shared by the server and the client. No Beast here: the
// session code converts to and from these types.

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::http {

// ASCII case-insensitive comparison (header names, methods, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

using StringMap = std::map<std::string, std::string, std::less<>>;

// An ordered list of header fields with case-insensitive lookup. Repeated names are kept.
class Headers {
 public:
  struct Entry {
    std::string name;
    std::string value;
  };

  Headers() = default;
  Headers(std::initializer_list<Entry> entries) : entries_(entries) {}

  // The first value whose name matches, or nullptr.
  const std::string* find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  void add(std::string name, std::string value);
  // Replaces every field of that name by one.
  void set(std::string name, std::string value);
  void remove(std::string_view name);

  void reserve(std::size_t n) { entries_.reserve(n); }
  void clear() noexcept { entries_.clear(); }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
};

struct Request {
  std::string method;  // upper-case as sent: "GET", "POST"
  std::string target;  // as sent: "/webhooks/meta?x=1"
  std::string path;    // target without the query, not decoded: "/webhooks/meta"
  StringMap query;     // decoded query parameters (last one wins)
  Headers headers;
  std::string body;            // raw bytes, exactly as received
  StringMap params;            // decoded path parameters from the route pattern
  std::string remote_address;  // peer IP, e.g. "10.0.3.7" (see X-Forwarded-For behind a proxy)
  std::string_view route;      // the matched pattern, e.g. "/webhooks/evolution/{event}"

  const std::string* header(std::string_view name) const noexcept { return headers.find(name); }
  const std::string* param(std::string_view name) const noexcept;
  const std::string* query_param(std::string_view name) const noexcept;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  Headers headers;  // extra fields (Content-Type and Content-Length are set from the above)

  static Response json(int status, std::string body);
  static Response text(int status, std::string body);
  // 204-style answer without a body.
  static Response empty(int status);
};

// {"error":{"code":"<code>","message":"<message>"}} with the given status.
Response json_error(int status, std::string_view code, std::string_view message);

// The request's `Idempotency-Key` header: nullopt without one; invalid_argument, with a
// message naming the header, when it is sent more than once or is not 1..200 printable ASCII
// characters (a client's UUID fits). The same key and request again answer the first result.
inline constexpr std::string_view kIdempotencyKey = "Idempotency-Key";
core::Result<std::optional<std::string>> idempotency_key(const Request& req);

// The standard reason phrase ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

// Percent-decoding. Invalid escapes are kept literally. With plus_as_space, '+' becomes ' '
// (query strings and forms).
std::string url_decode(std::string_view s, bool plus_as_space);
// Percent-encodes everything except unreserved characters (RFC 3986).
std::string url_encode(std::string_view s);
// "a=1&b=x%20y" -> {a:1, b:"x y"}; a key without '=' maps to "".
StringMap parse_query(std::string_view query);
// Splits a request target into its path and decoded query. Accepts origin-form ("/a?b")
// and absolute-form ("http://host/a?b"); returns false for anything else, and for a target
// holding an escaped NUL ("%00": no parameter may carry one).
bool split_target(std::string_view target, std::string& path, StringMap& query);

}  // namespace lia::http
