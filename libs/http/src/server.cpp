// The server's sessions: every Beast/Asio template for serving lives in this file.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/core/text.hpp>
#include <lia/http/server.hpp>

namespace lia::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace detail {

class Session;

struct ResponderState {
  ResponderState(std::weak_ptr<Session> s, std::uint64_t q) : session(std::move(s)), seq(q) {}
  explicit ResponderState(std::function<void(Response&&)> f) : seq(0), sink(std::move(f)) {}
  ~ResponderState();
  ResponderState(const ResponderState&) = delete;
  ResponderState& operator=(const ResponderState&) = delete;
  void send(Response&& response) const;

  std::weak_ptr<Session> session;
  std::uint64_t seq;
  std::function<void(Response&&)> sink;  // instead of a session (Responder::to)
  std::atomic<bool> used{false};
};

// Marks the threads that run the server's handlers, so stop() knows not to join itself.
thread_local const void* t_own_server = nullptr;

struct OwnThreadMark {
  explicit OwnThreadMark(const void* server) : previous(t_own_server) { t_own_server = server; }
  ~OwnThreadMark() { t_own_server = previous; }
  OwnThreadMark(const OwnThreadMark&) = delete;
  OwnThreadMark& operator=(const OwnThreadMark&) = delete;
  const void* previous;
};

// Request counts by status and latency for one (route, method).
struct RouteStats {
  RouteStats(std::string r, std::string m) : route(std::move(r)), method(std::move(m)) {
    latency = &core::metrics().histogram("lia_http_server_request_duration_seconds",
                                         "Time from the end of the request headers to the "
                                         "response written, by route pattern",
                                         {{"route", route}, {"method", method}});
  }

  void record(int status, SteadyClock::duration elapsed) {
    latency->observe(std::chrono::duration<double>(elapsed).count());
    if (status < 100 || status > 599) status = 599;
    auto& slot = by_status[static_cast<std::size_t>(status - 100)];
    core::Counter* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) {
      c = &core::metrics().counter(
          "lia_http_server_requests_total", "HTTP requests answered, by route pattern and status",
          {{"route", route}, {"method", method}, {"status", std::to_string(status)}});
      slot.store(c, std::memory_order_release);
    }
    c->inc();
  }

  std::string route;
  std::string method;
  core::Histogram* latency = nullptr;
  std::array<std::atomic<core::Counter*>, 500> by_status{};
};

}  // namespace detail

struct Server::Impl {
  Impl(ServerOptions o, Router r, Readiness ready);

  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void begin_stop(bool wait_for_acceptor);
  bool wait_sessions(SteadyClock::time_point deadline);
  template <class F>
  void for_each_session(F&& f);
  Response readyz() const;
  detail::RouteStats& stats_for(const Router::Endpoint* e) {
    return e == nullptr ? *unmatched_stats : *route_stats[e->id];
  }
  core::Counter& rejected(const char* reason) {
    return core::metrics().counter("lia_http_server_rejected_total",
                                   "Requests refused before routing (malformed, too large, "
                                   "too slow, too many connections)",
                                   {{"reason", reason}});
  }

  ServerOptions opts;
  Router router;
  Readiness readiness;
  // Some route has a body limit, filter, timeout or budget of its own: a request's route is
  // matched at its headers.
  bool route_body_limits = false;
  std::size_t parse_limit = 0;                                   // the largest body any route takes
  std::vector<std::unique_ptr<detail::RouteStats>> route_stats;  // by endpoint id
  std::unique_ptr<detail::RouteStats> unmatched_stats;
  core::Gauge* connections_gauge = nullptr;
  core::Gauge* waiting_gauge = nullptr;  // blocking requests queued for an API thread
  core::Counter* rejected_malformed = nullptr;
  core::Counter* rejected_too_large = nullptr;
  std::atomic<std::int64_t> too_large_logged_at{-1};  // the steady second of the last 413 logged
  core::Counter* rejected_headers = nullptr;
  core::Counter* rejected_slow = nullptr;
  core::Counter* rejected_overload = nullptr;
  core::Counter* rejected_busy = nullptr;

  // Sessions alive; the destructor of each removes it and wakes stop().
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<detail::Session*, std::weak_ptr<detail::Session>> sessions;
  std::atomic<std::size_t> live{0};

  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};
  std::mutex stop_mu;  // serializes start() and the blocking part of stop()
  bool started = false;
  bool finished = false;
  std::uint16_t bound_port = 0;
  std::size_t max_connections = 0;   // opts.max_connections, or less to fit RLIMIT_NOFILE
  std::int64_t accept_failures = 0;  // since the last warning (acceptor's strand only)
  std::chrono::steady_clock::time_point next_accept_warning{};

  std::atomic<std::size_t> body_bytes{0};  // reserved by bodies being read or handled
  // Destroyed before everything above (reverse order), so sessions that die with the
  // io_context (or with a pool, their queued handlers) can still reach the members above,
  // the body budget included.
  asio::io_context ioc;
  // Keeps the I/O threads running while a handler owes an answer and nothing else is
  // pending (e.g. during the grace period, after the acceptor closed).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<asio::thread_pool> pool;
  std::optional<asio::thread_pool> probe_pool;  // /readyz, never behind the API
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::vector<std::thread> threads;
};

