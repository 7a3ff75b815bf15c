#pragma once
// The HTTP/1.1 server every service runs on one port: its REST API or webhooks, plus
// GET /healthz, GET /readyz and GET /metrics.
//
//   Router router;
//   router.add("POST", "/webhooks/evolution/{event}", handler);
//   Server server(ServerOptions{.port = cfg.http_port}, std::move(router), readiness);
//   if (auto st = server.start(); !st) fail(st.error());
//   ...
//   server.stop(cfg.shutdown_grace);  // from the runtime's signal handling
//
// Each connection is served on its own strand by a few I/O threads; requests on one
// connection are answered in order (keep-alive and pipelining). Every read has a deadline,
// every body a limit: slow headers are cut off, oversized bodies get 413, malformed
// requests 400 (among them an HTTP/1.1 request without exactly one Host, or with a
// Transfer-Encoding other than one "chunked"), all with a JSON error body. A request with
// `Expect: 100-continue` that would get 404, 405 or 413 gets it before its body is sent.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/http/message.hpp>
#include <lia/http/router.hpp>

namespace lia::http {

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 0;    // 0: an ephemeral port, see Server::port()
  int threads = 2;           // I/O threads
  int blocking_threads = 2;  // pool for RouteOptions::blocking handlers (/readyz has a
                             // thread of its own; /metrics runs on the I/O threads)
  // A blocking request still waiting for a thread of that pool after this long is answered
  // 503 (Retry-After: 1) without being run: its client has likely given up, and one that
  // retried would otherwise have it run beside the retry (0: no limit).
  std::chrono::milliseconds queue_timeout{30'000};
  std::size_t body_limit = std::size_t{4} * 1024 * 1024;  // larger bodies get 413
  // Memory for request bodies, all connections together. A body is charged as its bytes
  // arrive (what it keeps, at most about twice what arrived, never more than its
  // Content-Length or limit) until its request is answered. A body whose next bytes do not
  // fit, or a request arriving while none is left, gets 503 with Retry-After and the
  // connection closes: many slow large uploads cannot run the process out of memory, and
  // connections that declare large bodies and send nothing hold none of it. Routes may draw on
  // a budget of their own instead (RouteOptions::body_budget).
  std::size_t body_budget = std::size_t{128} * 1024 * 1024;
  std::size_t header_limit = std::size_t{16} * 1024;  // larger headers get 431
  // From the connection's start (or a keep-alive request's first byte) to the end of the
  // headers. Slower clients are disconnected (slowloris).
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};   // end of headers to end of body
  std::chrono::milliseconds write_timeout{30'000};  // writing one response
  // Keep-alive wait for the next request: longer than a proxy keeps an idle upstream
  // connection (ingress-nginx: 60 s), so the proxy always closes first. Else it may send a
  // request (a provider's webhook POST) just as the server closes, and answer it 502 itself.
  std::chrono::milliseconds idle_timeout{75'000};
  std::size_t max_connections = 10'000;  // beyond: 503 and close
  bool builtin_endpoints = true;         // /healthz, /readyz, /metrics
};

// One named readiness check for /readyz.
struct Check {
  std::string name;
  bool ok = false;
  std::string detail;  // why it failed (no secrets, no personal data)
};
// Runs on the probes' own thread for every GET /readyz.
using Readiness = std::function<std::vector<Check>()>;

class Server {
 public:
  Server(ServerOptions options, Router router, Readiness readiness = {});
  ~Server();  // stops at once if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads. Fails (e.g. address in use) with a message.
  core::Status start();
  // The bound port (after start()).
  std::uint16_t port() const noexcept;

  // Stops accepting (new connections are refused), closes idle keep-alive connections,
  // lets in-flight requests finish for up to `grace` (answered with Connection: close),
  // then closes every connection and joins the threads. Safe from any thread and
  // idempotent; concurrent callers wait for the first. Called from one of the server's own
  // handlers it only begins the stop and returns; a later stop() or the destructor
  // finishes it. A blocking handler that never returns holds up the end of stop().
  void stop(std::chrono::milliseconds grace = std::chrono::seconds{10});

  bool running() const noexcept;
  // Open connections right now (for tests and the connections gauge).
  std::size_t connections() const noexcept;
  // Bytes of the server's body budget held right now by bodies being read or handled (for
  // tests; a route's own BodyBudget counts its own).
  std::size_t body_bytes_held() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lia::http
