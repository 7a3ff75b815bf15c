#include <set>

#include <catch2/catch.hpp>

#include <lia/core/uuid.hpp>

using lia::core::ManualClock;
using lia::core::Uuid;

TEST_CASE("v4 has the right version and variant and round-trips") {
  auto u = Uuid::v4();
  CHECK(u.version() == 4);
  CHECK((u.bytes()[8] & 0xC0) == 0x80);
  auto s = u.str();
  CHECK(s.size() == 36);
  auto back = Uuid::parse(s);
  REQUIRE(back);
  CHECK(*back == u);
  CHECK_FALSE(Uuid::parse("not-a-uuid"));
  CHECK_FALSE(Uuid::parse("0193f5a1-1234-7abc-8def-0123456789ag"));
  CHECK(Uuid().is_nil());
}

TEST_CASE("v7 embeds the time and sorts by creation") {
  ManualClock clock;
  const auto ms = static_cast<std::uint64_t>(clock.now_ms());
  std::vector<Uuid> ids;
  ids.reserve(5001);
  for (int i = 0; i < 5000; ++i) ids.push_back(Uuid::v7(clock));  // same millisecond
  clock.advance(std::chrono::milliseconds{5});
  ids.push_back(Uuid::v7(clock));
  CHECK(ids.front().version() == 7);
  CHECK(ids.front().unix_ms() >= ms);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    INFO(i);
    REQUIRE(ids[i - 1] < ids[i]);
  }
  std::set<std::string> unique;
  for (auto& id : ids) unique.insert(id.str());
  CHECK(unique.size() == ids.size());
}

TEST_CASE("ManualClock moves only when told") {
  ManualClock clock;
  auto t0 = clock.now();
  clock.advance(std::chrono::seconds{90});
  CHECK(clock.now() - t0 == std::chrono::seconds{90});
}
