#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <sys/resource.h>

#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/http/client.hpp>
#include <lia/http/server.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia::http;
using namespace std::chrono_literals;
using namespace std::string_literals;
using lia::http::test::RawSocket;
using lia::testing::wait_until;

namespace {

std::string base_url(const Server& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

// A router with the routes most tests use.
Router demo_router() {
  Router r;
  r.add("GET", "/items/{id}", [](const Request& req) {
    std::string body = R"({"id":")" + *req.param("id") + "\"";
    if (auto* q = req.query_param("q")) body += R"(,"q":")" + *q + "\"";
    if (auto* h = req.header("x-test")) body += R"(,"x_test":")" + *h + "\"";
    body += R"(,"route":")" + std::string(req.route) + "\"}";
    return Response::json(200, body);
  });
  r.add("POST", "/echo", [](const Request& req) {
    Response res = Response::text(200, req.body);
    res.headers.add("X-Body-Size", std::to_string(req.body.size()));
    res.headers.add("X-Remote", req.remote_address);
    return res;
  });
  r.add("DELETE", "/items/{id}", [](const Request&) { return Response::empty(204); });
  r.add("POST", "/whoami", [](const Request& req) {
    const auto* key = req.header("apikey");
    return Response::json(200,
                          key == nullptr ? R"({"apikey":null})" : R"({"apikey":")" + *key + "\"}");
  });
  return r;
}

std::unique_ptr<Server> start_server(Router router, ServerOptions opts = {}, Readiness ready = {}) {
  opts.address = "127.0.0.1";
  opts.port = 0;
  auto s = std::make_unique<Server>(std::move(opts), std::move(router), std::move(ready));
  auto st = s->start();
  INFO((st ? std::string() : st.error().describe()));
  REQUIRE(st.ok());
  REQUIRE(s->port() != 0);
  return s;
}

}  // namespace

TEST_CASE("routes, path parameters, query and headers reach a sync handler") {
  auto server = start_server(demo_router());
  Client client;
  ClientRequest req;
  req.url = base_url(*server) + "/items/a%20b?q=x+y";
  req.headers.add("X-Test", "yes");
  auto res = client.request(req);
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(*res->header("content-type") == "application/json");
  CHECK(res->body == R"({"id":"a b","q":"x y","x_test":"yes","route":"/items/{id}"})");

  auto del = client.request({.method = "DELETE", .url = base_url(*server) + "/items/1"});
  REQUIRE(del.ok());
  CHECK(del->status == 204);
  CHECK(del->body.empty());
}

TEST_CASE("unknown paths get a 404 JSON body, wrong methods a 405 with Allow") {
  auto server = start_server(demo_router());
  Client client;
  auto nf = client.get(base_url(*server) + "/nope");
  REQUIRE(nf.ok());
  CHECK(nf->status == 404);
  CHECK(*nf->header("Content-Type") == "application/json");
  CHECK(nf->body == R"({"error":{"code":"not_found","message":"no route for GET /nope"}})");

  auto na = client.post(base_url(*server) + "/items/7", "{}");
  REQUIRE(na.ok());
  CHECK(na->status == 405);
  REQUIRE(na->header("Allow") != nullptr);
  CHECK(*na->header("Allow") == "GET, DELETE");
  CHECK(na->body ==
        R"({"error":{"code":"method_not_allowed","message":"POST is not allowed on /items/7"}})");
}

TEST_CASE("the raw body reaches the handler byte for byte") {
  auto server = start_server(demo_router());
  std::string body = "{\"a\":1}\r\n\0\xff\x01 trailing  "s;
  body.push_back('\0');
  body += std::string(100'000, 'z');
  Client client;
  auto res = client.post(base_url(*server) + "/echo", body, "application/octet-stream");
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(*res->header("X-Body-Size") == std::to_string(body.size()));
  CHECK(*res->header("X-Remote") == "127.0.0.1");
  CHECK(res->body == body);
}

TEST_CASE("an async handler answers from another thread after a delay") {
  std::vector<std::thread> workers;
  std::mutex mu;
  Router r;
  std::atomic<std::thread::id> io_thread{};
  r.add("POST", "/webhooks/evolution/{event}", [&](Request&& req, const Responder& respond) {
    io_thread = std::this_thread::get_id();
    std::lock_guard lock(mu);
    workers.emplace_back([respond, event = *req.param("event"), body = std::move(req.body)] {
      std::this_thread::sleep_for(50ms);  // e.g. waiting for the Kafka ack
      respond(Response::json(
          202, R"({"event":")" + event + R"(","bytes":)" + std::to_string(body.size()) + "}"));
      respond(Response::json(500, "{}"));  // a second answer is ignored
    });
  });
  auto server = start_server(std::move(r));
  Client client;
  auto res = client.post(base_url(*server) + "/webhooks/evolution/messages-upsert", "12345");
  REQUIRE(res.ok());
  CHECK(res->status == 202);
  CHECK(res->body == R"({"event":"messages-upsert","bytes":5})");
  // The connection is still usable after the async answer.
  auto again = client.post(base_url(*server) + "/webhooks/evolution/x", "");
  REQUIRE(again.ok());
  CHECK(again->status == 202);
  CHECK(client.stats().connections_opened == 1);
  std::lock_guard lock(mu);
  for (auto& t : workers) t.join();
}

TEST_CASE("blocking handlers run on the pool, off the I/O threads") {
  std::atomic<int> calls{0};
  std::atomic<bool> fast_answered{false};
  std::atomic<bool> saw_fast{false};
  Router r;
  r.add(
      "GET", "/db",
      [&](const Request&) {
        ++calls;
        // A slow query must not stall other requests: this one waits for /fast's answer,
        // which only a free I/O thread can give.
        saw_fast = wait_until([&] { return fast_answered.load(); }, 5s, 1ms);
        return Response::json(200, R"({"rows":1})");
      },
      RouteOptions{.blocking = true});
  r.add("GET", "/fast", [&](const Request&) {
    fast_answered = true;
    return Response::json(200, "{}");
  });
  ServerOptions opts;
  opts.threads = 1;
  opts.blocking_threads = 2;
  auto server = start_server(std::move(r), opts);

  Client client;
  std::optional<lia::core::Result<ClientResponse>> slow;
  std::thread t([&] { slow.emplace(client.get(base_url(*server) + "/db")); });
  REQUIRE(wait_until([&] { return calls.load() == 1; }, 5s, 1ms));
  // While the only I/O thread's peer request sits in the pool, another request is served.
  auto fast = client.get(base_url(*server) + "/fast");
  t.join();
  REQUIRE(fast.ok());
  CHECK(fast->status == 200);
  REQUIRE(slow->ok());
  CHECK((*slow)->status == 200);
  CHECK((*slow)->body == R"({"rows":1})");
  CHECK(saw_fast.load());
}

TEST_CASE("a handler that throws answers 500 JSON and the server keeps serving") {
  Router r;
  r.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("db down"); });
  r.add("POST", "/async-boom",
        [](Request&&, const Responder&) { throw std::logic_error("bad state"); });
  r.add("POST", "/dropped", [](Request&&, const Responder&) { /* never answers */ });
  r.add("GET", "/ok", [](const Request&) { return Response::json(200, "{}"); });
  auto server = start_server(std::move(r));
  Client client;
  for (auto [method, path] : {std::pair{"GET", "/boom"}, std::pair{"POST", "/async-boom"},
                              std::pair{"POST", "/dropped"}}) {
    INFO(path);
    auto res = client.request({.method = method, .url = base_url(*server) + path});
    REQUIRE(res.ok());
    CHECK(res->status == 500);
    CHECK(res->body.find(R"({"error":{"code":"internal")") == 0);
  }
  auto ok = client.get(base_url(*server) + "/ok");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
}

