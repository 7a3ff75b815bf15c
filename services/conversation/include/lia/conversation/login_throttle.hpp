#pragma once
// Failed logins per username, counted in memory. Past the limit inside the window, that
// username is refused (429 with Retry-After) until the window that began with its first
// failure ends, before any password is checked: guessing slows to a few tries per quarter
// hour, and a stream of wrong passwords stops costing a PBKDF2 hash each. A successful login
// clears its count. Not per client address: behind an ingress every agent shares one. Each
// process counts its own (N replicas allow N times the tries); the names kept are bounded.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <lia/core/clock.hpp>

namespace lia::conversation {

class LoginThrottle {
 public:
  struct Limits {
    int failures = 5;
    std::chrono::seconds window{15 * 60};
    std::size_t max_names = 20'000;  // past it, the windows that began first are forgotten
  };

  LoginThrottle() : LoginThrottle(Limits{}) {}
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // How long `username` must still wait; zero when it may try.
  std::chrono::seconds blocked_for(std::string_view username, core::SysTime now);
  void failed(std::string_view username, core::SysTime now);
  void succeeded(std::string_view username);

 private:
  struct Window {
    core::SysTime start;
    int failures = 0;
  };

  Limits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> names_;
};

}  // namespace lia::conversation
