#include <array>
#include <set>

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

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

TEST_CASE("a forked child and its parent never hand out the same random bits") {
  (void)Uuid::v4();  // the parent has random bits buffered before the fork
  std::array<int, 2> fds{};
  REQUIRE(::pipe(fds.data()) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto s = Uuid::v4().str();
    const auto n = ::write(fds[1], s.data(), s.size());
    ::_exit(n == static_cast<ssize_t>(s.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string from_child(36, '\0');
  std::size_t got = 0;
  while (got < from_child.size()) {
    const auto n = ::read(fds[0], from_child.data() + got, from_child.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(got == from_child.size());
  const auto from_parent = Uuid::v4().str();
  CHECK(from_child != from_parent);
}

TEST_CASE("ManualClock moves only when told") {
  ManualClock clock;
  auto t0 = clock.now();
  clock.advance(std::chrono::seconds{90});
  CHECK(clock.now() - t0 == std::chrono::seconds{90});
}
