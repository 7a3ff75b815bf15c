#pragma once
// Time through an interface so tests can move it by hand.

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lia::core {

using SysTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
  // Milliseconds since the Unix epoch.
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& instance();
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(SysTime start = SysTime{std::chrono::seconds{1'700'000'000}})
      : ns_(start.time_since_epoch().count()) {}
  SysTime now() const override { return SysTime{SysTime::duration{ns_.load()}}; }
  void set(SysTime t) { ns_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::nanoseconds d) {
    ns_.fetch_add(std::chrono::duration_cast<SysTime::duration>(d).count());
  }

 private:
  std::atomic<SysTime::rep> ns_;
};

// RFC 3339 in UTC with milliseconds: 2026-11-22T12:53:24.123Z
std::string format_rfc3339(SysTime t);

// Which character may stand between the date and the time: 'T' (or 't'), which is all the
// Internet profile allows, or also a space, which RFC 3339 (5.6, note) lets applications take.
enum class DateTimeSeparator { t_only, t_or_space };

// A calendar date "YYYY-MM-DD" (a real day, year 1 or later), or nothing if the whole text is
// not one: "2026-02-30", "20-6-12-01" and "2026-1-05" are not.
std::optional<std::chrono::year_month_day> parse_date(std::string_view text);
// The date as parse_date reads it: "2026-12-06".
std::string format_date(std::chrono::year_month_day date);

// An RFC 3339 date-time ("2026-11-22T12:53:24Z", fractions to any length, "+hh:mm" offsets),
// or nothing if the whole text is not one: a real calendar date, hour <= 23, second <= 60.
// The clock counts nanoseconds in 64 bits (about 1678 to 2262): a valid time in a year up to
// 1678 or from 2262 on is the edge of time (SysTime::min or max), never an overflow.
std::optional<SysTime> parse_rfc3339(std::string_view text,
                                     DateTimeSeparator separator = DateTimeSeparator::t_only);

}  // namespace lia::core