TEST_CASE("a body past the limit gets 413 JSON and the connection is closed") {
  ServerOptions opts;
  opts.body_limit = 1000;
  auto server = start_server(demo_router(), opts);

  SECTION("declared by Content-Length") {
    // Logged with its path (no query) and size: on a webhook route, a message that is lost.
    // The lines live as long as the sink (shared), and the logger is put back however the
    // section ends.
    struct Captured {
      std::mutex mu;
      std::vector<std::string> lines;
    };
    const auto captured = std::make_shared<Captured>();
    struct Restore {
      ~Restore() { lia::core::set_log(lia::core::Logger()); }
    } restore;
    lia::core::set_log(lia::core::Logger({.sink = [captured](std::string_view l) {
      const std::lock_guard lock(captured->mu);
      captured->lines.emplace_back(l);
    }}));
    RawSocket s(server->port());
    const std::string body(2000, 'x');
    REQUIRE(
        s.send("POST /echo?token=abc HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
               "Content-Length: 2000\r\n\r\n" +
               body));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 413);
    CHECK(res->header("Content-Type") == "application/json");
    CHECK(res->header("Connection") == "close");
    CHECK(res->body == R"({"error":{"code":"payload_too_large","message":"request body exceeds )"
                       R"(1000 bytes"}})");
    CHECK(s.wait_closed(5s));
    const std::lock_guard lock(captured->mu);
    const auto& lines = captured->lines;
    const auto logged = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
      return l.find("request body too large") != std::string::npos;
    });
    REQUIRE(logged != lines.end());
    CHECK(logged->find(R"("path":"/echo")") != std::string::npos);
    CHECK(logged->find(R"("content_length":2000)") != std::string::npos);
    CHECK(logged->find("token") == std::string::npos);
  }
  SECTION("sent chunked, discovered while reading") {
    RawSocket s(server->port());
    std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) req += "190\r\n" + std::string(400, 'y') + "\r\n";  // 1200 bytes
    req += "0\r\n\r\n";
    REQUIRE(s.send(req));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 413);
    CHECK(res->body.find("payload_too_large") != std::string::npos);
    CHECK(s.wait_closed(5s));
  }
  SECTION("exactly at the limit is accepted") {
    Client client;
    auto res = client.post(base_url(*server) + "/echo", std::string(1000, 'k'), "text/plain");
    REQUIRE(res.ok());
    CHECK(res->status == 200);
    CHECK(res->body.size() == 1000);
  }
  SECTION("through the client") {
    Client client;
    auto res = client.post(base_url(*server) + "/echo", std::string(5000, 'k'), "text/plain");
    REQUIRE(res.ok());
    CHECK(res->status == 413);
  }
}

TEST_CASE("a route's own body limit, larger or smaller than the server's") {
  ServerOptions opts;
  opts.body_limit = 1000;
  Router r = demo_router();
  auto size = [](Request&& req, const Responder& respond) {
    respond(Response::json(200, R"({"size":)" + std::to_string(req.body.size()) + "}"));
  };
  r.add("POST", "/large", size, RouteOptions{.body_limit = 5000});
  r.add("POST", "/small", size, RouteOptions{.body_limit = 100});
  auto server = start_server(std::move(r), opts);
  Client client;
  const auto base = base_url(*server);

  auto large = client.post(base + "/large", std::string(5000, 'k'), "text/plain");
  REQUIRE(large.ok());
  CHECK(large->status == 200);
  CHECK(large->body == R"({"size":5000})");
  large = client.post(base + "/large", std::string(5001, 'k'), "text/plain");
  REQUIRE(large.ok());
  CHECK(large->status == 413);
  CHECK(large->body.find("exceeds 5000 bytes") != std::string::npos);

  // Other routes keep the server's limit, though the parser takes the largest.
  auto echo = client.post(base + "/echo", std::string(1001, 'k'), "text/plain");
  REQUIRE(echo.ok());
  CHECK(echo->status == 413);
  CHECK(echo->body.find("exceeds 1000 bytes") != std::string::npos);
  auto unknown = client.post(base + "/nowhere", std::string(1001, 'k'), "text/plain");
  REQUIRE(unknown.ok());
  CHECK(unknown->status == 413);

  auto small = client.post(base + "/small", std::string(101, 'k'), "text/plain");
  REQUIRE(small.ok());
  CHECK(small->status == 413);
  CHECK(small->body.find("exceeds 100 bytes") != std::string::npos);

  SECTION("sent chunked, the route's limit holds while reading") {
    RawSocket s(server->port());
    std::string req = "POST /large HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 13; ++i) req += "190\r\n" + std::string(400, 'y') + "\r\n";  // 5200
    req += "0\r\n\r\n";
    REQUIRE(s.send(req));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 413);
    CHECK(s.wait_closed(5s));
  }
  SECTION("sent chunked to a route with a smaller limit, refused past it") {
    RawSocket s(server->port());
    std::string req = "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    req += "96\r\n" + std::string(150, 'y') + "\r\n0\r\n\r\n";  // 150 bytes
    REQUIRE(s.send(req));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 413);
    CHECK(res->body.find("exceeds 100 bytes") != std::string::npos);
  }
  SECTION("a route's limit does not leak into the next request on the connection") {
    RawSocket s(server->port());
    const std::string big(3000, 'z');
    REQUIRE(s.send("POST /large HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n" + big));
    auto first = s.read_response();
    REQUIRE(first.has_value());
    CHECK(first->status == 200);
    REQUIRE(s.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n" + big));
    auto second = s.read_response();
    REQUIRE(second.has_value());
    CHECK(second->status == 413);
  }
}

