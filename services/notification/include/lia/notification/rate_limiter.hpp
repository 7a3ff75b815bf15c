#pragma once
// Per-destination send rate: a generic cell rate algorithm (GCRA) per key. Each reserve()
// books the key's next free slot and says how long to wait for it, so concurrent callers
// line up instead of racing. A key may burst up to `per_second` sends at once, then gets
// one slot every 1/per_second; a key the provider itself slowed down (slow_down) gets one
// every interval it said. Thread-safe; memory is bounded (idle keys are forgotten).

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lia::notification {

class RateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // per_second <= 0: no limit (reserve() always answers 0).
  explicit RateLimiter(int per_second, std::size_t max_keys = 100'000);

  // Books a slot for `key` and returns the wait before using it (0: now).
  std::chrono::nanoseconds reserve(std::string_view key, TimePoint now);
  // Gives back one slot reserve() booked for `key` and that went unused (a redelivered
  // command found already sent): the key's later slots move one interval earlier.
  void release(std::string_view key, TimePoint now);
  // The provider's own limit for `key` (Meta's pair rate, 131056): until `until`, its sends
  // go one per `interval` without a burst, the next no sooner than `interval` from now,
  // whatever per_second says (also when it is 0).
  void slow_down(std::string_view key, std::chrono::nanoseconds interval, TimePoint now,
                 TimePoint until);
  std::size_t keys() const;

 private:
  void evict_idle(TimePoint now);
  // The interval a provider holds `key` to now (slow_down), if any; an ended one is
  // forgotten. mu_ held.
  std::optional<std::chrono::nanoseconds> slowed(std::string_view key, TimePoint now);
  int per_second_;
  std::size_t max_keys_;
  std::chrono::nanoseconds interval_{0};
  std::chrono::nanoseconds tolerance_{0};  // how far ahead the booked slots may run
  mutable std::mutex mu_;
  std::unordered_map<std::string, TimePoint> tat_;  // theoretical arrival time per key
  struct Slow {
    std::chrono::nanoseconds interval{0};
    TimePoint until;
  };
  std::unordered_map<std::string, Slow> slow_;  // keys under a provider's own limit
};

}  // namespace lia::notification
