#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lia/conversation/login_throttle.hpp>

namespace lia::conversation {

namespace {

// Usernames are looked up as given, but "Maria" and "maria" must share their count.
std::string fold(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::chrono::seconds LoginThrottle::blocked_for_locked(const std::string& key,
                                                       core::SysTime now) const {
  auto it = names_.find(key);
  if (it == names_.end() || it->second.failures < limits_.failures) return std::chrono::seconds{0};
  const auto left = it->second.start + limits_.window - now;
  if (left <= std::chrono::seconds{0}) return std::chrono::seconds{0};
  return std::chrono::ceil<std::chrono::seconds>(left);
}

std::chrono::seconds LoginThrottle::blocked_for(std::string_view username, core::SysTime now) {
  std::lock_guard lock(mu_);
  return blocked_for_locked(fold(username), now);
}

std::chrono::seconds LoginThrottle::attempt(std::string_view username, core::SysTime now) {
  std::lock_guard lock(mu_);
  std::string key = fold(username);
  if (auto wait = blocked_for_locked(key, now); wait.count() > 0) return wait;
  failed_locked(std::move(key), now);
  return std::chrono::seconds{0};
}

void LoginThrottle::failed_locked(std::string key, core::SysTime now) {
  auto it = names_.find(key);
  if (it != names_.end() && now - it->second.start >= limits_.window) {
    it->second = Window{now, 0};  // that window is over: a new one begins
  }
  if (it == names_.end()) {
    if (names_.size() >= limits_.max_names) {
      // Forget the windows that are over; if too few are, those with the fewest failures, then
      // those that began first, of the names still under the limit: a stream of logins under
      // made-up names (one failure each) must not free a name locked out for guessing, nor one
      // an attacker holds just under the limit. A tenth of the room is made at once, so the
      // names that follow find it without another pass over every name kept (a pass per
      // made-up name, under this lock, would cost each login the whole map). Only when every
      // name kept is locked out does one of those go: the one that began first.
      std::erase_if(names_,
                    [&](const auto& kv) { return now - kv.second.start >= limits_.window; });
      const std::size_t keep = limits_.max_names - std::max<std::size_t>(1, limits_.max_names / 10);
      if (names_.size() > keep) {
        using Entry = std::pair<std::pair<int, core::SysTime>, std::string_view>;
        std::vector<Entry> order;
        order.reserve(names_.size());
        for (const auto& [name, w] : names_) {
          if (w.failures < limits_.failures)
            order.emplace_back(std::pair(w.failures, w.start), name);
        }
        std::size_t drop = std::min(order.size(), names_.size() - keep);
        if (order.empty()) {
          for (const auto& [name, w] : names_) order.emplace_back(std::pair(0, w.start), name);
          drop = 1;
        }
        const auto cut = order.begin() + static_cast<std::ptrdiff_t>(drop);
        std::nth_element(order.begin(), cut - 1, order.end());
        // (Erasing a name leaves the others' keys, which the rest of `order` views, in place.)
        for (auto e = order.begin(); e != cut; ++e) names_.erase(std::string(e->second));
      }
    }
    it = names_.emplace(std::move(key), Window{now, 0}).first;
  }
  ++it->second.failures;
}

void LoginThrottle::not_tried(std::string_view username) {
  std::lock_guard lock(mu_);
  auto it = names_.find(fold(username));
  if (it == names_.end()) return;
  if (--it->second.failures <= 0) names_.erase(it);
}

void LoginThrottle::succeeded(std::string_view username) {
  std::lock_guard lock(mu_);
  names_.erase(fold(username));
}

}  // namespace lia::conversation
