#include <string>

#include <catch2/catch.hpp>

#include <lia/domain/hours.hpp>

using lia::core::SysTime;
using lia::domain::ContactHours;
using lia::domain::DayWindow;
using lia::domain::format_hhmm;
using lia::domain::parse_hhmm;
using lia::domain::parse_weekdays;
using lia::domain::WeekdaySet;
namespace chr = std::chrono;
using namespace std::chrono_literals;

namespace {

// A UTC instant: 2025-01-06 is a Monday.
SysTime utc(chr::year_month_day d, chr::hours h, chr::minutes m = 0min,
            chr::nanoseconds extra = 0ns) {
  return SysTime{chr::sys_days{d} + h + m} + chr::duration_cast<SysTime::duration>(extra);
}

constexpr auto kMon = chr::year{2025} / chr::January / 6;
constexpr auto kTue = chr::year{2025} / chr::January / 7;
constexpr auto kFri = chr::year{2025} / chr::January / 10;
constexpr auto kSat = chr::year{2025} / chr::January / 11;
constexpr auto kSun = chr::year{2025} / chr::January / 12;
constexpr auto kNextMon = chr::year{2025} / chr::January / 13;
constexpr auto kNextTue = chr::year{2025} / chr::January / 14;

ContactHours business_hours() {
  auto h = ContactHours::make("08:00", "20:00", WeekdaySet::monday_to_friday());
  REQUIRE(h.ok());
  return *h;
}

}  // namespace

TEST_CASE("the calendar used by these tests") {
  CHECK(chr::weekday{chr::sys_days{kMon}} == chr::Monday);
  CHECK(chr::weekday{chr::sys_days{kSat}} == chr::Saturday);
}

TEST_CASE("parse_hhmm and format_hhmm") {
  struct Ok {
    const char* in = nullptr;
    int minutes = 0;
  };
  for (const Ok& c : {Ok{"08:00", 480}, Ok{"8:00", 480}, Ok{"00:00", 0}, Ok{"23:59", 1439},
                      Ok{"24:00", 1440}, Ok{"20:00", 1200}, Ok{"09:30", 570}}) {
    INFO(c.in);
    auto r = parse_hhmm(c.in);
    REQUIRE(r.ok());
    CHECK(*r == c.minutes);
  }
  for (const char* bad : {"", "8", "0800", "08:0", "08:000", "08:60", "24:01", "25:00", "ab:cd",
                          " 08:00", "08:00 ", "-1:00", "123:00", "08h00", ":00", "08:"}) {
    INFO(bad);
    auto r = parse_hhmm(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::StartsWith("hours: "));
  }
  CHECK(format_hhmm(480) == "08:00");
  CHECK(format_hhmm(0) == "00:00");
  CHECK(format_hhmm(1439) == "23:59");
  CHECK(format_hhmm(1440) == "24:00");
  CHECK(format_hhmm(-1) == "??:??");
}