namespace detail {

// A request body's share of the server's body budget: the memory its text takes. A body read
// whole is charged before its text grows, so such bodies never take more than the budget
// together; a filtered body, once its filter kept the bytes (at most its route's limit more).
class BodyAccount {
 public:
  BodyAccount(std::atomic<std::size_t>& held, std::size_t budget) : held_(&held), budget_(budget) {}
  BodyAccount(const BodyAccount&) = delete;
  BodyAccount& operator=(const BodyAccount&) = delete;
  ~BodyAccount() { release(); }

  // Charges up to `total` bytes in all; false (nothing charged) when they do not fit.
  bool grow_to(std::size_t total) {
    if (total <= charged_) return true;
    const std::size_t more = total - charged_;
    std::size_t held = held_->load(std::memory_order_relaxed);
    do {
      if (held + more > budget_) return false;
    } while (!held_->compare_exchange_weak(held, held + more, std::memory_order_relaxed));
    charged_ = total;
    return true;
  }
  // Whether `more` bytes would fit now (charging nothing).
  bool fits(std::size_t more) const {
    return held_->load(std::memory_order_relaxed) + more <= budget_;
  }
  void release() {
    if (charged_ == 0) return;
    held_->fetch_sub(charged_, std::memory_order_relaxed);
    charged_ = 0;
  }
  // The budget the next body is charged to (with nothing charged now: between requests).
  void use(std::atomic<std::size_t>& held, std::size_t budget) {
    release();
    held_ = &held;
    budget_ = budget;
  }

 private:
  std::atomic<std::size_t>* held_;
  std::size_t budget_;
  std::size_t charged_ = 0;
};

// A request body kept as a string, or passed through its route's filter as it arrives
// (RouteOptions::body_filter), which Beast's string_body cannot do. Its memory is charged to
// the body budget as it grows: a body that declares 4 MiB and sends nothing holds nothing, and
// one that trickles in holds at most about twice what arrived.
struct RequestBody {
  struct value_type {
    std::string text;
    BodyFilter* filter = nullptr;    // set after the headers, before the first byte of the body
    BodyAccount* account = nullptr;  // set after the headers: what the text's memory is charged to
    std::size_t limit = 0;           // the most it may keep (with a filter: checked here)
    bool kept_over = false;          // the filter kept more than limit
    bool over_budget = false;        // its memory did not fit in the body budget
    std::string filter_failed;       // what the filter (or its factory) threw, if it did
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(bhttp::header<isRequest, Fields>& /*header*/, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, error_code& ec) {
      length_ = length ? *length : 0;
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, error_code& ec) {
      ec = {};
      if (body_.filter == nullptr) {
        const std::size_t n = asio::buffer_size(buffers);
        if (!make_room(body_.text.size() + n)) return fail(ec);
        for (auto it = asio::buffer_sequence_begin(buffers);
             it != asio::buffer_sequence_end(buffers); ++it) {
          body_.text.append(static_cast<const char*>(it->data()), it->size());
        }
        return n;
      }
      std::size_t n = 0;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
           ++it) {
        const std::string_view bytes(static_cast<const char*>(it->data()), it->size());
        n += bytes.size();
        try {
          body_.filter->feed(bytes, body_.text);
        } catch (const std::exception& e) {
          body_.filter_failed = e.what();
        } catch (...) {
          body_.filter_failed = "unknown exception";
        }
        if (!body_.filter_failed.empty()) {
          ec = bhttp::error::body_limit;  // ends the read; on_read_error answers 500
          return n;
        }
      }
      if (body_.text.size() > body_.limit) {
        body_.kept_over = true;
        ec = bhttp::error::body_limit;
        return n;
      }
      // What the filter keeps is charged once kept: its size is known only then.
      if (body_.account != nullptr && !body_.account->grow_to(body_.text.capacity())) {
        fail(ec);
      }
      return n;
    }

    void finish(error_code& ec) { ec = {}; }

   private:
    // Room for `needed` bytes, charged first: at least twice the text's room so far (a few
    // copies for a large body), never more than its Content-Length or limit.
    bool make_room(std::size_t needed) {
      const std::size_t room = body_.text.capacity();
      if (needed <= room) return true;
      std::size_t most = length_ != 0 ? static_cast<std::size_t>(length_) : body_.limit;
      if (most == 0) most = needed;
      const std::size_t want = std::max(needed, std::min(2 * room, most));
      if (body_.account != nullptr && !body_.account->grow_to(want)) return false;
      // Into a fresh string: reserve() on this one would allocate at least twice its room
      // (libstdc++), past both the charge and the Content-Length.
      std::string grown;
      grown.reserve(want);
      grown.append(body_.text);
      body_.text.swap(grown);
      return true;
    }

    std::size_t fail(error_code& ec) {
      body_.over_budget = true;
      ec = bhttp::error::body_limit;  // ends the read; on_read_error answers 503
      return 0;
    }

