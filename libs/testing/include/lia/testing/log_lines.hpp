#pragma once
// The process-wide logger's lines, captured while a LogLines lives (a test's own; the default
// logger is back when it goes). For code whose only outward sign of a decision is a log line.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/log.hpp>

namespace lia::testing {

class LogLines {
 public:
  LogLines() {
    core::set_log(core::Logger({.sink = [lines = lines_](std::string_view line) {
      std::lock_guard lock(lines->mu);
      lines->text.emplace_back(line);
    }}));
  }
  ~LogLines() { core::set_log(core::Logger()); }
  LogLines(const LogLines&) = delete;
  LogLines& operator=(const LogLines&) = delete;

  // How many lines so far hold `part`.
  std::size_t count(std::string_view part) const {
    std::lock_guard lock(lines_->mu);
    return static_cast<std::size_t>(
        std::count_if(lines_->text.begin(), lines_->text.end(),
                      [&](const std::string& l) { return l.find(part) != std::string::npos; }));
  }
  bool has(std::string_view part) const { return count(part) > 0; }

 private:
  struct Shared {
    mutable std::mutex mu;
    std::vector<std::string> text;
  };
  std::shared_ptr<Shared> lines_ = std::make_shared<Shared>();
};

}  // namespace lia::testing