TEST_CASE("business hours in São Paulo, UTC-3") {
  const auto h = business_hours();
  struct Case {
    const char* what = nullptr;
    SysTime now;
    bool allowed = false;
    SysTime next;
  };
  const Case cases[] = {
      {"Mon 08:00 local opens", utc(kMon, 11h), true, utc(kMon, 11h)},
      {"Mon 07:59:59.999999999 local", utc(kMon, 10h, 59min, 59'999'999'999ns), false,
       utc(kMon, 11h)},
      {"Mon 12:30 local", utc(kMon, 15h, 30min), true, utc(kMon, 15h, 30min)},
      {"Mon 19:59:59.999999999 local", utc(kMon, 22h, 59min, 59'999'999'999ns), true,
       utc(kMon, 22h, 59min, 59'999'999'999ns)},
      {"Mon 20:00 local closes", utc(kMon, 23h), false, utc(kTue, 11h)},
      {"Mon 22:00 local (Tue 01:00 UTC)", utc(kTue, 1h), false, utc(kTue, 11h)},
      {"Sun 23:00 local (Mon 02:00 UTC)", utc(kMon, 2h), false, utc(kMon, 11h)},
      {"Fri 20:30 local", utc(kFri, 23h, 30min), false, utc(kNextMon, 11h)},
      {"Fri 23:00 local (Sat 02:00 UTC)", utc(kSat, 2h), false, utc(kNextMon, 11h)},
      {"Sat noon local", utc(kSat, 15h), false, utc(kNextMon, 11h)},
      {"Sun noon local", utc(kSun, 15h), false, utc(kNextMon, 11h)},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const auto d = h.check(c.now);
    CHECK(d.allowed == c.allowed);
    CHECK(h.allowed_at(c.now) == c.allowed);
    REQUIRE(d.next_allowed.has_value());
    CHECK(*d.next_allowed == c.next);
    if (!c.allowed) CHECK(h.allowed_at(*d.next_allowed));
  }
}

TEST_CASE("a day can have its own window (Saturday until 14:00)") {
  auto h = business_hours();
  REQUIRE(h.set_day(chr::Saturday, "08:00", "14:00").ok());
  CHECK(h.window(chr::Saturday) == DayWindow{480, 840});
  CHECK(h.allowed_at(utc(kSat, 16h, 59min)));  // 13:59 local
  const auto d = h.check(utc(kSat, 17h));      // 14:00 local
  CHECK_FALSE(d.allowed);
  CHECK(d.next_allowed == utc(kNextMon, 11h));
  CHECK(h.check(utc(kFri, 23h)).next_allowed == utc(kSat, 11h));  // Fri 20:00 -> Sat 08:00

  h.close_day(chr::Monday);
  CHECK_FALSE(h.window(chr::Monday).has_value());
  CHECK(h.check(utc(kSun, 15h)).next_allowed == utc(kNextTue, 11h));

  auto bad = h.set_day(chr::Sunday, "14:00", "08:00");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("before end"));
  CHECK_FALSE(h.window(chr::Sunday).has_value());
}

TEST_CASE("other fixed offsets") {
  // UTC itself.
  auto z = ContactHours::make("09:00", "17:00", WeekdaySet::all(), 0min);
  REQUIRE(z.ok());
  CHECK(z->allowed_at(utc(kSun, 9h)));
  CHECK(z->check(utc(kSun, 17h)).next_allowed == utc(kNextMon, 9h));

  // UTC+05:30: local 09:00 is 03:30 UTC.
  auto ist = ContactHours::make("09:00", "17:00", WeekdaySet::monday_to_friday(), 330min);
  REQUIRE(ist.ok());
  CHECK(ist->check(utc(kMon, 0h)).next_allowed == utc(kMon, 3h, 30min));
  // Sunday 22:00 UTC is already Monday 03:30 local: Monday's window is hours away.
  CHECK(ist->check(utc(kSun, 22h)).next_allowed == utc(kNextMon, 3h, 30min));
  // Monday 23:00 UTC is Tuesday 04:30 local.
  CHECK(ist->check(utc(kMon, 23h)).next_allowed == utc(kTue, 3h, 30min));
  // Friday 12:00 UTC is 17:30 local, after closing: next Monday.
  CHECK(ist->check(utc(kFri, 12h)).next_allowed == utc(kNextMon, 3h, 30min));
  CHECK(ist->allowed_at(utc(kFri, 11h, 29min)));  // 16:59 local

  // Manaus, UTC-4.
  auto mao = ContactHours::make("08:00", "20:00", WeekdaySet::monday_to_friday(), -4h);
  REQUIRE(mao.ok());
  CHECK(mao->check(utc(kMon, 11h)).next_allowed == utc(kMon, 12h));
  CHECK(mao->utc_offset() == -240min);

  CHECK_FALSE(ContactHours::make("08:00", "20:00", WeekdaySet::all(), 15h).ok());
  CHECK_FALSE(ContactHours::make("08:00", "20:00", WeekdaySet::all(), -15h).ok());
}

TEST_CASE("whole days and empty schedules") {
  auto always = ContactHours::make("00:00", "24:00", WeekdaySet::all());
  REQUIRE(always.ok());
  for (int hour = 0; hour < 24; ++hour) CHECK(always->allowed_at(utc(kSat, chr::hours{hour})));

  ContactHours closed;
  const auto d = closed.check(utc(kMon, 12h));
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.next_allowed.has_value());
  CHECK(closed.utc_offset() == lia::domain::kSaoPauloUtcOffset);
}

TEST_CASE("make reports bad windows") {
  struct Case {
    const char* start = nullptr;
    const char* end = nullptr;
    WeekdaySet days;
    const char* part = nullptr;
  };
  const Case cases[] = {
      {"8h", "20:00", WeekdaySet::all(), "start: "},
      {"08:00", "20:60", WeekdaySet::all(), "end: "},
      {"20:00", "08:00", WeekdaySet::all(), "start 20:00 must be before end 08:00"},
      {"08:00", "08:00", WeekdaySet::all(), "before end"},
      {"08:00", "20:00", WeekdaySet::none(), "no weekday"},
  };
  for (const auto& c : cases) {
    INFO(c.part);
    auto r = ContactHours::make(c.start, c.end, c.days);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains(c.part));
  }
}

TEST_CASE("parse_weekdays reads Portuguese and English days and ranges") {
  const auto mon_fri = WeekdaySet::monday_to_friday();
  struct Case {
    const char* in = nullptr;
    WeekdaySet expected;
  };
  const Case cases[] = {
      {"seg-sex", mon_fri},
      {"Segunda a Sexta", mon_fri},
      {"segunda-feira a sexta-feira", mon_fri},
      {"segunda-feira-sexta-feira", mon_fri},
      {"mon-fri", mon_fri},
      {"MON - FRI", mon_fri},
      {"mon-fri,sat", WeekdaySet::monday_to_saturday()},
      {"seg-sáb", WeekdaySet::monday_to_saturday()},
      {"0-6", WeekdaySet::all()},
      {"dom-sab", WeekdaySet::all()},
      {"seg,qua,sex", WeekdaySet{}.add(chr::Monday).add(chr::Wednesday).add(chr::Friday)},
      {"sábado", WeekdaySet{}.add(chr::Saturday)},
      {"Domingo", WeekdaySet{}.add(chr::Sunday)},
      {"terça, quinta", WeekdaySet{}.add(chr::Tuesday).add(chr::Thursday)},
      {"sex-seg",
       WeekdaySet{}.add(chr::Friday).add(chr::Saturday).add(chr::Sunday).add(chr::Monday)},
      {"wed-wed", WeekdaySet{}.add(chr::Wednesday)},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto r = parse_weekdays(c.in);
    REQUIRE(r.ok());
    CHECK(r->bits() == c.expected.bits());
  }
  for (const char* bad : {"", "  ", "xyz", "seg-", "seg,,ter", "mon-xyz", "7", "seg a", ","}) {
    INFO(bad);
    CHECK_FALSE(parse_weekdays(bad).ok());
  }
}

TEST_CASE("WeekdaySet basics") {
  CHECK(WeekdaySet::monday_to_friday().contains(chr::Monday));
  CHECK(WeekdaySet::monday_to_friday().contains(chr::Friday));
  CHECK_FALSE(WeekdaySet::monday_to_friday().contains(chr::Saturday));
  CHECK_FALSE(WeekdaySet::monday_to_friday().contains(chr::Sunday));
  CHECK(WeekdaySet::none().empty());
  CHECK(WeekdaySet::all().bits() == 0x7F);
  CHECK(WeekdaySet{}.add(chr::Sunday).add(chr::Saturday).bits() == 0x41);
  CHECK_FALSE(WeekdaySet{}.add(chr::Sunday) == WeekdaySet::all());
}
