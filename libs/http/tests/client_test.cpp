#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia::http;
using namespace std::chrono_literals;
using lia::core::Errc;
using lia::testing::wait_until;

namespace {

std::unique_ptr<Server> echo_server(ServerOptions opts = {}) {
  Router r;
  r.add("POST", "/echo", [](const Request& req) {
    Response res = Response::text(201, req.body);
    if (auto* a = req.header("authorization")) res.headers.add("X-Seen-Auth", *a);
    if (auto* ua = req.header("user-agent")) res.headers.add("X-Seen-UA", *ua);
    if (auto* ct = req.header("content-type")) res.headers.add("X-Seen-CT", *ct);
    res.headers.add("X-Seen-Host", *req.header("host"));
    return res;
  });
  r.add("GET", "/hello", [](const Request& req) {
    return Response::json(200, std::string(R"({"hello":")") + *req.query_param("name") + "\"}");
  });
  r.add("GET", "/big",
        [](const Request&) { return Response::text(200, std::string(10'000, 'b')); });
  opts.address = "127.0.0.1";
  opts.port = 0;
  auto s = std::make_unique<Server>(opts, std::move(r));
  REQUIRE(s->start().ok());
  return s;
}

std::string base(const Server& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

}  // namespace

TEST_CASE("client GET and POST against the server") {
  auto server = echo_server();
  Client client;
  auto get = client.get(base(*server) + "/hello?name=ana");
  REQUIRE(get.ok());
  CHECK(get->status == 200);
  CHECK(get->body == R"({"hello":"ana"})");
  CHECK(*get->header("content-type") == "application/json");

  ClientRequest req;
  req.method = "POST";
  req.url = base(*server) + "/echo";
  req.headers = {{"Authorization", "Bearer t0k"}, {"Content-Type", "application/json"}};
  req.body = R"({"to":"5511999990000"})";
  auto post = client.request(req);
  REQUIRE(post.ok());
  CHECK(post->status == 201);
  CHECK(post->body == req.body);
  CHECK(*post->header("X-Seen-Auth") == "Bearer t0k");
  CHECK(*post->header("X-Seen-CT") == "application/json");
  CHECK(*post->header("X-Seen-UA") == "lia-cortex");
  CHECK(*post->header("X-Seen-Host") == "127.0.0.1:" + std::to_string(server->port()));

  auto missing = client.get(base(*server) + "/missing");
  REQUIRE(missing.ok());  // an HTTP error status is a value, not a transport error
  CHECK(missing->status == 404);
}

TEST_CASE("client reuses keep-alive connections") {
  auto server = echo_server();
  Client client;
  for (int i = 0; i < 5; ++i) {
    auto res = client.post(base(*server) + "/echo", std::to_string(i));
    REQUIRE(res.ok());
    CHECK(res->body == std::to_string(i));
  }
  auto st = client.stats();
  CHECK(st.connections_opened == 1);
  CHECK(st.requests == 5);
  CHECK(st.idle == 1);
  CHECK(server->connections() == 1);
}

TEST_CASE("client pool is shared safely by several threads") {
  auto server = echo_server();
  Client client;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string body = std::to_string(t) + ":" + std::to_string(i);
        auto res = client.post(base(*server) + "/echo", body);
        if (res.ok() && res->status == 201 && res->body == body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok.load() == 100);
  CHECK(client.stats().connections_opened <= 4);
  CHECK(client.stats().requests == 100);
}

TEST_CASE("a pooled connection the server closed is replaced transparently") {
  ServerOptions opts;
  opts.idle_timeout = 200ms;
  auto server = echo_server(opts);
  Client client;
  REQUIRE(client.get(base(*server) + "/hello?name=a").ok());
  REQUIRE(wait_until([&] { return server->connections() == 0; }, 5s, 10ms));
  auto res = client.post(base(*server) + "/echo", "again");
  REQUIRE(res.ok());
  CHECK(res->body == "again");
  CHECK(client.stats().connections_opened == 2);
}

TEST_CASE("a name lookup that hangs ends the request at its deadline, not when the lookup ends") {
  // The hook holds the lookup thread until the test lets it go (or 20 s pass).
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<bool> lookup_ended{false};
  lia::http::detail::set_before_lookup_for_test([&] {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 20s, [&] { return released; });
    lookup_ended = true;
  });
  Client client;
  auto res = client.get("http://localhost:1/x", 200ms);
  const bool ended_before_return = lookup_ended.load();
  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  REQUIRE(lia::testing::wait_until([&] { return lookup_ended.load(); }, 20s));
  lia::http::detail::set_before_lookup_for_test(nullptr);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code() == Errc::timeout);
  CHECK(res.error().message().find("timed out resolving") != std::string::npos);
  CHECK_FALSE(ended_before_return);  // it did not wait for the lookup
}

TEST_CASE("requests for a host whose lookup is running wait for that one, not one each") {
  // Port 2: the test before leaves its own lookup of localhost:1 to end on its thread.
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> lookups{0};
  std::atomic<int> ended{0};
  lia::http::detail::set_before_lookup_for_test([&] {
    lookups.fetch_add(1);
    std::unique_lock lock(mu);
    cv.wait_for(lock, 20s, [&] { return released; });
    ended.fetch_add(1);
  });
  Client client;
  std::vector<std::thread> requests;
  std::atomic<int> timed_out{0};
  requests.reserve(4);
  for (int i = 0; i < 4; ++i) {
    requests.emplace_back([&] {
      auto res = client.get("http://localhost:2/x", 300ms);
      if (!res.ok() && res.error().code() == Errc::timeout) timed_out.fetch_add(1);
    });
  }
  for (auto& t : requests) t.join();
  const int during = lookups.load();
  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  REQUIRE(lia::testing::wait_until([&] { return ended.load() == lookups.load(); }, 20s));
  CHECK(timed_out.load() == 4);
  CHECK(during == 1);
  // Once it ended, a request looks the name up again: nothing is cached. (Until its thread
  // has put its answer down, a request may still get that one.)
  bool refused = true;
  CHECK(lia::testing::wait_until(
      [&] {
        auto again = client.get("http://localhost:2/x", 2s);
        refused = refused && !again.ok() && again.error().code() == Errc::unavailable;
        return lookups.load() == 2;
      },
      10s, 10ms));
  lia::http::detail::set_before_lookup_for_test(nullptr);
  CHECK(refused);
}

TEST_CASE("a server that never answers gives a retryable timeout") {
  lia::http::test::SilentListener silent;
  Client client;
  const auto t0 = std::chrono::steady_clock::now();
  auto res = client.get("http://127.0.0.1:" + std::to_string(silent.port()) + "/x", 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code() == Errc::timeout);
  CHECK(res.error().retryable());
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 5s);
}

TEST_CASE("a refused connection is unavailable and retryable") {
  Client client;
  auto res = client.get("http://127.0.0.1:" + std::to_string(lia::http::test::unused_port()) + "/");
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code() == Errc::unavailable);
  CHECK(res.error().retryable());
  CHECK(res.error().message().find("connection refused") != std::string::npos);
}

TEST_CASE("bad URLs, methods and headers are invalid arguments") {
  Client client;
  auto r1 = client.get("ftp://127.0.0.1/x");
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error().code() == Errc::invalid_argument);
  CHECK_FALSE(r1.error().retryable());

