#include <cstdint>
#include <ctime>

#include <fmt/format.h>

#include <lia/core/clock.hpp>

namespace lia::core {

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

std::string format_rfc3339(SysTime t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

namespace {

// Reads `n` ASCII digits at s[pos..].
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<std::chrono::year_month_day> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  // Year 0 is refused: PostgreSQL, which stores these dates, has none (1 BC precedes 1 AD).
  if (!year || !month || !day || *year < 1) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*year},
                                        std::chrono::month{static_cast<unsigned>(*month)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

std::string format_date(std::chrono::year_month_day d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()),
                     static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
}

std::optional<SysTime> parse_rfc3339(std::string_view s, DateTimeSeparator separator) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20 || s[13] != ':' || s[16] != ':') return std::nullopt;
  const char sep = s[10];
  if (sep != 'T' && sep != 't' && !(sep == ' ' && separator == DateTimeSeparator::t_or_space)) {
    return std::nullopt;
  }
  const auto date = parse_date(s.substr(0, 10));
  const auto hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (!date || !hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  const year_month_day ymd = *date;
  const int year = static_cast<int>(ymd.year());
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (s[pos] == '.') {
    const std::size_t first = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - first < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == first) return std::nullopt;
    for (std::size_t n = pos - first; n < 9; ++n) nanos *= 10;
  }
  if (pos >= s.size()) return std::nullopt;
  minutes offset{0};
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const auto oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = minutes{*oh * 60 + *om};
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (year >= 2262) return SysTime::max();
  if (year <= 1678) return SysTime::min();
  const auto t = sys_days{ymd} + hours{*hour} + minutes{*minute} + seconds{*second} - offset;
  return SysTime{duration_cast<SysTime::duration>(t.time_since_epoch() + nanoseconds{nanos})};
}

}  // namespace lia::core