    value_type& body_;
    std::uint64_t length_ = 0;
  };
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl* server)
      : stream_(std::move(socket)),
        // Bytes not parsed yet: a header, a chunk's size line (with its extensions) or the
        // trailers wait here whole, and each is bounded only by this cap. Body bytes pass
        // through on their way to the body, pipelined requests get a read's worth of room.
        buffer_(server->opts.header_limit + kMaxPending),
        srv_(server),
        account_(server->body_bytes, server->opts.body_budget) {
    srv_->live.fetch_add(1, std::memory_order_relaxed);
    srv_->connections_gauge->add(1);
    error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    continue_.version(11);
    continue_.result(bhttp::status::continue_);
  }

  ~Session() {
    release_body();
    srv_->connections_gauge->add(-1);
    std::lock_guard lock(srv_->sessions_mu);
    srv_->sessions.erase(this);
    srv_->live.fetch_sub(1, std::memory_order_relaxed);
    srv_->sessions_cv.notify_all();
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void start() {
    {
      std::lock_guard lock(srv_->sessions_mu);
      srv_->sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::next_request, shared_from_this()));
  }

  // On the strand: stop() closes connections that wait for their next request.
  void close_if_idle() {
    if (phase_ == Phase::idle) close();
  }

  // On the strand: the grace period is over.
  void force_close() { close(); }

  // On the strand: the answer to request number `seq`, from a Responder or the pool.
  void deliver(Response&& response, std::uint64_t seq) {
    if (phase_ != Phase::handling || seq != seq_) return;  // closed meanwhile
    auto keep = std::move(self_);
    write(std::move(response));
  }

 private:
  enum class Phase { idle, reading, handling, writing, lingering, closed };

  static constexpr std::size_t kReadChunk = std::size_t{16} * 1024;
  static constexpr std::size_t kIdleChunk = std::size_t{4} * 1024;
  static constexpr std::size_t kKeepCapacity = std::size_t{64} * 1024;
  static constexpr std::size_t kMaxDrain = std::size_t{4} * 1024 * 1024;
  static constexpr std::size_t kMaxPending = std::size_t{64} * 1024;

  void next_request() {
    release_body();  // the previous request's body goes with its parser
    if (phase_ == Phase::closed) return;
    if (srv_->stopping.load(std::memory_order_acquire)) return close();
    parser_.emplace();
    parser_->body_limit(srv_->parse_limit);  // the route's own, once its headers name it
    body_limit_ = srv_->opts.body_limit;
    wire_limit_ = 0;
    body_timeout_ = srv_->opts.body_timeout;
    filter_.reset();
    parser_->header_limit(static_cast<std::uint32_t>(srv_->opts.header_limit));
    endpoint_ = nullptr;
    counted_ = false;
    if (buffer_.size() > 0) {  // a pipelined request is already here
      phase_ = Phase::reading;
      stream_.expires_after(srv_->opts.header_timeout);
      return read_header();
    }
    // An idle connection keeps no buffer but its next read's 4 KiB, and no response body:
    // about 7.5 KB of memory each in all (scripts/bench/gateway --idle-connections); a proxy
    // may keep hundreds open, a client thousands.
    buffer_.shrink_to_fit();
    std::string().swap(res_.body());
    phase_ = Phase::idle;
    // The first request's header deadline runs from the accept; later ones wait up to the
    // keep-alive idle timeout for their first byte.
    stream_.expires_after(first_ ? srv_->opts.header_timeout : srv_->opts.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kIdleChunk),
        beast::bind_front_handler(&Session::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(error_code ec, std::size_t n) {
    if (ec) {
      if (ec == beast::error::timeout && first_) srv_->rejected_slow->inc();
      return close();
    }
    buffer_.commit(n);
    if (phase_ == Phase::closed) return;
    phase_ = Phase::reading;
    if (!first_) stream_.expires_after(srv_->opts.header_timeout);
    read_header();
  }

  void read_header() {
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(error_code ec, std::size_t bytes) {
    if (ec) return on_read_error(ec);
    if (bytes > srv_->opts.header_limit) {  // Beast's own check leaves a few bytes of slack
      ec = bhttp::error::header_limit;
      return on_read_error(ec);
    }
    started_ = SteadyClock::now();
    first_ = false;
    const auto& msg = parser_->get();
    // Framing other parties may read differently (request smuggling): a Transfer-Encoding
    // that is not exactly one "chunked" on HTTP/1.1, named once. Beast would take the body
    // as empty and the rest as the next request.
    if (msg.count(bhttp::field::transfer_encoding) > 0) {
      if (msg.count(bhttp::field::transfer_encoding) > 1 || msg.version() < 11 ||
          !iequals(core::trim(msg[bhttp::field::transfer_encoding]), "chunked")) {
        srv_->rejected_malformed->inc();
        return reject(400, "bad_request",
                      "Transfer-Encoding must be exactly \"chunked\", once, on HTTP/1.1");
      }
    }
    // RFC 9112 3.2: a Host header, exactly one, on HTTP/1.1 (at most one before).
    const auto hosts = msg.count(bhttp::field::host);
    if (hosts > 1 || (hosts == 0 && msg.version() >= 11)) {
      srv_->rejected_malformed->inc();
      return reject(400, "bad_request", "an HTTP/1.1 request needs exactly one Host header");
    }
    // The header's fields, copied now: trailers, parsed after the body, join the same list
    // (a trailer named like a header goes beside it, not at the end), and nothing after the
    // body may pass for a header a proxy checked (RFC 9110 6.5.1).
    header_.clear();
    header_.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
    for (const auto& field : msg) {
      header_.add(std::string(field.name_string()), std::string(field.value()));
    }
    if (parser_->is_done()) return dispatch();
    account_.use(srv_->body_bytes, srv_->opts.body_budget);
    if (srv_->route_body_limits && !apply_route_body_limit()) {
      return parser_->get().body().filter_failed.empty() ? too_large() : filter_error();
    }
    // A new body whose first read would not fit is refused before it is sent (with
    // `Expect: 100-continue`) or read.
    const auto declared = parser_->content_length();
    if (!account_.fits(std::min({declared ? static_cast<std::size_t>(*declared) : body_limit_,
                                 body_limit_, kReadChunk}))) {
      return too_busy();
    }
    auto& body = parser_->get().body();
    body.account = &account_;
    body.limit = body_limit_;
    stream_.expires_after(body_timeout_);
    if (msg.version() >= 11 && iequals(msg[bhttp::field::expect], "100-continue")) {
      // A request its route refuses anyway is answered before the client sends the body it
      // holds back (RFC 9110 10.1.1), and the connection closes after the answer.
      std::string path;
      StringMap query;
      const std::string method(msg.method_string());
      if (split_target(msg.target(), path, query)) {
        auto match = srv_->router.match(method, path, nullptr);
        if (match.outcome != Router::Outcome::found) {
          ++seq_;
          counted_ = true;  // in the route statistics, as a 404/405 after the body would be
          return reject(no_route(std::move(match), method, path));
        }
      }
      bhttp::async_write(stream_, continue_,
                         beast::bind_front_handler(&Session::on_continue, shared_from_this()));
      return;
    }
    read_body();
  }

  static Response no_route(Router::Match&& match, const std::string& method,
                           const std::string& path) {
    if (match.outcome == Router::Outcome::method_not_allowed) {
      Response r = json_error(405, "method_not_allowed", method + " is not allowed on " + path);
      r.headers.add("Allow", std::move(match.allow));
      return r;
    }
    return json_error(404, "not_found", "no route for " + method + " " + path);
  }

  void on_continue(error_code ec, std::size_t /*bytes*/) {
    if (ec) return close();
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(error_code ec, std::size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    dispatch();
  }

  // The request's route's body limit (the server's when the route sets none, or there is no
  // route), and its filter: false when its Content-Length is past what the route reads.
  bool apply_route_body_limit() {
    const Router::Endpoint* route = find_route_body_limit();
    if (route != nullptr && route->body_budget) {
      account_.use(route->body_budget->held, route->body_budget->limit);
    }
    std::size_t wire = body_limit_;
    if (route != nullptr && route->body_filter) {
      auto& body = parser_->get().body();
      try {
        filter_ = route->body_filter();
      } catch (const std::exception& e) {
        body.filter_failed = e.what();
      } catch (...) {
        body.filter_failed = "unknown exception";
      }
      if (!filter_) {
        if (body.filter_failed.empty()) body.filter_failed = "the body filter factory made none";
        return false;
      }
      body.filter = filter_.get();
      wire = wire_limit_;
    }
    parser_->body_limit(wire);
    return parser_->content_length().value_or(0) <= wire;
  }

  const Router::Endpoint* find_route_body_limit() {
    const auto& msg = parser_->get();  // the request line is read before any header field
    std::string path;
    StringMap query;
    if (!split_target(msg.target(), path, query)) return nullptr;
    auto match = srv_->router.match(msg.method_string(), path, nullptr);
    if (match.outcome != Router::Outcome::found) return nullptr;
    const Router::Endpoint* route = match.endpoint;
    if (route->body_limit != 0) body_limit_ = route->body_limit;
    if (route->body_filter) wire_limit_ = route->wire_limit;
    if (route->body_timeout.count() > 0) body_timeout_ = route->body_timeout;
    return route;
  }

  // The limit a refused body passed: what its filter keeps, or (filtered) what it reads.
  std::size_t limit_passed() const {
    return wire_limit_ != 0 && !parser_->get().body().kept_over ? wire_limit_ : body_limit_;
  }

  // 503: no room for a new body's first read (at the headers), or for this body's next bytes.
  void too_busy() {
    srv_->rejected_busy->inc();
    Response busy = json_error(503, "unavailable", "too many request bodies in flight; retry");
    busy.headers.add("Retry-After", "1");
    reject(std::move(busy));
  }

  // 413: refused with the headers (a declared Content-Length), or as soon as a chunked body
  // passes the limit. Logged with its path (without the query) and size, since on a webhook
  // route it is a provider's message that will never arrive; at most one line a second per
  // server (the metric counts every one), so a stream of them cannot flood the logs.
  void too_large() {
    srv_->rejected_too_large->inc();
    auto& last_logged = srv_->too_large_logged_at;
    const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count();
    std::int64_t before = last_logged.load(std::memory_order_relaxed);
    if (before != second &&
        last_logged.compare_exchange_strong(before, second, std::memory_order_relaxed)) {
      const auto length = parser_->content_length();
      core::log().warn("request body too large; refused with 413",
                       {core::f::str("path", logged_path()),
                        length ? core::f::num("content_length", static_cast<std::int64_t>(*length))
                               : core::f::flag("chunked", true),
                        core::f::num("limit_bytes", static_cast<std::int64_t>(limit_passed()))});
    }
    reject(413, "payload_too_large",
           parser_->get().body().kept_over
               ? fmt::format("request body exceeds {} bytes once filtered", body_limit_)
               : fmt::format("request body exceeds {} bytes", limit_passed()));
  }

  // The request's path as a log line shows it: without the query (it may carry personal
  // data), at most 256 bytes.
  std::string logged_path() const {
    const auto target = parser_->get().target();
    const std::string_view whole(target.data(), target.size());
    return std::string(whole.substr(0, std::min<std::size_t>(whole.find('?'), 256)));
  }

  // The route's body filter threw: a bug of the route's, answered 500 as a handler's is.
  void filter_error() {
    core::log().error("http body filter failed",
                      {core::f::str("path", logged_path()),
                       core::f::str("error", parser_->get().body().filter_failed)});
    reject(500, "internal", "the request could not be processed");
  }

  void release_body() { account_.release(); }

  void on_read_error(error_code ec) {
    if (phase_ == Phase::closed) return;
    if (!parser_->get().body().filter_failed.empty()) return filter_error();
    if (parser_->get().body().over_budget) return too_busy();
    if (ec == bhttp::error::body_limit) {
      // A Content-Length past every route's limit is refused with the headers, before the
      // route's own was looked up.
      if (srv_->route_body_limits) find_route_body_limit();
      return too_large();
    }
    if (ec == bhttp::error::header_limit) {
      srv_->rejected_headers->inc();
      return reject(431, "headers_too_large",
                    fmt::format("request headers exceed {} bytes", srv_->opts.header_limit));
    }
    if (ec == bhttp::error::buffer_overflow) {  // a chunk size line or the trailers
      srv_->rejected_headers->inc();
      return reject(
          431, "headers_too_large",
          fmt::format("a chunk header or the trailers exceed {} bytes", buffer_.max_size()));
    }
    if (ec == beast::error::timeout) {
      srv_->rejected_slow->inc();
      return close();
    }
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return close();  // the peer went away, or a socket error
    }
    srv_->rejected_malformed->inc();
    reject(400, "bad_request", "malformed HTTP request");
  }

  void reject(int status, std::string_view code, const std::string& message) {
    reject(json_error(status, code, message));
  }

  // Answers and closes: the rest of what the client sends is not read as a request.
  void reject(Response&& response) {
    reject_ = true;
    keep_alive_ = false;
    head_ = false;
    version_ = 11;
    phase_ = Phase::handling;
    write(std::move(response));
  }

  void dispatch() {
    auto& msg = parser_->get();
    ++seq_;
    phase_ = Phase::handling;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    head_ = msg.method() == bhttp::verb::head;

    Request req;
    req.method.assign(msg.method_string());
    req.target.assign(msg.target());
    if (!split_target(req.target, req.path, req.query)) {
      srv_->rejected_malformed->inc();
      return reject(400, "bad_request", "malformed request target");
    }
    counted_ = true;
    auto match = srv_->router.match(req.method, req.path, &req.params);
    if (match.outcome != Router::Outcome::found) {
      return write(no_route(std::move(match), req.method, req.path));
    }
    const Router::Endpoint* e = match.endpoint;
    endpoint_ = e;
    req.route = e->pattern;
    req.headers = std::move(header_);  // the header's fields only (on_header)
    header_ = {};
    req.body = std::move(msg.body().text);
    req.remote_address = remote_;

    if (e->async) {
      self_ = shared_from_this();
      auto state = std::make_shared<ResponderState>(weak_from_this(), seq_);
      try {
        e->async(std::move(req), Responder(state));
      } catch (const std::exception& ex) {
        handler_failed(*e, ex.what());
        if (!state->used.exchange(true)) state->send(internal_error());
      } catch (...) {
        handler_failed(*e, "unknown exception");
        if (!state->used.exchange(true)) state->send(internal_error());
      }
      return;
    }
    if (e->blocking) {
      asio::post(e->probe ? *srv_->probe_pool : *srv_->pool,
                 [self = shared_from_this(), e, seq = seq_, req = std::move(req),
                  queued = std::chrono::steady_clock::now(),
                  waiting = Waiting(e->probe ? nullptr : srv_->waiting_gauge)]() mutable {
                   waiting.done();
                   OwnThreadMark mark(self->srv_);
                   const auto waited = std::chrono::steady_clock::now() - queued;
                   const auto limit = self->srv_->opts.queue_timeout;
                   Response res = limit.count() > 0 && waited > limit ? queue_expired(*e, waited)
                                                                      : call_sync(*e, req);
                   asio::post(self->executor(), [self, seq, res = std::move(res)]() mutable {
                     self->deliver(std::move(res), seq);
                   });
                 });
      return;
    }
    write(call_sync(*e, req));
  }

  // Counts a blocking request in lia_http_requests_waiting from its post to the pool until
  // a thread takes it, or until the pool drops it unrun (a server stopping).
  class Waiting {
   public:
    explicit Waiting(core::Gauge* gauge) : gauge_(gauge) {
      if (gauge_ != nullptr) gauge_->add(1);
    }
    Waiting(Waiting&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;
    Waiting& operator=(Waiting&&) = delete;
    ~Waiting() { done(); }
    void done() {
      if (gauge_ != nullptr) std::exchange(gauge_, nullptr)->add(-1);
    }

   private:
    core::Gauge* gauge_;
  };

  static Response internal_error() {
    return json_error(500, "internal", "the request could not be processed");
  }

  // A blocking request that waited past ServerOptions::queue_timeout for a thread: not run.
  static Response queue_expired(const Router::Endpoint& e, std::chrono::nanoseconds waited) {
    static auto& expired = core::metrics().counter(
        "lia_http_requests_expired_total",
        "Blocking requests answered 503 unrun: they waited past the queue timeout for a thread");
    expired.inc();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
    core::log().warn("request waited too long for a worker thread: answered 503, not run",
                     {core::f::id("method", e.method), core::f::id("route", e.pattern),
                      core::f::num("waited_ms", ms)});
    Response res = json_error(
        503, "unavailable",
        fmt::format("the server is busy: the request waited {} ms for a worker and was not run; "
                    "retry",
                    ms));
    res.headers.add("Retry-After", "1");
    return res;
  }

  static void handler_failed(const Router::Endpoint& e, const char* what) {
    core::log().error("http handler failed",
                      {core::f::id("method", e.method), core::f::id("route", e.pattern),
                       core::f::str("error", what)});
  }

  static Response call_sync(const Router::Endpoint& e, const Request& req) {
    try {
      return e.sync(req);
    } catch (const std::exception& ex) {
      handler_failed(e, ex.what());
    } catch (...) {
      handler_failed(e, "unknown exception");
    }
    return internal_error();
  }

  void write(Response&& r) {
    phase_ = Phase::writing;
    int status = r.status;
    if (status < 100 || status > 999) {
      core::log().error("http handler returned an invalid status",
                        {core::f::num("status", status)});
      r = internal_error();
      status = 500;
    }
    res_.clear();
    res_.result(static_cast<unsigned>(status));
    res_.version(version_ == 10 ? 10 : 11);
    res_.keep_alive(keep_alive_ && !reject_ && !srv_->stopping.load(std::memory_order_acquire));
    for (const auto& h : r.headers) res_.insert(h.name, h.value);
    const bool bodiless = status < 200 || status == 204 || status == 304;
    if (bodiless) {
      res_.body().clear();
    } else {
      if (!r.content_type.empty()) res_.set(bhttp::field::content_type, r.content_type);
      if (head_) {
        res_.content_length(r.body.size());
        res_.body().clear();
      } else {
        res_.body() = std::move(r.body);
        res_.content_length(res_.body().size());
      }
    }
    stream_.expires_after(srv_->opts.write_timeout);
    bhttp::async_write(stream_, res_,
                       beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, std::size_t /*bytes*/) {
    if (counted_) {
      srv_->stats_for(endpoint_).record(static_cast<int>(res_.result_int()),
                                        SteadyClock::now() - started_);
    }
    if (res_.body().capacity() > kKeepCapacity) std::string().swap(res_.body());
    if (ec) return close();
    if (reject_) return linger();
    if (!res_.keep_alive()) return close();
    next_request();
  }

  // After an error answer the client may still be sending (a body past the limit): read
  // and drop it for a moment, so closing does not reset the connection before the client
  // read our answer.
  void linger() {
    phase_ = Phase::lingering;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(std::chrono::seconds{1});
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(kReadChunk), [self = shared_from_this()](error_code ec, std::size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > kMaxDrain || self->phase_ != Phase::lingering) {
            return self->close();
          }
          self->drain();
        });
  }

  void close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    auto keep = std::move(self_);  // may be the last owner: released on return
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<RequestBody>> parser_;
  std::unique_ptr<BodyFilter> filter_;  // this request's, when its route filters its body
  bhttp::response<bhttp::string_body> res_;
  bhttp::response<bhttp::empty_body> continue_;
  Server::Impl* srv_;
  std::string remote_;
  std::shared_ptr<Session> self_;  // set while an async handler owes the answer
  const Router::Endpoint* endpoint_ = nullptr;
  SteadyClock::time_point started_{};
  std::uint64_t seq_ = 0;
  std::size_t drained_ = 0;
  Headers header_;                             // the request's header fields, without trailers
  BodyAccount account_;                        // this request's share of the server's body budget
  std::size_t body_limit_ = 0;                 // this request's: its route's, or the server's
  std::size_t wire_limit_ = 0;                 // this request's route's, when it filters the body
  std::chrono::milliseconds body_timeout_{0};  // this request's: its route's, or the server's
  Phase phase_ = Phase::idle;
  unsigned version_ = 11;
  bool first_ = true;
  bool keep_alive_ = false;
  bool head_ = false;
  bool reject_ = false;
  bool counted_ = false;
};

ResponderState::~ResponderState() {
  if (used.load()) return;
  if (!sink && session.expired()) return;
  core::log().error("http handler dropped its Responder without answering");
  send(json_error(500, "internal", "the request was not answered"));
}

void ResponderState::send(Response&& response) const {
  if (sink) {
    sink(std::move(response));
    return;
  }
  auto s = session.lock();
  if (!s) return;
  asio::post(s->executor(),
             [s, q = seq, r = std::move(response)]() mutable { s->deliver(std::move(r), q); });
}

}  // namespace detail

void Responder::operator()(Response response) const {
  if (!state_) return;
  if (state_->used.exchange(true)) {
    core::log().warn("http Responder called more than once; the extra answer is dropped");
    return;
  }
  state_->send(std::move(response));
}

Responder Responder::to(std::function<void(Response&&)> sink) {
  return Responder(std::make_shared<detail::ResponderState>(std::move(sink)));
}

bool Responder::answered() const noexcept {
  return state_ && state_->used.load();
}

// ---- Server::Impl ----------------------------------------------------------

Server::Impl::Impl(ServerOptions o, Router r, Readiness ready)
    : opts(std::move(o)),
      router(std::move(r)),
      readiness(std::move(ready)),
      ioc(std::max(1, opts.threads)),
      acceptor(asio::make_strand(ioc)),
      accept_retry(acceptor.get_executor()) {
  if (opts.builtin_endpoints) {
    if (!router.has_pattern("/healthz")) {
      router.add("GET", "/healthz",
                 [](const Request&) { return Response::json(200, R"({"status":"ok"})"); });
    }
    if (!router.has_pattern("/readyz")) {
      router.add(
          "GET", "/readyz", [this](const Request&) { return readyz(); },
          RouteOptions{.blocking = true, .probe = true});
    }
    if (!router.has_pattern("/metrics")) {
      // Rendered on the I/O thread (memory only, no wait): a /readyz whose checks wait on a
      // database that does not answer holds the probes' thread, and a scrape queued behind
      // it would time out just when the figures matter.
      router.add("GET", "/metrics", [](const Request&) {
        Response res;
        res.body = core::metrics().render();
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        return res;
      });
    }
  }
  for (const auto* e : router.endpoints()) {
    route_stats.push_back(std::make_unique<detail::RouteStats>(e->pattern, e->method));
  }
  unmatched_stats = std::make_unique<detail::RouteStats>("unmatched", "*");
  route_body_limits = std::any_of(router.endpoints().begin(), router.endpoints().end(),
                                  [](const Router::Endpoint* e) {
                                    return e->body_limit != 0 || e->body_filter ||
                                           e->body_timeout.count() > 0 || e->body_budget != nullptr;
                                  });
  parse_limit = std::max(opts.body_limit, router.largest_body_limit());
  connections_gauge =
      &core::metrics().gauge("lia_http_server_connections", "Open HTTP server connections");
  waiting_gauge = &core::metrics().gauge(
      "lia_http_requests_waiting",
      "Blocking API requests queued for a worker thread (every thread busy: the database slow, or "
      "too few threads)");
  rejected_malformed = &rejected("malformed");
  rejected_too_large = &rejected("too_large");
  rejected_headers = &rejected("headers_too_large");
  rejected_slow = &rejected("too_slow");
  rejected_overload = &rejected("too_many_connections");
  rejected_busy = &rejected("body_budget");
}

Response Server::Impl::readyz() const {
  if (stopping.load()) {
    return Response::json(503, R"({"status":"not_ready","failed":["shutting_down"],"checks":[]})");
  }
  std::vector<Check> checks;
  if (readiness) {
    try {
      checks = readiness();
    } catch (const std::exception& ex) {
      checks.push_back({"readiness", false, ex.what()});
    }
  }
  std::string failed;
  std::string list;
  for (const auto& c : checks) {
    if (!list.empty()) list += ',';
    list += R"({"name":")";
    core::json_escape(list, c.name);
    list += c.ok ? R"(","ok":true)" : R"(","ok":false)";
    if (!c.detail.empty()) {
      list += R"(,"detail":")";
      core::json_escape(list, c.detail);
      list += '"';
    }
    list += '}';
    if (!c.ok) {
      if (!failed.empty()) failed += ',';
      failed += '"';
      core::json_escape(failed, c.name);
      failed += '"';
    }
  }
  if (failed.empty()) return Response::json(200, R"({"status":"ready","checks":[)" + list + "]}");
  return Response::json(
      503, R"({"status":"not_ready","failed":[)" + failed + R"(],"checks":[)" + list + "]}");
}

