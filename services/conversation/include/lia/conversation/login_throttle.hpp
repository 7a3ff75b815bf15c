#pragma once
// Failed logins per username, counted in memory. Past the limit inside the window, that
// username is refused (429 with Retry-After) until the window that began with its first
// failure ends, before any password is checked: guessing slows to a few tries per quarter
// hour, and a stream of wrong passwords stops costing a PBKDF2 hash each. A successful login
// clears its count. Not per client address: behind an ingress every agent shares one. Each
// process counts its own (N replicas allow N times the tries); the names kept are bounded.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <lia/core/clock.hpp>

namespace lia::conversation {

class LoginThrottle {
 public:
  struct Limits {
    int failures = 5;
    std::chrono::seconds window{15 * 60};
    // Past it, the windows that are over are forgotten, then up to a tenth of it at once, the
    // oldest still under the limit (a name locked out goes only when every name kept is).
    std::size_t max_names = 20'000;
  };

  LoginThrottle() : LoginThrottle(Limits{}) {}
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // How long `username` must still wait; zero when it may try.
  std::chrono::seconds blocked_for(std::string_view username, core::SysTime now);
  // blocked_for, and when it may try, that try counted as failed in the same step (succeeded
  // takes it back): logins already checking a password when the limit is reached cannot each
  // get one more guess past it.
  std::chrono::seconds attempt(std::string_view username, core::SysTime now);
  // Takes back one try counted by attempt that never reached the password (a database error).
  void not_tried(std::string_view username);
  void succeeded(std::string_view username);

 private:
  std::chrono::seconds blocked_for_locked(const std::string& key, core::SysTime now) const;
  void failed_locked(std::string key, core::SysTime now);

  struct Window {
    core::SysTime start;
    int failures = 0;
  };

  Limits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> names_;
};

// Password checks running at once. A check is a PBKDF2 hash (about 0.1 s of CPU at the default
// rounds) on one of the API's few blocking threads; the throttle counts per username, so a stream
// of logins with made-up names would otherwise take every thread and stall the desk. Past the limit
// a login is refused at once (503 with Retry-After), leaving the other threads to the rest of the
// API.
class LoginSlots {
 public:
  explicit LoginSlots(int slots) : slots_(slots) {}

  // Held while a password is checked; empty when every slot is taken.
  class Pass {
   public:
    explicit Pass(std::atomic<int>& used) : used_(&used) {}
    Pass(Pass&& o) noexcept : used_(std::exchange(o.used_, nullptr)) {}
    Pass& operator=(Pass&&) = delete;
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() {
      if (used_ != nullptr) used_->fetch_sub(1);
    }

   private:
    std::atomic<int>* used_;
  };

  std::optional<Pass> try_enter() {
    if (used_.fetch_add(1) >= slots_) {
      used_.fetch_sub(1);
      return std::nullopt;
    }
    return std::optional<Pass>(std::in_place, used_);
  }

 private:
  int slots_;
  std::atomic<int> used_{0};
};

}  // namespace lia::conversation
