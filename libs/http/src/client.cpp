// The client's connections: every Beast/Asio/OpenSSL template for the client lives here.

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <lia/http/client.hpp>

namespace lia::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;
using core::Errc;
using core::Error;

// ---- connections -------------------------------------------------------------

namespace {

struct Connection {
  explicit Connection(std::string k) : key(std::move(k)) {}

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs the connection's io_context until the started operation completed. Every
  // operation carries the tcp_stream's deadline, so this returns by then.
  void run() {
    ioc.restart();
    ioc.run();
  }

  // True if the idle connection still looks usable: no EOF, no error, no stray bytes.
  bool still_open() {
    char byte = 0;
    const auto n = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    return false;  // 0: the server closed it; >0: unexpected data (e.g. a TLS alert)
  }

  std::string key;
  asio::io_context ioc{1};  // first: outlives the streams below
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  // Unparsed bytes: a status line and headers (64 KiB at most), a chunk's size line or the
  // trailers wait here whole; capped so a hostile server cannot grow it without bound.
  beast::flat_buffer buffer{std::size_t{128} * 1024};
  SteadyClock::time_point last_used{};
  bool reused = false;
};

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// A closed keep-alive connection shows up as one of these before any response byte.
bool stale_connection_error(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o) : opts(std::move(o)), tls_ctx(ssl::context::tls_client) {
    tls_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    tls_ctx.set_default_verify_paths(ec);
    if (!opts.ca_file.empty()) {
      tls_ctx.load_verify_file(opts.ca_file, ec);
      if (ec) ca_problem = fmt::format("cannot load CA file {}: {}", opts.ca_file, ec.message());
    }
    tls_ctx.set_verify_mode(opts.verify_peer ? ssl::verify_peer : ssl::verify_none);
  }

  core::Result<ClientResponse> request(const ClientRequest& r, bool& sent);

  std::unique_ptr<Connection> checkout(const std::string& key);
  void checkin(std::unique_ptr<Connection> c);
  core::Result<std::unique_ptr<Connection>> connect(const Url& url, const std::string& key,
                                                    SteadyClock::time_point deadline);
  error_code exchange(Connection& c, bhttp::request<bhttp::string_body>& req, bool head,
                      SteadyClock::time_point deadline, ClientResponse& out, bool& keep_alive,
                      bool& wrote);

  ClientOptions opts;
  ssl::context tls_ctx;
  std::string ca_problem;
  std::mutex mu;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> answered{0};
};

std::unique_ptr<Connection> Client::Impl::checkout(const std::string& key) {
  std::vector<std::unique_ptr<Connection>> dropped;  // closed outside the lock
  std::unique_ptr<Connection> found;
  {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    const auto now = SteadyClock::now();
    while (!list.empty() && !found) {
      auto c = std::move(list.back());
      list.pop_back();
      if (now - c->last_used < opts.idle_timeout && c->still_open()) {
        found = std::move(c);
      } else {
        dropped.push_back(std::move(c));
      }
    }
  }
  if (found) found->reused = true;
  return found;
}

void Client::Impl::checkin(std::unique_ptr<Connection> c) {
  c->last_used = SteadyClock::now();
  c->buffer.clear();
  std::lock_guard lock(mu);
  auto& list = idle[c->key];
  if (list.size() < opts.max_idle_per_host) list.push_back(std::move(c));
}

