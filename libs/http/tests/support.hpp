#pragma once
// Plain POSIX sockets for the integration tests: they let a test speak broken, slow or
// pipelined HTTP to the server, which a well-behaved client never does.

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lia::http::test {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// True if a TCP connect to 127.0.0.1:port is refused (nothing listens there).
inline bool connect_refused(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(port);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  const int err = errno;
  ::close(fd);
  return rc != 0 && err == ECONNREFUSED;
}

// A loopback port nothing listens on (bound, read, released).
inline std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A listening socket that accepts nothing and answers nothing: requests to it time out.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("SilentListener: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  // Value of a header (case-insensitive name), or nullopt.
  std::optional<std::string> header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const auto end = head.find("\r\n", pos + 2);
      const std::string_view line(head.data() + pos + 2,
                                  (end == std::string::npos ? head.size() : end) - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos && colon == name.size()) {
        bool same = true;
        for (std::size_t i = 0; i < colon; ++i) {
          if (std::tolower(static_cast<unsigned char>(line[i])) !=
              std::tolower(static_cast<unsigned char>(name[i]))) {
            same = false;
          }
        }
        if (same) {
          auto v = line.substr(colon + 1);
          while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
          return std::string(v);
        }
      }
      pos = end;
    }
    return std::nullopt;
  }
};

class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = loopback(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int error = errno;  // before close() can change it
      ::close(fd_);
      throw std::runtime_error(std::string("RawSocket: connect failed: ") +
                               std::system_category().message(error));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response with a Content-Length body (or none). nullopt on timeout or close.
  std::optional<RawResponse> read_response(milliseconds timeout = milliseconds{5000}) {
    const auto deadline = Clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = pending_.substr(0, head_end);
    if (r.head.size() < 12 || r.head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(r.head.substr(9, 3));
    std::size_t length = 0;
    if (auto cl = r.header("Content-Length")) length = std::stoul(*cl);
    while (pending_.size() < head_end + 4 + length) {
      if (!fill(deadline)) return std::nullopt;
    }
    r.body = pending_.substr(head_end + 4, length);
    pending_.erase(0, head_end + 4 + length);
    return r;
  }

  // Reads only a response's status line and headers (e.g. the answer to HEAD).
  std::optional<RawResponse> read_head(milliseconds timeout = milliseconds{5000}) {
    const auto deadline = Clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = pending_.substr(0, head_end);
    if (r.head.size() < 12 || r.head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(r.head.substr(9, 3));
    pending_.erase(0, head_end + 4);
    return r;
  }

  // Waits until the server closes the connection (EOF or reset), dropping any data. False
  // if it is still open at the deadline.
  bool wait_closed(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET || errno == EPIPE;
    }
  }

  const std::string& pending() const { return pending_; }

 private:
  bool fill(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

}  // namespace lia::http::test