void Server::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Server::Impl::on_accept(error_code ec, tcp::socket socket) {
  if (!acceptor.is_open() || stopping.load()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of descriptors or similar: back off instead of spinning, and say so once in 10 s.
    ++accept_failures;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_accept_warning) {
      next_accept_warning = now + std::chrono::seconds{10};
      core::log().warn("http accept failed", {core::f::str("error", ec.message()),
                                              core::f::num("failures", accept_failures)});
      accept_failures = 0;
    }
    accept_retry.expires_after(std::chrono::milliseconds{50});
    accept_retry.async_wait([this](error_code wait_ec) {
      if (!wait_ec && acceptor.is_open() && !stopping.load()) do_accept();
    });
    return;
  }
  if (live.load(std::memory_order_relaxed) >= max_connections) {
    rejected_overload->inc();
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: 72\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        R"({"error":{"code":"unavailable","message":"too many connections, retry"}})";
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
    // What the client sent already is read first: closing with unread bytes would reset the
    // connection, and the client might never see the 503 (a proxy then answers 502).
    std::array<char, 4096> sink{};
    for (int i = 0; i < 16 && socket.available(ignored) > 0; ++i) {
      socket.read_some(asio::buffer(sink), ignored);
      if (ignored) break;
    }
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  } else {
    std::make_shared<detail::Session>(std::move(socket), this)->start();
  }
  do_accept();
}