namespace {

// Drops every 'x', keeps the rest; counts the pieces it was fed.
class DropX : public lia::http::BodyFilter {
 public:
  explicit DropX(std::atomic<int>* pieces) : pieces_(pieces) {}
  void feed(std::string_view bytes, std::string& kept) override {
    pieces_->fetch_add(1);
    for (const char c : bytes) {
      if (c != 'x') kept += c;
    }
  }

 private:
  std::atomic<int>* pieces_;
};

}  // namespace

TEST_CASE("a filtered route reads up to its wire limit and keeps up to its body limit") {
  ServerOptions opts;
  opts.body_limit = 1000;
  opts.body_budget = 1000;  // a filtered body is counted at what it may keep
  Router r = demo_router();
  std::atomic<int> pieces{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  r.add(
      "POST", "/filtered",
      [&](Request&& req, const Responder& respond) {
        if (req.body == "wait") released.wait_for(10s);
        respond(Response::json(200, "\"" + req.body + "\""));
      },
      RouteOptions{.body_limit = 100,
                   .body_filter = [&] { return std::make_unique<DropX>(&pieces); },
                   .wire_limit = 200'000});
  auto server = start_server(std::move(r), opts);
  Client client;
  const auto base = base_url(*server);

  // 150,000 bytes on the wire, 4 kept: the handler gets the 4.
  auto kept =
      client.post(base + "/filtered", std::string(75'000, 'x') + "keep" + std::string(75'000, 'x'));
  REQUIRE(kept.ok());
  CHECK(kept->status == 200);
  CHECK(kept->body == "\"keep\"");
  CHECK(pieces.load() > 1);  // fed as the body arrived, not once at its end

  // Past the wire limit: 413 with the headers.
  auto wire = client.post(base + "/filtered", std::string(200'001, 'x'));
  REQUIRE(wire.ok());
  CHECK(wire->status == 413);
  CHECK(wire->body.find("exceeds 200000 bytes") != std::string::npos);
  // Keeping more than the body limit: 413 as soon as it does.
  auto over = client.post(base + "/filtered", std::string(101, 'k'));
  REQUIRE(over.ok());
  CHECK(over->status == 413);
  CHECK(over->body.find("exceeds 100 bytes once filtered") != std::string::npos);
  auto fits = client.post(base + "/filtered", std::string(100, 'k') + std::string(500, 'x'));
  REQUIRE(fits.ok());
  CHECK(fits->status == 200);
  // Other routes keep the server's limit and are not filtered.
  auto echo = client.post(base + "/echo", std::string(500, 'x'), "text/plain");
  REQUIRE(echo.ok());
  CHECK(echo->status == 200);
  CHECK(echo->body == std::string(500, 'x'));

  SECTION("chunked, filtered as it arrives") {
    RawSocket s(server->port());
    std::string req = "POST /filtered HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 13; ++i) req += "190\r\n" + std::string(400, 'x') + "\r\n";
    req += "2\r\nok\r\n0\r\n\r\n";
    REQUIRE(s.send(req));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 200);
    CHECK(res->body == "\"ok\"");
  }
  SECTION("chunked, refused once it keeps too much") {
    RawSocket s(server->port());
    std::string req = "POST /filtered HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    req += "96\r\n" + std::string(150, 'k') + "\r\n0\r\n\r\n";
    REQUIRE(s.send(req));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 413);
    CHECK(res->body.find("once filtered") != std::string::npos);
    CHECK(s.wait_closed(5s));
  }
  SECTION("the body budget counts a filtered body by what it keeps, not its wire size") {
    RawSocket held(server->port());
    REQUIRE(held.send("POST /filtered HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nwait"));
    REQUIRE(lia::testing::wait_until([&] { return pieces.load() > 0; }, 5s, 1ms));
    // 150,000 bytes through a budget of 1,000 beside the held body: none of them is kept.
    RawSocket large(server->port());
    REQUIRE(large.send("POST /filtered HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n\r\n"));
    REQUIRE(large.send(std::string(150'000, 'x')));
    auto res = large.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 200);
    CHECK(server->body_bytes_held() <= 100);
    release.set_value();
    auto first = held.read_response();
    REQUIRE(first.has_value());
    CHECK(first->body == "\"wait\"");
  }
  if (!released.valid() || released.wait_for(0s) != std::future_status::ready) release.set_value();
}

TEST_CASE("a body filter that throws, or a factory that does, is a 500 and no crash") {
  class Throws final : public lia::http::BodyFilter {
   public:
    void feed(std::string_view bytes, std::string& kept) override {
      if (bytes.find('!') != std::string_view::npos) throw std::runtime_error("filter bug");
      kept.append(bytes);
    }
  };
  Router r = demo_router();
  auto echo = [](Request&& req, const Responder& respond) {
    respond(Response::json(200, "\"" + req.body + "\""));
  };
  r.add(
      "POST", "/throws", echo,
      RouteOptions{.body_filter = [] { return std::make_unique<Throws>(); }, .wire_limit = 10'000});
  r.add("POST", "/factory", echo,
        RouteOptions{.body_filter = []() -> std::unique_ptr<lia::http::BodyFilter> {
                       throw std::runtime_error("factory bug");
                     },
                     .wire_limit = 10'000});
  auto server = start_server(std::move(r));
  Client client;
  const auto base = base_url(*server);
  auto fine = client.post(base + "/throws", "ok", "text/plain");
  REQUIRE(fine.ok());
  CHECK(fine->status == 200);
  for (const char* path : {"/throws", "/factory"}) {
    INFO(path);
    auto res = client.post(base + path, "boom!", "text/plain");
    REQUIRE(res.ok());
    CHECK(res->status == 500);
    CHECK(res->body.find(R"({"error":{"code":"internal")") == 0);
  }
  auto after = client.get(base + "/items/1");  // the server is unharmed
  REQUIRE(after.ok());
  CHECK(after->status == 200);
}

TEST_CASE("a route refuses a body filter without a wire limit, or a wire limit alone") {
  Router r;
  auto answer = [](Request&&, const Responder& respond) { respond(Response::empty(204)); };
  std::atomic<int> pieces{0};
  auto make = [&] { return std::make_unique<DropX>(&pieces); };
  CHECK_THROWS_AS(r.add("POST", "/a", answer, RouteOptions{.body_filter = make}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.add("POST", "/b", answer,
                        RouteOptions{.body_limit = 100, .body_filter = make, .wire_limit = 99}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.add("POST", "/c", answer, RouteOptions{.wire_limit = 100}),
                  std::invalid_argument);
  CHECK_NOTHROW(r.add("POST", "/d", answer, RouteOptions{.body_filter = make, .wire_limit = 1}));
}

TEST_CASE("a route refuses blocking options for an async handler") {
  Router r;
  CHECK_THROWS_AS(
      r.add(
          "POST", "/x", [](Request&&, const Responder& respond) { respond(Response::empty(204)); },
          RouteOptions{.blocking = true}),
      std::invalid_argument);
}

TEST_CASE("a malformed request gets 400 JSON and the connection is closed") {
  auto server = start_server(demo_router());
  const char* bad[] = {
      "THIS IS NOT HTTP\r\n\r\n",                          // broken request line
      "GET /items/1 HTTP/9.Z\r\nHost: t\r\n\r\n",          // bad version
      "GET /items/1 HTTP/1.1\r\nBad Header Line\r\n\r\n",  // field without a colon
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
      "GET items HTTP/1.1\r\nHost: t\r\n\r\n",  // target not origin-form
      "GET /items/1 HTTP/1.1\r\n\r\n",          // HTTP/1.1 without Host
      "GET /items/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /items/1 HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
  };
  for (const char* request : bad) {
    INFO(request);
    RawSocket s(server->port());
    REQUIRE(s.send(request));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 400);
    CHECK(res->header("Content-Type") == "application/json");
    CHECK(res->body.find(R"({"error":{"code":"bad_request")") == 0);
    CHECK(s.wait_closed(5s));
  }
  // The server is unharmed.
  Client client;
  auto ok = client.get(base_url(*server) + "/items/1");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
}

TEST_CASE("a Transfer-Encoding other than one chunked gets 400 and no hidden second request") {
  auto server = start_server(demo_router());
  const std::string hidden = "GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::string bad[] = {
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n" + hidden,
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + hidden,
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n" +
          hidden,
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n" +
          hidden,
      "POST /echo HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
  };
  for (const auto& request : bad) {
    INFO(request);
    RawSocket s(server->port());
    REQUIRE(s.send(request));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 400);
    CHECK(res->body.find("Transfer-Encoding") != std::string::npos);
    CHECK(s.wait_closed(5s));  // the GET behind it is never answered
  }
}

TEST_CASE("trailers never become headers, and a huge chunk header or trailer gets 431") {
  auto server = start_server(demo_router());
  {
    RawSocket s(server->port());
    REQUIRE(
        s.send("POST /whoami HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "2\r\n{}\r\n0\r\napikey: evo-key\r\n\r\n"));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 200);
    CHECK(res->body == R"({"apikey":null})");
  }
  {
    // A trailer named like a header field before the last one: Beast files it beside that
    // field, not at the end; the header's own fields all still arrive, and only they.
    RawSocket s(server->port());
    REQUIRE(s.send(
        "POST /whoami HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\napikey: evo-key\r\n\r\n"
        "2\r\n{}\r\n0\r\nHost: trailer\r\n\r\n"));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 200);
    CHECK(res->body == R"({"apikey":"evo-key"})");
  }
  // The size line's extension and the trailers wait whole in the read buffer: capped.
  const std::string ext =
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;x=" +
      std::string(std::size_t{1} << 20, 'a') + "\r\n{}\r\n0\r\n\r\n";
  std::string trailers =
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n";
  for (int i = 0; i < 20000; ++i) trailers += "X-T: " + std::string(90, 'a') + "\r\n";
  trailers += "\r\n";
  for (const std::string* request : std::vector<const std::string*>{&ext, &trailers}) {
    RawSocket s(server->port());
    (void)s.send(*request);  // the server may close before it has read everything
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 431);
    CHECK(res->header("Content-Type") == "application/json");
  }
  Client client;  // the server is unharmed
  auto ok = client.get(base_url(*server) + "/items/1");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
}

TEST_CASE("bodies past the server's body budget get 503 and the memory comes back") {
  constexpr std::size_t kKiB = 1024;
  ServerOptions opts;
  opts.body_limit = 600 * kKiB;
  opts.body_budget = 1024 * kKiB;  // one 600 KiB body at a time, not two
  auto server = start_server(demo_router(), opts);
  const auto header = [](std::size_t length) {
    return "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
  };
  Client client;
  // Bodies declared large that send almost nothing hold only what arrived: twenty of them,
  // 12 MiB declared, do not keep a large body out.
  constexpr std::size_t kIdleBytes = std::size_t{20} * 100;
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<RawSocket>(server->port()));
    REQUIRE(idle.back()->send(header(600 * kKiB) + std::string(100, 'i')));
  }
  REQUIRE(
      lia::testing::wait_until([&] { return server->body_bytes_held() == kIdleBytes; }, 5s, 1ms));
  auto beside = client.post(base_url(*server) + "/echo", std::string(500 * kKiB, 'b'));
  REQUIRE(beside.ok());
  CHECK(beside->status == 200);

  // A slow upload holds what it received, here all of its 600 KiB but a byte.
  RawSocket slow(server->port());
  REQUIRE(slow.send(header(600 * kKiB) + std::string(600 * kKiB - 1, 'a')));
  REQUIRE(lia::testing::wait_until(
      [&] { return server->body_bytes_held() >= 600 * kKiB - 1 + kIdleBytes; }, 5s, 1ms));
  const std::size_t held = server->body_bytes_held();
  CHECK(held <= 600 * kKiB + kIdleBytes);
  // Another large body does not fit beside it: 503 once its bytes pass the budget,
  // Retry-After, closed.
  {
    RawSocket second(server->port());
    REQUIRE(second.send(header(600 * kKiB) + std::string(600 * kKiB, 's')));
    auto res = second.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 503);
    CHECK(res->header("Retry-After") == "1");
    CHECK(res->body.find(R"({"error":{"code":"unavailable")") == 0);
    CHECK(second.wait_closed(5s));
  }
  // The refused body's share comes back when its connection goes.
  CHECK(lia::testing::wait_until([&] { return server->body_bytes_held() == held; }, 5s, 1ms));
  // Small bodies still fit, and bodyless requests are never counted.
  auto small = client.post(base_url(*server) + "/echo", std::string(100 * kKiB, 'b'));
  REQUIRE(small.ok());
  CHECK(small->status == 200);
  CHECK(client.get(base_url(*server) + "/items/1")->status == 200);
  // Once the slow upload is answered its share comes back: the large body fits again.
  REQUIRE(slow.send("a"));
  auto done = slow.read_response();
  REQUIRE(done.has_value());
  CHECK(done->status == 200);
  CHECK(done->body.size() == 600 * kKiB);
  auto large = client.post(base_url(*server) + "/echo", std::string(600 * kKiB, 'c'));
  REQUIRE(large.ok());
  CHECK(large->status == 200);
  idle.clear();
  CHECK(lia::testing::wait_until([&] { return server->body_bytes_held() == 0; }, 5s, 1ms));
}

TEST_CASE("routes with a body budget of their own neither use up nor share the server's") {
  constexpr std::size_t kKiB = 1024;
  ServerOptions opts;
  opts.body_limit = 600 * kKiB;
  opts.body_budget = 1024 * kKiB;
  auto own = std::make_shared<BodyBudget>(1024 * kKiB);
  Router router = demo_router();
  const auto echo = [](const Request& req) { return Response::text(200, req.body); };
  // Two routes on one budget of their own, as a provider's two webhook routes are.
  router.add("POST", "/own", echo, RouteOptions{.body_budget = own});
  router.add("POST", "/own/{event}", echo, RouteOptions{.body_budget = own});
  auto server = start_server(std::move(router), opts);
  const auto header = [](const std::string& path, std::size_t length) {
    return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
  };
  // A slow upload on one of the routes holds 600 KiB of their budget, none of the server's.
  RawSocket slow(server->port());
  REQUIRE(slow.send(header("/own", 600 * kKiB) + std::string(600 * kKiB - 1, 'a')));
  REQUIRE(lia::testing::wait_until([&] { return own->held.load() >= 600 * kKiB - 1; }, 5s, 1ms));
  CHECK(own->held.load() <= 600 * kKiB);
  CHECK(server->body_bytes_held() == 0);
  // The other routes' large bodies still fit in the server's budget...
  Client client;
  auto beside = client.post(base_url(*server) + "/echo", std::string(600 * kKiB, 'b'));
  REQUIRE(beside.ok());
  CHECK(beside->status == 200);
  // ... while a second large body on either route of that budget does not fit beside the first.
  {
    RawSocket second(server->port());
    REQUIRE(second.send(header("/own/x", 600 * kKiB) + std::string(600 * kKiB, 's')));
    auto res = second.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 503);
    CHECK(second.wait_closed(5s));
  }
  // Answered, the slow upload gives its share back to its own budget.
  REQUIRE(slow.send("a"));
  auto done = slow.read_response();
  REQUIRE(done.has_value());
  CHECK(done->status == 200);
  CHECK(done->body.size() == 600 * kKiB);
  CHECK(lia::testing::wait_until([&] { return own->held.load() == 0; }, 5s, 1ms));
  auto again = client.post(base_url(*server) + "/own/y", std::string(600 * kKiB, 'c'));
  REQUIRE(again.ok());
  CHECK(again->status == 200);
  CHECK(server->body_bytes_held() == 0);
  // On one keep-alive connection each request is charged to its own route's budget: a body
  // for /echo after one for /own is the server's, and the other way round.
  RawSocket kept(server->port());
  REQUIRE(kept.send(header("/own", 3) + "abc"));
  auto first = kept.read_response();
  REQUIRE(first.has_value());
  CHECK(first->status == 200);
  REQUIRE(kept.send(header("/echo", 300 * kKiB) + std::string(300 * kKiB - 1, 'e')));
  REQUIRE(lia::testing::wait_until([&] { return server->body_bytes_held() >= 300 * kKiB - 1; }, 5s,
                                   1ms));
  CHECK(own->held.load() == 0);
  REQUIRE(kept.send("e"));
  auto second = kept.read_response();
  REQUIRE(second.has_value());
  CHECK(second->status == 200);
  REQUIRE(kept.send(header("/own", 300 * kKiB) + std::string(300 * kKiB - 1, 'o')));
  REQUIRE(lia::testing::wait_until([&] { return own->held.load() >= 300 * kKiB - 1; }, 5s, 1ms));
  CHECK(server->body_bytes_held() == 0);
  REQUIRE(kept.send("o"));
  auto third = kept.read_response();
  REQUIRE(third.has_value());
  CHECK(third->status == 200);
  CHECK(lia::testing::wait_until([&] { return own->held.load() == 0; }, 5s, 1ms));
}

TEST_CASE("a body whose first read would not fit the budget is refused with its headers") {
  constexpr std::size_t kKiB = 1024;
  ServerOptions opts;
  opts.body_limit = 1020 * kKiB;
  opts.body_budget = 1024 * kKiB;
  auto server = start_server(demo_router(), opts);
  RawSocket slow(server->port());
  REQUIRE(slow.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1044480\r\n\r\n" +
                    std::string(1020 * kKiB - 1, 'a')));
  REQUIRE(lia::testing::wait_until([&] { return server->body_bytes_held() >= 1020 * kKiB - 1; }, 5s,
                                   1ms));
  // 8 KiB would fit in the 4 KiB left only if counted by what arrived: refused before it is
  // sent, so a client holding it back for `100-continue` never sends it.
  RawSocket next(server->port());
  REQUIRE(next.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 8192\r\nExpect: 100-continue\r\n\r\n"));
  auto res = next.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 503);
  CHECK(next.wait_closed(5s));
  // A small body fits in what is left.
  Client client;
  auto small = client.post(base_url(*server) + "/echo", std::string(2 * kKiB, 'b'));
  REQUIRE(small.ok());
  CHECK(small->status == 200);
}

TEST_CASE("headers larger than the header limit get 431") {
  ServerOptions opts;
  opts.header_limit = 2048;
  auto server = start_server(demo_router(), opts);
  // Sent at once, so the whole header may arrive in one read: the limit holds to the byte.
  const std::string head = "GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Big: ";
  const std::string tail = "\r\n\r\n";
  const std::size_t fits = 2048 - head.size() - tail.size();
  const auto request = [&](std::size_t value) {
    std::string r = head;
    r.append(value, 'a');
    r += tail;
    return r;
  };
  for (const std::size_t value : {fits + 1, fits + 500, std::size_t{4096}}) {
    INFO(value);
    RawSocket s(server->port());
    REQUIRE(s.send(request(value)));
    auto res = s.read_response();
    REQUIRE(res.has_value());
    CHECK(res->status == 431);
    CHECK(s.wait_closed(5s));
  }
  RawSocket s(server->port());
  REQUIRE(s.send(request(fits)));
  auto res = s.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 200);
}

TEST_CASE("a client that sends its headers too slowly is disconnected") {
  ServerOptions opts;
  opts.header_timeout = 300ms;
  auto server = start_server(demo_router(), opts);

  SECTION("partial header, then silence") {
    RawSocket s(server->port());
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(s.send("GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Slow: "));
    CHECK(s.wait_closed(5s));
    CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);  // not before the deadline
    CHECK(s.pending().empty());  // no response for a request never completed
  }
  SECTION("trickling one byte at a time does not extend the deadline") {
    RawSocket s(server->port());
    // About 80 bytes, one every 50 ms or more: seconds in all, far past the 300 ms deadline,
    // while each byte comes well within 300 ms of the one before. A deadline counted from the
    // connection's start closes it mid-request; one restarted on every byte would let the
    // whole request through and answer it.
    const std::string request =
        "GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(40, 'a') + "\r\n\r\n";
    std::size_t sent = 0;
    bool closed_mid_request = false;
    for (char c : request) {
      if (!s.send(std::string_view(&c, 1))) {  // reset by the server: this byte never left
        closed_mid_request = true;
        break;
      }
      ++sent;
      if (s.wait_closed(50ms)) {
        closed_mid_request = sent < request.size();
        break;
      }
    }
    INFO(sent << " of " << request.size() << " bytes sent");
    CHECK(closed_mid_request);
  }
  SECTION("a connection that sends nothing is disconnected too") {
    RawSocket s(server->port());
    CHECK(s.wait_closed(5s));
  }
  // Well-behaved clients are unaffected.
  Client client;
  auto ok = client.get(base_url(*server) + "/items/1");
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);
}

