#pragma once
// Allowed contact hours (collections campaigns, announcements): is sending allowed at a
// UTC instant, and if not, when is the next allowed instant.
//
// Time zone: the hours are local to a fixed UTC offset, by default America/Sao_Paulo's
// UTC-03:00. Brazil abolished daylight saving time in 2019 (Decree 9.772, April 2019), so
// São Paulo has been UTC-3 all year since then. The offset is applied as a plain number:
// no system time zone database is read, so the answer does not depend on the host's tzdata.
// Pass another fixed offset for other regions (e.g. -4 h for Manaus or Cuiabá, -5 h for
// Rio Branco). Instants before 2019 are not special-cased.
//
// A day's window is [start, end): "08:00".."20:00" allows 08:00:00 up to 19:59:59.999 local.
// Windows do not cross midnight (start < end); "24:00" may be used as the end of the day.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <lia/core/clock.hpp>
#include <lia/core/result.hpp>

namespace lia::domain {

inline constexpr std::chrono::minutes kSaoPauloUtcOffset{-3 * 60};

// "08:00" -> 480 (minutes since local midnight). Accepts "H:MM" and "HH:MM" with hours
// 0..23 and minutes 0..59, plus "24:00" (1440, the end of the day).
core::Result<int> parse_hhmm(std::string_view s);
// 480 -> "08:00"; 1440 -> "24:00".
std::string format_hhmm(int minutes);

// A set of weekdays (bit i = std::chrono::weekday with c_encoding() i: 0 Sunday .. 6
// Saturday).
class WeekdaySet {
 public:
  constexpr WeekdaySet() = default;
  static constexpr WeekdaySet none() { return WeekdaySet{}; }
  static constexpr WeekdaySet all() { return WeekdaySet{0x7F}; }
  static constexpr WeekdaySet monday_to_friday() { return WeekdaySet{0x3E}; }
  static constexpr WeekdaySet monday_to_saturday() { return WeekdaySet{0x7E}; }

  constexpr WeekdaySet& add(std::chrono::weekday d) {
    bits_ = static_cast<std::uint8_t>(bits_ | (1U << d.c_encoding()));
    return *this;
  }
  constexpr bool contains(std::chrono::weekday d) const { return (bits_ >> d.c_encoding()) & 1U; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  friend constexpr bool operator==(WeekdaySet, WeekdaySet) = default;

 private:
  constexpr explicit WeekdaySet(std::uint8_t bits) : bits_(bits) {}
  std::uint8_t bits_ = 0;
};

// A comma-separated list of days and day ranges, in Portuguese or English, accents and case
// ignored: "seg-sex", "segunda a sexta", "mon-fri,sat", "seg,qua,sex", "sábado",
// "segunda-feira", "0-6" (0 Sunday .. 6 Saturday). Ranges may wrap ("sex-seg").
core::Result<WeekdaySet> parse_weekdays(std::string_view s);

struct DayWindow {
  int start_min = 0;  // minutes since local midnight
  int end_min = 0;    // exclusive, > start_min, <= 1440
  friend bool operator==(const DayWindow&, const DayWindow&) = default;
};

struct ContactDecision {
  bool allowed = false;
  // The first allowed instant at or after the asked one (equal to it when allowed);
  // nullopt when no day of the week is open.
  std::optional<core::SysTime> next_allowed;
};

class ContactHours {
 public:
  // The same window on each of `days`, e.g. make("08:00", "20:00",
  // WeekdaySet::monday_to_friday()). Errors name the bad value.
  static core::Result<ContactHours> make(std::string_view start, std::string_view end,
                                         WeekdaySet days,
                                         std::chrono::minutes utc_offset = kSaoPauloUtcOffset);

  // Nothing open; open days one by one with set_day.
  explicit ContactHours(std::chrono::minutes utc_offset = kSaoPauloUtcOffset);

  // Opens `day` with its own window (e.g. Saturday 08:00..14:00), replacing any other.
  core::Status set_day(std::chrono::weekday day, std::string_view start, std::string_view end);
  void close_day(std::chrono::weekday day);
  std::optional<DayWindow> window(std::chrono::weekday day) const;
  std::chrono::minutes utc_offset() const { return offset_; }

  bool allowed_at(core::SysTime utc) const;
  ContactDecision check(core::SysTime utc) const;

 private:
  std::array<std::optional<DayWindow>, 7> days_{};
  std::chrono::minutes offset_;
};

}  // namespace lia::domain
