#include <algorithm>
#include <optional>

#include <lia/notification/rate_limiter.hpp>

namespace lia::notification {

RateLimiter::RateLimiter(int per_second, std::size_t max_keys)
    : per_second_(per_second), max_keys_(std::max<std::size_t>(max_keys, 1)) {
  if (per_second_ > 0) {
    interval_ = std::chrono::nanoseconds{1'000'000'000LL / per_second_};
    // A burst of per_second sends, then one per interval.
    tolerance_ = interval_ * (per_second_ - 1);
  }
}

std::chrono::nanoseconds RateLimiter::reserve(std::string_view key, TimePoint now) {
  std::lock_guard lock(mu_);
  const auto slow = slowed(key, now);
  if (per_second_ <= 0 && !slow) return std::chrono::nanoseconds{0};
  auto it = tat_.find(std::string(key));
  if (it == tat_.end()) {
    if (tat_.size() >= max_keys_) evict_idle(now);
    it = tat_.emplace(std::string(key), now).first;
  }
  const TimePoint tat = std::max(it->second, now);
  const TimePoint allowed_at = slow ? tat : tat - tolerance_;
  it->second = tat + (slow ? *slow : interval_);
  if (allowed_at <= now) return std::chrono::nanoseconds{0};
  return std::chrono::duration_cast<std::chrono::nanoseconds>(allowed_at - now);
}

void RateLimiter::release(std::string_view key, TimePoint now) {
  std::lock_guard lock(mu_);
  // The interval reserve() booked: a slowed key's own while its limit lasts.
  const auto slow = slowed(key, now);
  if (per_second_ <= 0 && !slow) return;
  auto it = tat_.find(std::string(key));
  if (it == tat_.end()) return;
  it->second = std::max(it->second - slow.value_or(interval_), now);
}

std::optional<std::chrono::nanoseconds> RateLimiter::slowed(std::string_view key, TimePoint now) {
  if (slow_.empty()) return std::nullopt;
  const auto s = slow_.find(std::string(key));
  if (s == slow_.end()) return std::nullopt;
  if (now < s->second.until) return s->second.interval;
  slow_.erase(s);  // its limit is over
  return std::nullopt;
}

void RateLimiter::slow_down(std::string_view key, std::chrono::nanoseconds interval, TimePoint now,
                            TimePoint until) {
  if (interval.count() <= 0 || until <= now) return;
  std::lock_guard lock(mu_);
  if (slow_.size() >= max_keys_) {
    for (auto it = slow_.begin(); it != slow_.end();) {
      it = it->second.until <= now ? slow_.erase(it) : std::next(it);
    }
    if (slow_.size() >= max_keys_) slow_.clear();  // every key slowed: forget the limits
  }
  slow_[std::string(key)] = Slow{interval, until};
  auto it = tat_.find(std::string(key));
  if (it == tat_.end()) {
    if (tat_.size() >= max_keys_) evict_idle(now);
    it = tat_.emplace(std::string(key), now).first;
  }
  it->second = std::max(it->second, now + interval);  // the next one an interval from now
}

std::size_t RateLimiter::keys() const {
  std::lock_guard lock(mu_);
  return tat_.size();
}

void RateLimiter::evict_idle(TimePoint now) {
  // A key whose booked slots all lie in the past behaves exactly like a new one.
  for (auto it = tat_.begin(); it != tat_.end();) {
    it = it->second <= now ? tat_.erase(it) : std::next(it);
  }
  // Still full (every key busy): forget the one whose slots end soonest.
  if (tat_.size() >= max_keys_) {
    auto oldest = std::min_element(
        tat_.begin(), tat_.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    tat_.erase(oldest);
  }
}

}  // namespace lia::notification
