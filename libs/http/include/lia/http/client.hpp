#pragma once
// A blocking HTTP/1.1 client for worker threads: http:// and https:// (OpenSSL, peer
// verified against the system CA store, SNI), connect and total deadlines, and a small
// pool of keep-alive connections per host shared by every thread that uses the client.
//
//   Client client;
//   auto res = client.request({.method = "POST", .url = url, .headers = {{"apikey", key}},
//                              .body = json, .timeout = std::chrono::seconds{5}});
//   if (!res) return res.error();          // transport failure: see retryable()
//   if (res->status >= 500) ...            // any HTTP status is a value, not an error
//
// Errors: invalid_argument (bad URL, never retried), unavailable (DNS, refused, reset,
// broken response; retryable unless TLS verification failed), timeout (retryable),
// too_large (response body over the limit).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <lia/core/result.hpp>
#include <lia/core/url.hpp>
#include <lia/http/message.hpp>

namespace lia::http {

// The client's URLs (lia/core/url.hpp, shared with the settings that name them).
using core::parse_url;
using core::Url;

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;  // Host, Content-Length and User-Agent are added when absent
  std::string body;
  // Total: resolve, connect, TLS, send and receive. (A name lookup that hangs goes on past
  // it on a thread of its own, which the requests for that host share; the request returns
  // at its deadline. IP literals skip the resolver.)
  std::chrono::milliseconds timeout{10'000};
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;

  const std::string* header(std::string_view name) const noexcept { return headers.find(name); }
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{3'000};  // within the request's total timeout
  bool verify_peer = true;  // false only for tests against self-signed servers
  std::string ca_file;      // extra CA bundle (PEM) besides the system store
  std::size_t max_idle_per_host = 8;
  std::chrono::milliseconds idle_timeout{30'000};  // pooled connections older are dropped
  std::size_t max_response_body = std::size_t{64} * 1024 * 1024;
  std::string user_agent = "lia-cortex";
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Thread-safe. Retries once on a fresh connection when a reused keep-alive connection
  // turns out to be closed (only for idempotent methods once the request was sent).
  core::Result<ClientResponse> request(const ClientRequest& request);
  // The same; `sent` says whether the whole request went out. An error with `sent` true
  // (a timeout or a lost connection while waiting for the answer) leaves the outcome unknown:
  // the server may have acted on it.
  core::Result<ClientResponse> request(const ClientRequest& request, bool& sent);

  core::Result<ClientResponse> get(std::string url,
                                   std::chrono::milliseconds timeout = std::chrono::seconds{10});
  core::Result<ClientResponse> post(std::string url, std::string body,
                                    std::string content_type = "application/json",
                                    std::chrono::milliseconds timeout = std::chrono::seconds{10});

  struct Stats {
    std::uint64_t connections_opened = 0;  // TCP (and TLS) connections established
    std::uint64_t requests = 0;            // requests that got a response
    std::size_t idle = 0;                  // pooled connections right now
  };
  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// Runs `hook` on the name-lookup thread before each lookup (nullptr: none). Tests use it to
// stand for a resolver that hangs; set it only while no request is running.
void set_before_lookup_for_test(std::function<void()> hook);
}  // namespace detail

}  // namespace lia::http