  auto r2 = client.request({.method = "GE T", .url = "http://127.0.0.1:1/"});
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code() == Errc::invalid_argument);

  ClientRequest r3;
  r3.url = "http://127.0.0.1:1/";
  r3.headers.add("X-Injected", "a\r\nEvil: 1");
  auto res3 = client.request(r3);
  REQUIRE_FALSE(res3.ok());
  CHECK(res3.error().code() == Errc::invalid_argument);
}

TEST_CASE("a response over the size limit is too_large") {
  auto server = echo_server();
  ClientOptions opts;
  opts.max_response_body = 1000;
  Client client(opts);
  auto res = client.get(base(*server) + "/big");
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code() == Errc::too_large);
  CHECK_FALSE(res.error().retryable());
}

TEST_CASE("a response whose chunk size line never ends is refused, not buffered without bound") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = lia::http::test::loopback(0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::size_t sent = 0;
  std::thread hostile([fd, &sent] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char request[4096];
    (void)::recv(c, request, sizeof request, 0);
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=";
    (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
    const std::string more(std::size_t{64} * 1024, 'a');  // up to 64 MiB of one extension
    for (int i = 0; i < 1024; ++i) {
      const auto n = ::send(c, more.data(), more.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::close(c);
  });
  Client client;
  auto res = client.get("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x", 10s);
  hostile.join();
  ::close(fd);
  REQUIRE_FALSE(res.ok());
  // The client gave up once its buffer was full; what the server got out is what the
  // kernel's socket buffers held besides.
  CHECK(sent < std::size_t{16} * 1024 * 1024);
}
