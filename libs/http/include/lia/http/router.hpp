#pragma once
// Routes from (method, path pattern) to handlers. Patterns are literal segments and
// {name} parameters: "/webhooks/evolution/{event}". Matching is pure and allocation-free
// until a route is found; literal segments win over parameters ("/users/me" before
// "/users/{id}").
//
//   Router r;
//   r.add("GET", "/conversations/{id}", [](const Request& req) {
//     return Response::json(200, load(*req.param("id")));
//   });
//   r.add("POST", "/webhooks/meta", [](Request&& req, Responder respond) {
//     produce(std::move(req.body), [respond](bool acked) {
//       respond(acked ? Response::json(200, "{}") : json_error(503, "unavailable", "retry"));
//     });
//   });

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <lia/http/message.hpp>

namespace lia::http {

namespace detail {
struct ResponderState;  // defined by the server
}

// Answers one request. Copyable; call it exactly once, from any thread: it hands the
// response back to the connection's strand. Later calls are ignored. If every copy is
// dropped without a call, the client gets a 500. After the server stopped it does nothing.
class Responder {
 public:
  explicit Responder(std::shared_ptr<detail::ResponderState> state) : state_(std::move(state)) {}
  // A Responder that hands the response to `sink` on the calling thread: for unit tests of
  // async handlers without a server. An unanswered one delivers a 500 when dropped.
  static Responder to(std::function<void(Response&&)> sink);

  void operator()(Response response) const;
  // True once a response was handed over (by any copy).
  bool answered() const noexcept;

 private:
  std::shared_ptr<detail::ResponderState> state_;
};

// Answers later, through the Responder. Runs on an I/O thread: must not block.
using AsyncHandler = std::function<void(Request&&, Responder)>;
// A pure function from request to response.
using SyncHandler = std::function<Response(const Request&)>;

// Shrinks a request body while it arrives (RouteOptions::body_filter): the server hands one
// filter, made for the request, the body's bytes in order, in pieces of any size, and the
// handler gets only what it appended to `kept`. Runs on an I/O thread: must not block.
class BodyFilter {
 public:
  BodyFilter() = default;
  virtual ~BodyFilter() = default;
  BodyFilter(const BodyFilter&) = delete;
  BodyFilter& operator=(const BodyFilter&) = delete;
  virtual void feed(std::string_view bytes, std::string& kept) = 0;
};
using BodyFilterFactory = std::function<std::unique_ptr<BodyFilter>()>;

// Memory for request bodies that some routes draw on instead of the server's body budget
// (ServerOptions::body_budget), shared by every route given the same one: bodies of one kind
// (a provider's webhooks, unauthenticated until read whole) cannot then use up the memory
// the others need.
struct BodyBudget {
  explicit BodyBudget(std::size_t bytes) : limit(bytes) {}
  const std::size_t limit;
  std::atomic<std::size_t> held{0};  // bytes charged now by bodies read or being handled
};

struct RouteOptions {
  // Run this (sync) handler on the server's blocking pool instead of an I/O thread: for
  // handlers that call the database or anything else that blocks.
  bool blocking = false;
  // With blocking: on the probes' own thread instead (the built-in /readyz), so API requests
  // filling the blocking pool never hold up Kubernetes' probes. (/metrics renders on the I/O
  // thread: it waits on nothing.)
  bool probe = false;
  // This route's largest request body, when not the server's ServerOptions::body_limit: a
  // larger body gets 413 as soon as its headers announce it. Counted against the server's
  // body budget as any other.
  std::size_t body_limit = 0;
  // With a filter, body_limit bounds what the filter keeps (and what the body budget counts),
  // while the body on the wire may take up to wire_limit bytes (required, at least
  // body_limit): a 413 comes with the headers past wire_limit, or as soon as either is passed.
  BodyFilterFactory body_filter;
  std::size_t wire_limit = 0;
  // End of headers to end of body, when not the server's ServerOptions::body_timeout: for a
  // route whose bodies may be much larger than the others'.
  std::chrono::milliseconds body_timeout{0};
  // This route's bodies are charged to this budget, not to the server's (see BodyBudget).
  std::shared_ptr<BodyBudget> body_budget;
};

class Router {
 public:
  struct Endpoint {
    std::string method;
    std::string pattern;
    AsyncHandler async;  // exactly one of async and sync is set
    SyncHandler sync;
    bool blocking = false;
    bool probe = false;
    std::size_t body_limit = 0;  // 0: the server's
    BodyFilterFactory body_filter;
    std::size_t wire_limit = 0;                 // with body_filter
    std::chrono::milliseconds body_timeout{0};  // 0: the server's
    std::shared_ptr<BodyBudget> body_budget;    // null: the server's
    std::size_t id = 0;                         // 0.. in the order of add()
  };

  enum class Outcome { found, not_found, method_not_allowed };
  struct Match {
    Outcome outcome = Outcome::not_found;
    const Endpoint* endpoint = nullptr;
    std::string allow;  // "GET, POST" for method_not_allowed
  };

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Throws std::invalid_argument for a malformed pattern or a duplicate (method, pattern):
  // both are start-up mistakes.
  // Of the options, only the body's (body_limit, body_filter, wire_limit, body_timeout,
  // body_budget) apply to an async handler.
  Router& add(std::string method, std::string pattern, AsyncHandler handler,
              RouteOptions options = {});
  Router& add(std::string method, std::string pattern, SyncHandler handler,
              RouteOptions options = {});

  // path is the request path without the query, not decoded. On found, fills params (if
  // given) with the decoded parameters. A HEAD request falls back to the GET route.
  Match match(std::string_view method, std::string_view path, StringMap* params) const;

  bool has_pattern(std::string_view pattern) const noexcept;
  // The largest body a route reads off the wire: its wire_limit, else its body_limit (0: no
  // route sets either).
  std::size_t largest_body_limit() const noexcept;
  // Every endpoint, indexed by Endpoint::id.
  const std::vector<const Endpoint*>& endpoints() const noexcept { return by_id_; }

 private:
  struct Pattern;
  Router& insert(std::unique_ptr<Endpoint> endpoint);

  std::vector<std::unique_ptr<Pattern>> patterns_;  // most specific first
  std::vector<const Endpoint*> by_id_;
};

}  // namespace lia::http