void Server::Impl::begin_stop(bool wait_for_acceptor) {
  if (stopping.exchange(true)) return;
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  asio::post(acceptor.get_executor(), [this, closed] {
    error_code ec;
    acceptor.close(ec);
    accept_retry.cancel();
    closed->set_value();
  });
  if (wait_for_acceptor) done.wait_for(std::chrono::seconds{5});
  for_each_session([](const std::shared_ptr<detail::Session>& s) {
    asio::post(s->executor(), [s] { s->close_if_idle(); });
  });
}

template <class F>
void Server::Impl::for_each_session(F&& f) {
  std::vector<std::shared_ptr<detail::Session>> all;
  {
    std::lock_guard lock(sessions_mu);
    all.reserve(sessions.size());
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) all.push_back(std::move(s));
    }
  }
  for (auto& s : all) f(s);
}

bool Server::Impl::wait_sessions(SteadyClock::time_point deadline) {
  std::unique_lock lock(sessions_mu);
  return sessions_cv.wait_until(lock, deadline, [this] { return live.load() == 0; });
}

// ---- Server ------------------------------------------------------------------

Server::Server(ServerOptions options, Router router, Readiness readiness)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router), std::move(readiness))) {}

Server::~Server() {
  stop(std::chrono::milliseconds{0});
}

