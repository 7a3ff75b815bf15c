#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include <lia/core/clock.hpp>

using lia::core::DateTimeSeparator;
using lia::core::format_rfc3339;
using lia::core::parse_rfc3339;
using lia::core::SysTime;

namespace {

std::string round_trip(std::string_view text,
                       DateTimeSeparator separator = DateTimeSeparator::t_only) {
  auto t = parse_rfc3339(text, separator);
  REQUIRE(t);
  return format_rfc3339(*t);
}

}  // namespace

TEST_CASE("format_rfc3339 writes UTC with milliseconds") {
  CHECK(format_rfc3339(SysTime{std::chrono::milliseconds{1700000000123}}) ==
        "2023-11-14T22:13:20.123Z");
  CHECK(format_rfc3339(SysTime{std::chrono::milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("parse_rfc3339 reads UTC, fractions of any length and offsets") {
  CHECK(round_trip("2026-11-22T12:53:24Z") == "2026-11-22T12:53:24.000Z");
  CHECK(round_trip("2026-11-22t12:53:24z") == "2026-11-22T12:53:24.000Z");
  CHECK(round_trip("2026-11-22T12:53:24.5Z") == "2026-11-22T12:53:24.500Z");
  CHECK(round_trip("2026-11-22T09:53:24.123-03:00") == "2026-11-22T12:53:24.123Z");
  CHECK(round_trip("2026-01-01T01:30:00.123456789+02:00") == "2025-12-31T23:30:00.123Z");
  // Digits past the nanosecond are read and dropped, not shifted into the value.
  CHECK(round_trip("2026-11-22T12:53:24.1234567891234Z") == "2026-11-22T12:53:24.123Z");
  auto nanos = parse_rfc3339("2026-11-22T12:53:24.000000001Z");
  REQUIRE(nanos);
  CHECK(nanos->time_since_epoch() % std::chrono::seconds{1} == std::chrono::nanoseconds{1});
  // A leap second is the next minute's first second.
  CHECK(round_trip("2016-12-31T23:59:60Z") == "2017-01-01T00:00:00.000Z");
  CHECK(round_trip("2024-02-29T00:00:00Z") == "2024-02-29T00:00:00.000Z");
}

TEST_CASE("a space between date and time is read only when asked for") {
  CHECK_FALSE(parse_rfc3339("2026-11-22 12:53:24Z"));
  CHECK(round_trip("2026-11-22 12:53:24Z", DateTimeSeparator::t_or_space) ==
        "2026-11-22T12:53:24.000Z");
  CHECK_FALSE(parse_rfc3339("2026-11-22_12:53:24Z", DateTimeSeparator::t_or_space));
}

TEST_CASE("parse_rfc3339 refuses anything that is not a whole date-time") {
  for (const char* bad : {"",
                          "2026-11-22",
                          "2026-11-22T12:53",
                          "2026-11-22T12:53:24",
                          "2026-13-01T00:00:00Z",
                          "2026-00-01T00:00:00Z",
                          "2026-02-30T00:00:00Z",
                          "2025-02-29T00:00:00Z",
                          "2026-11-00T00:00:00Z",
                          "2026-11-22T24:00:00Z",
                          "2026-11-22T12:60:00Z",
                          "2026-11-22T12:53:61Z",
                          "2026-11-22T12:53:24.Z",
                          "2026-11-22T12:53:24+0300",
                          "2026-11-22T12:53:24+03",
                          "2026-11-22T12:53:24+24:00",
                          "2026-11-22T12:53:24+03:60",
                          "2026-11-22T12:53:24+03:00:00",
                          "2026-11-22T12:53:24Zjunk",
                          "2026-11-22T12:53:24ZZ",
                          "２026-11-22T12:53:24Z",
                          "-026-11-22T12:53:24Z",
                          "2026-11-22T12:53:24 Z",
                          "2999-01-01T00:00:00Zjunk",
                          "0029-01-01T00:00:00"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
    CHECK_FALSE(parse_rfc3339(bad, DateTimeSeparator::t_or_space));
  }
}

TEST_CASE("parse_date reads a real calendar day and nothing else") {
  using namespace std::chrono;
  const auto leap = lia::core::parse_date("2028-02-29");
  REQUIRE(leap);
  CHECK(*leap == year_month_day{year{2028}, month{2}, day{29}});
  CHECK(lia::core::parse_date("0001-01-01"));
  // And back, zero-padded.
  CHECK(lia::core::format_date(*leap) == "2028-02-29");
  CHECK(lia::core::format_date(year_month_day{year{7}, month{3}, day{5}}) == "0007-03-05");
  for (const char* bad : {"2026-02-30", "2027-02-29", "2026-13-01", "2026-00-10", "0000-01-01",
                          "20-6-12-01", "2026-1-05", "2026/01/05", "2026-01-05T00:00:00Z", ""}) {
    INFO(bad);
    CHECK_FALSE(lia::core::parse_date(bad));
  }
}

TEST_CASE("times the clock cannot hold are its edges, never an overflow") {
  CHECK(parse_rfc3339("9999-12-31T23:59:59.999999999Z") == SysTime::max());
  CHECK(parse_rfc3339("2262-01-01T00:00:00Z") == SysTime::max());
  CHECK(parse_rfc3339("0001-01-01T00:00:00Z") == SysTime::min());
  // Year 0 does not exist for PostgreSQL (1 BC comes before 1 AD): refused, not an edge.
  CHECK_FALSE(parse_rfc3339("0000-01-01T00:00:00Z"));
  CHECK(parse_rfc3339("1678-12-31T00:00:00Z") == SysTime::min());
  auto early = parse_rfc3339("1679-01-01T00:00:00Z");
  auto late = parse_rfc3339("2261-12-31T23:59:59Z");
  REQUIRE(early);
  REQUIRE(late);
  CHECK(SysTime::min() < *early);
  CHECK(*early < *late);
  CHECK(*late < SysTime::max());
  CHECK(round_trip("2261-12-31T23:59:59Z") == "2261-12-31T23:59:59.000Z");
}