TEST_CASE("keep-alive serves several requests on one connection, pipelined ones in order") {
  auto server = start_server(demo_router());
  RawSocket s(server->port());
  REQUIRE(s.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto first = s.read_response();
  REQUIRE(first.has_value());
  CHECK(first->status == 200);
  CHECK(first->body.find(R"("id":"1")") != std::string::npos);
  REQUIRE(s.send("GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto second = s.read_response();
  REQUIRE(second.has_value());
  CHECK(second->body.find(R"("id":"2")") != std::string::npos);

  // Three requests in one write: three answers, in order.
  REQUIRE(
      s.send("GET /items/3 HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
             "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto a = s.read_response();
  auto b = s.read_response();
  auto c = s.read_response();
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  REQUIRE(c.has_value());
  CHECK(a->body.find(R"("id":"3")") != std::string::npos);
  CHECK(b->body == "hello");
  CHECK(c->status == 404);
  CHECK(server->connections() == 1);

  // Connection: close is honoured.
  REQUIRE(s.send("GET /items/4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto last = s.read_response();
  REQUIRE(last.has_value());
  CHECK(last->header("Connection") == "close");
  CHECK(s.wait_closed(5s));
}

TEST_CASE("Expect 100-continue gets an interim answer before the body is sent") {
  auto server = start_server(demo_router());
  RawSocket s(server->port());
  REQUIRE(
      s.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
             "Expect: 100-continue\r\n\r\n"));
  auto interim = s.read_response();
  REQUIRE(interim.has_value());
  CHECK(interim->status == 100);
  REQUIRE(s.send("ping"));
  auto res = s.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 200);
  CHECK(res->body == "ping");
}

TEST_CASE("Expect 100-continue on a request refused anyway gets the refusal, not 100") {
  auto server = start_server(demo_router());
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
       404},
      {"DELETE /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
       405},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n"
       "Expect: 100-continue\r\n\r\n",
       413},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    RawSocket s(server->port());
    REQUIRE(s.send(c.request));
    auto res = s.read_response();  // the body was never sent
    REQUIRE(res.has_value());
    CHECK(res->status == c.status);
    CHECK(res->header("Content-Type") == "application/json");
    CHECK(s.wait_closed(5s));
  }
  // HTTP/1.0 has no interim answers: its body comes at once and is read.
  RawSocket old(server->port());
  REQUIRE(old.send("POST /echo HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nping"));
  auto res = old.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 200);
  CHECK(res->body == "ping");
}

TEST_CASE("HEAD is answered by the GET route without a body") {
  auto server = start_server(demo_router());
  RawSocket s(server->port());
  REQUIRE(s.send("HEAD /items/9 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = s.read_head();
  REQUIRE(head.has_value());
  CHECK(head->status == 200);
  const auto length = head->header("Content-Length");
  REQUIRE(length.has_value());
  // If the HEAD answer carried a body, it would sit in front of the next response.
  REQUIRE(s.send("GET /items/9 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto get = s.read_response();
  REQUIRE(get.has_value());
  CHECK(get->status == 200);
  CHECK(get->body.size() == std::stoul(*length));
}

TEST_CASE("/healthz, /readyz and /metrics are served beside the routes") {
  std::atomic<bool> kafka_ok{true};
  Readiness ready = [&] {
    return std::vector<Check>{{"postgres", true, ""},
                              {"kafka", kafka_ok.load(), kafka_ok ? "" : "broker down"}};
  };
  Router r = demo_router();
  const std::string probe = "/" + lia::testing::unique_name("probe") + "/{id}";
  r.add("GET", probe, [](const Request&) { return Response::json(200, "{}"); });
  auto server = start_server(std::move(r), {}, ready);
  Client client;
  const auto base = base_url(*server);

  auto health = client.get(base + "/healthz");
  REQUIRE(health.ok());
  CHECK(health->status == 200);
  CHECK(health->body == R"({"status":"ok"})");

  auto ready_ok = client.get(base + "/readyz");
  REQUIRE(ready_ok.ok());
  CHECK(ready_ok->status == 200);
  CHECK(
      ready_ok->body ==
      R"({"status":"ready","checks":[{"name":"postgres","ok":true},{"name":"kafka","ok":true}]})");

  kafka_ok = false;
  auto ready_bad = client.get(base + "/readyz");
  REQUIRE(ready_bad.ok());
  CHECK(ready_bad->status == 503);
  CHECK(ready_bad->body ==
        R"({"status":"not_ready","failed":["kafka"],"checks":[{"name":"postgres","ok":true},)"
        R"({"name":"kafka","ok":false,"detail":"broker down"}]})");

  const std::string prefix = probe.substr(0, probe.size() - 5);
  for (const char* id : {"1", "2", "3"}) {
    auto res = client.get(base + prefix + "/" + id);
    REQUIRE(res.ok());
    REQUIRE(res->status == 200);
  }
  auto m = client.get(base + "/metrics");
  REQUIRE(m.ok());
  CHECK(m->status == 200);
  CHECK(m->header("Content-Type")->rfind("text/plain; version=0.0.4", 0) == 0);
  // Labelled by the route pattern, not by the raw path.
  CHECK(m->body.find("lia_http_server_requests_total{route=\"" + probe +
                     "\",method=\"GET\",status=\"200\"} 3\n") != std::string::npos);
  CHECK(m->body.find("lia_http_server_request_duration_seconds_count{route=\"" + probe +
                     "\",method=\"GET\"} 3\n") != std::string::npos);
  CHECK(m->body.find(prefix + "/1") == std::string::npos);
  CHECK(m->body.find("# TYPE lia_http_server_connections gauge") != std::string::npos);
}

TEST_CASE("/readyz and /metrics answer while API requests hold every blocking thread") {
  std::atomic<int> busy{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router r;
  r.add(
      "POST", "/api/auth/login",
      [&](const Request&) {
        ++busy;
        released.wait();  // a flood of password checks, each holding a thread
        return Response::json(401, "{}");
      },
      RouteOptions{.blocking = true});
  ServerOptions opts;
  opts.blocking_threads = 2;
  bool checked = false;
  auto server = start_server(std::move(r), opts, [&] {
    checked = true;
    return std::vector<Check>{{"db", true, ""}};
  });

  Client client;
  std::vector<std::thread> flood;
  flood.reserve(4);
  for (int i = 0; i < 4; ++i) {
    flood.emplace_back([&] { (void)client.post(base_url(*server) + "/api/auth/login", "{}"); });
  }
  REQUIRE(wait_until([&] { return busy.load() == 2; }, 5s, 1ms));  // both threads taken
  // Were the probes queued behind the flood, they would wait until it ends (never, here).
  ClientRequest ready{.method = "GET", .url = base_url(*server) + "/readyz", .timeout = 5s};
  auto readyz = client.request(ready);
  ClientRequest scrape{.method = "GET", .url = base_url(*server) + "/metrics", .timeout = 5s};
  auto metrics = client.request(scrape);
  CHECK(busy.load() == 2);
  release.set_value();
  for (auto& t : flood) t.join();
  REQUIRE(readyz.ok());
  CHECK(readyz->status == 200);
  CHECK(checked);
  REQUIRE(metrics.ok());
  CHECK(metrics->status == 200);
}

TEST_CASE("a blocking request that waited past the queue timeout is answered 503, not run") {
  std::atomic<int> runs{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router r;
  r.add(
      "POST", "/api/slow",
      [&](const Request&) {
        ++runs;
        released.wait();  // a query turned slow, holding the only thread
        return Response::json(200, "{}");
      },
      RouteOptions{.blocking = true});
  ServerOptions opts;
  opts.blocking_threads = 1;
  opts.queue_timeout = 200ms;
  auto server = start_server(std::move(r), opts);
  auto& expired = lia::core::metrics().counter("lia_http_requests_expired_total", "");
  const double before = expired.value();
  auto& waiting = lia::core::metrics().gauge("lia_http_requests_waiting", "");
  const double waiting_before = waiting.value();

  Client client;
  std::optional<lia::core::Result<ClientResponse>> first;
  std::optional<lia::core::Result<ClientResponse>> queued;
  std::thread t1([&] { first.emplace(client.post(base_url(*server) + "/api/slow", "{}")); });
  REQUIRE(wait_until([&] { return runs.load() == 1; }, 5s, 1ms));
  std::thread t2([&] { queued.emplace(client.post(base_url(*server) + "/api/slow", "{}")); });
  // Once the second is queued, it waits there well past its 200 ms before the thread is free.
  REQUIRE(wait_until([&] { return waiting.value() == waiting_before + 1; }, 10s, 1ms));
  std::this_thread::sleep_for(400ms);
  release.set_value();
  t1.join();
  t2.join();
  REQUIRE(first->ok());
  CHECK((*first)->status == 200);
  REQUIRE(queued->ok());
  CHECK((*queued)->status == 503);
  CHECK((*queued)->body.find("waited") != std::string::npos);
  CHECK((*queued)->header("Retry-After") != nullptr);
  CHECK(runs.load() == 1);  // the expired one never ran
  CHECK(expired.value() - before == 1);
  CHECK(waiting.value() == waiting_before);
}

TEST_CASE("/metrics answers while a /readyz waits on a check that does not answer") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> checking{false};
  auto server = start_server(demo_router(), ServerOptions{}, [&] {
    checking = true;
    released.wait_for(20s);  // a database that does not answer
    return std::vector<Check>{{"db", false, "timed out"}};
  });
  Client client;
  std::thread probe([&] {
    ClientRequest ready{.method = "GET", .url = base_url(*server) + "/readyz", .timeout = 25s};
    (void)client.request(ready);
  });
  REQUIRE(wait_until([&] { return checking.load(); }, 5s, 1ms));
  ClientRequest scrape{.method = "GET", .url = base_url(*server) + "/metrics", .timeout = 5s};
  auto metrics = client.request(scrape);
  release.set_value();
  probe.join();
  REQUIRE(metrics.ok());
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("lia_http_server") != std::string::npos);
}

TEST_CASE("stop lets an in-flight request finish and refuses new connections") {
  std::mutex mu;
  std::optional<Responder> held;
  Router r = demo_router();
  r.add("POST", "/slow", [&](Request&&, Responder respond) {
    std::lock_guard lock(mu);
    held.emplace(std::move(respond));
  });
  auto server = start_server(std::move(r));
  const auto port = server->port();

  // An idle keep-alive connection is closed as soon as the stop begins.
  RawSocket idle(port);
  REQUIRE(idle.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  REQUIRE(idle.read_response().has_value());

  Client client;
  std::optional<lia::core::Result<ClientResponse>> slow;
  std::thread requester([&] { slow.emplace(client.post(base_url(*server) + "/slow", "x")); });
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mu);
    return held.has_value();
  }));

  std::atomic<bool> stopped{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    server->stop(120s);
    stopped = true;
  });
  CHECK(wait_until([&] { return lia::http::test::connect_refused(port); }, 5s));
  CHECK(idle.wait_closed(5s));
  CHECK_FALSE(stopped.load());  // still waiting for the in-flight request

  {
    std::lock_guard lock(mu);
    (*held)(Response::json(200, R"({"done":true})"));
  }
  requester.join();
  stopper.join();
  // It did not sit out the grace period (a bound no slow machine comes near).
  CHECK(std::chrono::steady_clock::now() - t0 < 60s);
  REQUIRE(slow.has_value());
  REQUIRE(slow->ok());
  CHECK((*slow)->status == 200);
  CHECK((*slow)->body == R"({"done":true})");
  CHECK(*(*slow)->header("Connection") == "close");
  CHECK_FALSE(server->running());
  server->stop();  // idempotent
}

TEST_CASE("stop closes what is still running once the grace period is over") {
  std::mutex mu;
  std::optional<Responder> held;
  Router r;
  r.add("POST", "/never", [&](Request&&, Responder respond) {
    std::lock_guard lock(mu);
    held.emplace(std::move(respond));
  });
  auto server = start_server(std::move(r));
  Client client;
  std::optional<lia::core::Result<ClientResponse>> res;
  std::thread requester([&] { res.emplace(client.post(base_url(*server) + "/never", "x")); });
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mu);
    return held.has_value();
  }));
  server->stop(200ms);
  requester.join();
  REQUIRE(res.has_value());
  REQUIRE_FALSE(res->ok());
  CHECK(res->error().code() == lia::core::Errc::unavailable);
  // Answering after the stop is harmless: no crash, and the answer goes nowhere.
  std::lock_guard lock(mu);
  (*held)(Response::json(200, "{}"));
  CHECK_FALSE(server->running());
  CHECK(server->body_bytes_held() == 0);
}