core::Status Server::start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.stop_mu);
  if (s.started) return core::Error(core::Errc::conflict, "http server already started");
  error_code ec;
  const auto address = asio::ip::make_address(s.opts.address, ec);
  if (ec) {
    return core::Error(core::Errc::invalid_argument,
                       "http server: bad listen address \"" + s.opts.address + "\"");
  }
  const tcp::endpoint endpoint(address, s.opts.port);
  auto fail = [&](const char* what) {
    error_code ignored;
    s.acceptor.close(ignored);
    return core::Error(
        core::Errc::unavailable,
        fmt::format("http server: {} {}:{}: {}", what, s.opts.address, s.opts.port, ec.message()),
        false);
  };
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("cannot open");
  s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("cannot configure");
  s.acceptor.bind(endpoint, ec);
  if (ec) return fail("cannot bind");
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on");
  s.bound_port = s.acceptor.local_endpoint(ec).port();
  // Answer 503 before the process runs out of descriptors (then accept fails and a client
  // waits, unanswered, until an idle connection times out): leave room for the database,
  // Kafka and files.
  s.max_connections = s.opts.max_connections;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    constexpr rlim_t kReserved = 256;
    const auto fit = static_cast<std::size_t>(
        nofile.rlim_cur > kReserved + 16 ? nofile.rlim_cur - kReserved : 16);
    if (fit < s.max_connections) {
      s.max_connections = fit;
      core::log().info("http connections capped by the descriptor limit",
                       {core::f::num("max_connections", static_cast<std::int64_t>(fit)),
                        core::f::num("nofile", static_cast<std::int64_t>(nofile.rlim_cur))});
    }
  }
  s.started = true;
  s.running = true;
  s.pool.emplace(static_cast<std::size_t>(std::max(1, s.opts.blocking_threads)));
  s.probe_pool.emplace(1);
  s.work.emplace(s.ioc.get_executor());
  s.do_accept();
  for (int i = 0; i < std::max(1, s.opts.threads); ++i) {
    s.threads.emplace_back([&s] {
      detail::OwnThreadMark mark(&s);
      while (true) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& ex) {
          core::log().error("http I/O thread caught an exception",
                            {core::f::str("error", ex.what())});
        }
      }
    });
  }
  core::log().info("http server listening",
                   {core::f::id("address", s.opts.address), core::f::num("port", s.bound_port)});
  return core::ok();
}