namespace {

// One name lookup, shared by the thread that runs it and the request that waits for it.
struct Lookup {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int rc = 0;  // getaddrinfo's
  std::vector<tcp::endpoint> endpoints;
};

std::mutex g_lookup_hook_mu;
std::function<void()> g_before_lookup;

// The lookups running now, by "host:port": a request that needs one joins it. Never freed: a
// lookup thread still hung when the process exits may touch them after static destruction.
auto& g_running_mu = *new std::mutex;
auto& g_running = *new std::unordered_map<std::string, std::shared_ptr<Lookup>>;

// getaddrinfo cannot be interrupted (Asio's resolver runs it on a thread it joins before
// returning), so a lookup runs on a detached thread of its own: a request past its deadline
// returns and leaves it to finish there. Connections are pooled, so lookups are rare; and
// requests for a host whose lookup is running wait for that one, so a resolver that hangs
// while a provider is down (every request a fresh connection) holds one thread per host,
// not one per request. Nothing is cached once a lookup ends: the next starts afresh.
core::Result<std::shared_ptr<Lookup>> start_lookup(const std::string& host, std::uint16_t port) {
  std::string key = fmt::format("{}:{}", host, port);
  std::lock_guard running(g_running_mu);
  if (auto it = g_running.find(key); it != g_running.end()) return it->second;
  auto lookup = std::make_shared<Lookup>();
  std::function<void()> hook;
  {
    std::lock_guard lock(g_lookup_hook_mu);
    hook = g_before_lookup;
  }
  try {
    std::thread([lookup, host, port, key, hook = std::move(hook)] {
      if (hook) hook();
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_ADDRCONFIG;
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      std::vector<tcp::endpoint> endpoints;
      for (const addrinfo* a = rc == 0 ? found : nullptr; a != nullptr; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(sockaddr_storage)) {
          continue;
        }
        tcp::endpoint e;
        std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
        e.resize(a->ai_addrlen);
        endpoints.push_back(e);
      }
      if (found != nullptr) ::freeaddrinfo(found);
      {
        std::lock_guard lock(g_running_mu);
        g_running.erase(key);
      }
      {
        std::lock_guard lock(lookup->mu);
        lookup->rc = rc;
        lookup->endpoints = std::move(endpoints);
        lookup->done = true;
      }
      lookup->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return Error(Errc::unavailable, fmt::format("cannot start a name lookup: {}", e.what()));
  }
  g_running.emplace(std::move(key), lookup);
  return lookup;
}

}  // namespace

namespace detail {
void set_before_lookup_for_test(std::function<void()> hook) {
  std::lock_guard lock(g_lookup_hook_mu);
  g_before_lookup = std::move(hook);
}
}  // namespace detail

core::Result<std::unique_ptr<Connection>> Client::Impl::connect(const Url& url,
                                                                const std::string& key,
                                                                SteadyClock::time_point deadline) {
  auto conn = std::make_unique<Connection>(key);
  const std::string where = fmt::format("{}://{}:{}", url.scheme, url.host, url.port);

  // Resolve: IP literals directly, names through the system resolver.
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const auto literal = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, url.port);
  } else {
    auto lookup = start_lookup(url.host, url.port);
    if (!lookup)
      return Error(Errc::unavailable, fmt::format("{}: {}", where, lookup.error().message()));
    std::unique_lock lock((*lookup)->mu);
    if (!(*lookup)->cv.wait_until(lock, deadline, [&] { return (*lookup)->done; })) {
      return Error(Errc::timeout, fmt::format("{}: timed out resolving the host", where));
    }
    if ((*lookup)->rc != 0 || (*lookup)->endpoints.empty()) {
      return Error(Errc::unavailable,
                   fmt::format("{}: cannot resolve host: {}", where,
                               (*lookup)->rc != 0 ? ::gai_strerror((*lookup)->rc) : "no address"));
    }
    endpoints = (*lookup)->endpoints;
  }

  const auto connect_deadline = std::min(deadline, SteadyClock::now() + opts.connect_timeout);
  if (url.scheme == "https") {
    conn->tls.emplace(conn->ioc, tls_ctx);
  } else {
    conn->plain.emplace(conn->ioc);
  }
  auto& tcp_layer = conn->tcp();
  tcp_layer.expires_at(connect_deadline);
  ec = {};
  tcp_layer.async_connect(endpoints, [&](error_code cec, const tcp::endpoint&) { ec = cec; });
  conn->run();
  if (ec == beast::error::timeout) {
    return Error(Errc::timeout, fmt::format("{}: connect timed out", where));
  }
  if (ec == asio::error::connection_refused) {
    return Error(Errc::unavailable, fmt::format("{}: connection refused", where));
  }
  if (ec)
    return Error(Errc::unavailable, fmt::format("{}: cannot connect: {}", where, ec.message()));
  tcp_layer.socket().set_option(tcp::no_delay(true), ec);

  if (conn->tls) {
    if (!ca_problem.empty()) return Error(Errc::internal, ca_problem, false);
    SSL* ssl_handle = conn->tls->native_handle();
    error_code not_ip;
    asio::ip::make_address(url.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(ssl_handle, url.host.c_str());  // SNI
    if (opts.verify_peer) conn->tls->set_verify_callback(ssl::host_name_verification(url.host));
    tcp_layer.expires_at(deadline);
    ec = {};
    conn->tls->async_handshake(ssl::stream_base::client, [&](error_code hec) { ec = hec; });
    conn->run();
    if (ec == beast::error::timeout) {
      return Error(Errc::timeout, fmt::format("{}: TLS handshake timed out", where));
    }
    if (ec) {
      const long verify = SSL_get_verify_result(ssl_handle);
      if (opts.verify_peer && verify != X509_V_OK) {
        return Error(Errc::unavailable,
                     fmt::format("{}: TLS certificate rejected: {}", where,
                                 X509_verify_cert_error_string(verify)),
                     false);
      }
      return Error(Errc::unavailable,
                   fmt::format("{}: TLS handshake failed: {}", where, ec.message()));
    }
  }
  opened.fetch_add(1, std::memory_order_relaxed);
  return conn;
}

