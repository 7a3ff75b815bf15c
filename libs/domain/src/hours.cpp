#include <array>

#include <lia/core/text.hpp>
#include <lia/domain/hours.hpp>
#include <lia/domain/text.hpp>

namespace lia::domain {

using core::Errc;
using core::Error;
using core::Result;
using core::Status;
namespace chr = std::chrono;

namespace {

constexpr int kDayMinutes = 24 * 60;
constexpr chr::minutes kMaxOffset{14 * 60};

Error bad(const std::string& message) {
  return Error(Errc::invalid_argument, "hours: " + message);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

Result<DayWindow> make_window(std::string_view start, std::string_view end) {
  auto s = parse_hhmm(start);
  if (!s.ok()) return bad("start: " + s.error().message());
  auto e = parse_hhmm(end);
  if (!e.ok()) return bad("end: " + e.error().message());
  if (*s >= *e) {
    return bad("start " + format_hhmm(*s) + " must be before end " + format_hhmm(*e) +
               " (windows do not cross midnight)");
  }
  return DayWindow{*s, *e};
}

std::optional<int> weekday_index(std::string_view name) {
  struct Name {
    std::string_view text;
    int day;
  };
  static constexpr std::array<Name, 35> kNames = {{
      {"0", 0},        {"1", 1},   {"2", 2},       {"3", 3},   {"4", 4},         {"5", 5},
      {"6", 6},        {"dom", 0}, {"domingo", 0}, {"seg", 1}, {"segunda", 1},   {"ter", 2},
      {"terca", 2},    {"qua", 3}, {"quarta", 3},  {"qui", 4}, {"quinta", 4},    {"sex", 5},
      {"sexta", 5},    {"sab", 6}, {"sabado", 6},  {"sun", 0}, {"sunday", 0},    {"mon", 1},
      {"monday", 1},   {"tue", 2}, {"tuesday", 2}, {"wed", 3}, {"wednesday", 3}, {"thu", 4},
      {"thursday", 4}, {"fri", 5}, {"friday", 5},  {"sat", 6}, {"saturday", 6},
  }};
  constexpr std::string_view kFeira = "-feira";
  if (name.ends_with(kFeira)) name.remove_suffix(kFeira.size());
  for (const auto& n : kNames) {
    if (n.text == name) return n.day;
  }
  return std::nullopt;
}

}  // namespace

Result<int> parse_hhmm(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || (colon != 1 && colon != 2) || s.size() != colon + 3) {
    return bad("expected HH:MM");
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i != colon && !is_digit(s[i])) return bad("expected HH:MM");
  }
  const int h = colon == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[colon + 1] - '0') * 10 + (s[colon + 2] - '0');
  if (m > 59) return bad("minutes must be 00..59");
  if (h > 24 || (h == 24 && m != 0)) return bad("hours must be 00..23 (or 24:00)");
  return h * 60 + m;
}

std::string format_hhmm(int minutes) {
  if (minutes < 0 || minutes > kDayMinutes) return "??:??";
  const int h = minutes / 60;
  const int m = minutes % 60;
  std::string out(5, ':');
  out[0] = static_cast<char>('0' + h / 10);
  out[1] = static_cast<char>('0' + h % 10);
  out[3] = static_cast<char>('0' + m / 10);
  out[4] = static_cast<char>('0' + m % 10);
  return out;
}

Result<WeekdaySet> parse_weekdays(std::string_view input) {
  const std::string folded = fold(input);
  WeekdaySet set;
  std::string_view rest = folded;
  if (core::trim(rest).empty()) return bad("no weekdays given");
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = core::trim(rest.substr(0, comma));
    if (item.empty()) return bad("empty weekday in list");
    // A range is "a-b" or "a a b" ("segunda a sexta"); "-feira" belongs to the day name.
    std::string_view from = item;
    std::string_view to;
    if (const auto sep = item.find(" a "); sep != std::string_view::npos) {
      from = core::trim(item.substr(0, sep));
      to = core::trim(item.substr(sep + 3));
    } else {
      for (std::size_t pos = item.find('-'); pos != std::string_view::npos;
           pos = item.find('-', pos + 1)) {
        if (item.substr(pos).starts_with("-feira")) continue;
        from = core::trim(item.substr(0, pos));
        to = core::trim(item.substr(pos + 1));
        break;
      }
    }
    const auto a = weekday_index(from);
    if (!a) return bad("unknown weekday '" + std::string(from) + "'");
    int b = *a;
    if (!to.empty()) {
      const auto parsed = weekday_index(to);
      if (!parsed) return bad("unknown weekday '" + std::string(to) + "'");
      b = *parsed;
    } else if (from != item) {
      return bad("incomplete weekday range '" + std::string(item) + "'");
    }
    for (int d = *a;; d = (d + 1) % 7) {
      set.add(chr::weekday{static_cast<unsigned>(d)});
      if (d == b) break;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return set;
}

ContactHours::ContactHours(chr::minutes utc_offset) : offset_(utc_offset) {}

Result<ContactHours> ContactHours::make(std::string_view start, std::string_view end,
                                        WeekdaySet days, chr::minutes utc_offset) {
  if (utc_offset < -kMaxOffset || utc_offset > kMaxOffset) {
    return bad("UTC offset must be within -14:00..+14:00");
  }
  auto w = make_window(start, end);
  if (!w.ok()) return w.error();
  if (days.empty()) return bad("no weekday is allowed");
  ContactHours h(utc_offset);
  for (unsigned d = 0; d < 7; ++d) {
    if (days.contains(chr::weekday{d})) h.days_[d] = *w;
  }
  return h;
}

Status ContactHours::set_day(chr::weekday day, std::string_view start, std::string_view end) {
  if (!day.ok()) return bad("invalid weekday");
  auto w = make_window(start, end);
  if (!w.ok()) return w.error();
  days_[day.c_encoding()] = *w;
  return core::ok();
}

void ContactHours::close_day(chr::weekday day) {
  if (day.ok()) days_[day.c_encoding()].reset();
}

std::optional<DayWindow> ContactHours::window(chr::weekday day) const {
  if (!day.ok()) return std::nullopt;
  return days_[day.c_encoding()];
}

bool ContactHours::allowed_at(core::SysTime utc) const {
  return check(utc).allowed;
}

ContactDecision ContactHours::check(core::SysTime utc) const {
  const core::SysTime local = utc + offset_;
  const auto local_day = chr::floor<chr::days>(local);
  const auto since_midnight = local - local_day;
  ContactDecision out;
  for (int ahead = 0; ahead <= 7; ++ahead) {
    const auto day = local_day + chr::days{ahead};
    const chr::weekday wd{chr::sys_days{day}};
    const auto& w = days_[wd.c_encoding()];
    if (!w) continue;
    const auto start = chr::minutes{w->start_min};
    const auto end = chr::minutes{w->end_min};
    if (ahead == 0) {
      if (since_midnight >= end) continue;  // today's window is over
      if (since_midnight >= start) {
        out.allowed = true;
        out.next_allowed = utc;
        return out;
      }
    }
    out.next_allowed = core::SysTime{day + start - offset_};
    return out;
  }
  return out;  // no open day
}

}  // namespace lia::domain