std::uint16_t Server::port() const noexcept {
  return impl_->bound_port;
}

bool Server::running() const noexcept {
  return impl_->running.load();
}

std::size_t Server::connections() const noexcept {
  return impl_->live.load();
}

std::size_t Server::body_bytes_held() const noexcept {
  return impl_->body_bytes.load(std::memory_order_relaxed);
}

void Server::stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (detail::t_own_server == &s) {
    // From one of our own handlers: joining would wait for ourselves. Begin the stop; the
    // destructor (or a stop() from another thread) finishes it.
    s.begin_stop(false);
    return;
  }
  std::lock_guard lock(s.stop_mu);
  if (!s.started || s.finished) return;
  const auto deadline = SteadyClock::now() + grace;
  s.begin_stop(true);
  if (!s.wait_sessions(deadline)) {
    core::log().warn("http server grace period over, closing connections",
                     {core::f::num("connections", static_cast<std::int64_t>(s.live.load()))});
    s.for_each_session([](const std::shared_ptr<detail::Session>& session) {
      asio::post(session->executor(), [session] { session->force_close(); });
    });
    // Let the closes run; sessions owned by a busy blocking handler go with the pool.
    s.wait_sessions(SteadyClock::now() + std::chrono::milliseconds{500});
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  for (auto* p : {&s.pool, &s.probe_pool}) {
    if (*p) {
      (*p)->stop();
      (*p)->join();
    }
  }
  s.finished = true;
  s.running = false;
  core::log().info("http server stopped", {core::f::num("port", s.bound_port)});
}

}  // namespace lia::http