error_code Client::Impl::exchange(Connection& c, bhttp::request<bhttp::string_body>& req, bool head,
                                  SteadyClock::time_point deadline, ClientResponse& out,
                                  bool& keep_alive, bool& wrote) {
  error_code ec;
  c.tcp().expires_at(deadline);
  auto on_done = [&](error_code e, std::size_t) { ec = e; };
  if (c.tls) {
    bhttp::async_write(*c.tls, req, on_done);
  } else {
    bhttp::async_write(*c.plain, req, on_done);
  }
  c.run();
  if (ec) return ec;
  wrote = true;

  while (true) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(opts.max_response_body);
    parser.header_limit(64 * 1024);
    if (head) parser.skip(true);
    if (c.tls) {
      bhttp::async_read(*c.tls, c.buffer, parser, on_done);
    } else {
      bhttp::async_read(*c.plain, c.buffer, parser, on_done);
    }
    c.run();
    if (ec) return ec;
    auto msg = parser.release();
    const int status = static_cast<int>(msg.result_int());
    if (status >= 100 && status < 200 && status != 101) continue;  // interim answer
    out.status = status;
    out.headers.clear();
    for (const auto& f : msg) out.headers.add(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(msg.body());
    keep_alive = msg.keep_alive() && status != 101;
    return {};
  }
}

core::Result<ClientResponse> Client::Impl::request(const ClientRequest& r, bool& sent) {
  sent = false;
  auto url = parse_url(r.url);
  if (!url) return url.error();
  if (!valid_token(r.method)) {
    return Error(Errc::invalid_argument, "bad HTTP method \"" + r.method + "\"");
  }
  if (r.timeout.count() <= 0) return Error(Errc::invalid_argument, "timeout must be positive");
  const auto deadline = SteadyClock::now() + r.timeout;
  const std::string key = fmt::format("{}://{}:{}", url->scheme, url->host, url->port);

  bhttp::request<bhttp::string_body> req;
  req.method_string(r.method);
  req.target(url->target);
  req.version(11);
  for (const auto& h : r.headers) {
    if (!valid_token(h.name) || h.value.find_first_of("\r\n") != std::string::npos) {
      return Error(Errc::invalid_argument, "bad header \"" + h.name + "\"");
    }
    req.insert(h.name, h.value);
  }
  if (!r.headers.contains("Host")) {
    const bool default_port =
        (url->scheme == "http" && url->port == 80) || (url->scheme == "https" && url->port == 443);
    const bool v6 = url->host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + url->host + "]" : url->host;
    if (!default_port) host += ":" + std::to_string(url->port);
    req.set(bhttp::field::host, host);
  }
  if (!r.headers.contains("User-Agent") && !opts.user_agent.empty()) {
    req.set(bhttp::field::user_agent, opts.user_agent);
  }
  req.body() = r.body;
  if (!r.headers.contains("Content-Length") && !r.headers.contains("Transfer-Encoding")) {
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      req.content_length(r.body.size());
    }
  }
  const bool head = r.method == "HEAD";

  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn = attempt == 0 ? checkout(key) : nullptr;
    if (!conn) {
      auto fresh = connect(*url, key, deadline);
      if (!fresh) return fresh.error();
      conn = std::move(fresh.value());
    }
    ClientResponse out;
    bool keep_alive = false;
    bool wrote = false;
    const error_code ec = exchange(*conn, req, head, deadline, out, keep_alive, wrote);
    sent = wrote;
    if (!ec) {
      answered.fetch_add(1, std::memory_order_relaxed);
      if (keep_alive) checkin(std::move(conn));
      return out;
    }
    const bool retry = attempt == 0 && conn->reused && stale_connection_error(ec) &&
                       (!wrote || is_idempotent(r.method)) && SteadyClock::now() < deadline;
    if (retry) continue;
    const std::string what = fmt::format("{} {}", r.method, key);
    if (ec == beast::error::timeout) {
      return Error(Errc::timeout,
                   fmt::format("{}: timed out after {} ms", what, r.timeout.count()));
    }
    if (ec == bhttp::error::body_limit) {
      return Error(Errc::too_large,
                   fmt::format("{}: response body exceeds {} bytes", what, opts.max_response_body));
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return Error(Errc::unavailable,
                   fmt::format("{}: malformed response: {}", what, ec.message()));
    }
    return Error(Errc::unavailable,
                 fmt::format("{}: connection failed {} the response: {}", what,
                             wrote ? "while reading" : "while sending", ec.message()));
  }
}

// ---- Client ------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

core::Result<ClientResponse> Client::request(const ClientRequest& request) {
  bool sent = false;
  return impl_->request(request, sent);
}

core::Result<ClientResponse> Client::request(const ClientRequest& request, bool& sent) {
  return impl_->request(request, sent);
}

core::Result<ClientResponse> Client::get(std::string url, std::chrono::milliseconds timeout) {
  ClientRequest r;
  r.url = std::move(url);
  r.timeout = timeout;
  return request(r);
}

core::Result<ClientResponse> Client::post(std::string url, std::string body,
                                          std::string content_type,
                                          std::chrono::milliseconds timeout) {
  ClientRequest r;
  r.method = "POST";
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers.add("Content-Type", std::move(content_type));
  r.timeout = timeout;
  return request(r);
}

Client::Stats Client::stats() const {
  Stats s;
  s.connections_opened = impl_->opened.load();
  s.requests = impl_->answered.load();
  std::lock_guard lock(impl_->mu);
  for (const auto& [k, list] : impl_->idle) s.idle += list.size();
  return s;
}

}  // namespace lia::http