TEST_CASE("a handler may begin the stop and a later stop finishes it") {
  Server* self = nullptr;
  Router r;
  r.add("POST", "/admin/shutdown", [&](const Request&) {
    self->stop(std::chrono::seconds{5});  // returns at once on an I/O thread
    return Response::json(202, R"({"stopping":true})");
  });
  auto server = start_server(std::move(r));
  self = server.get();
  const auto port = server->port();
  Client client;
  auto res = client.post(base_url(*server) + "/admin/shutdown", "");
  REQUIRE(res.ok());
  CHECK(res->status == 202);
  CHECK(*res->header("Connection") == "close");
  CHECK(wait_until([&] { return lia::http::test::connect_refused(port); }, 5s));
  server->stop();
  CHECK_FALSE(server->running());
}

TEST_CASE("connections past the maximum get 503 and are closed") {
  ServerOptions opts;
  opts.max_connections = 1;
  auto server = start_server(demo_router(), opts);
  RawSocket first(server->port());
  REQUIRE(first.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
  REQUIRE(first.read_response().has_value());
  RawSocket second(server->port());
  auto res = second.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 503);
  CHECK(res->header("Retry-After") == "1");
  CHECK(res->body == R"({"error":{"code":"unavailable","message":"too many connections, retry"}})");
  CHECK(second.wait_closed(5s));
}

TEST_CASE("the connection cap leaves room under the descriptor limit so that clients get 503") {
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = 300;  // 256 kept for the database, Kafka and files: 44 connections
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  struct Restore {
    rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{saved};
  auto server = start_server(demo_router());
  std::vector<std::unique_ptr<RawSocket>> held;
  for (int i = 0; i < 44; ++i) {
    held.push_back(std::make_unique<RawSocket>(server->port()));
    REQUIRE(held.back()->send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
    REQUIRE(held.back()->read_response().has_value());
  }
  RawSocket over(server->port());
  auto res = over.read_response();
  REQUIRE(res.has_value());
  CHECK(res->status == 503);
}

TEST_CASE("start fails with a clear error when the port is taken") {
  auto first = start_server(demo_router());
  ServerOptions opts;
  opts.address = "127.0.0.1";
  opts.port = first->port();
  Server second(opts, demo_router());
  auto st = second.start();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message().find("cannot bind") != std::string::npos);
}
