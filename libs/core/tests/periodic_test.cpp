#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include <lia/core/periodic.hpp>

using lia::core::Periodic;
using namespace std::chrono_literals;

namespace {
// Polls `done` for up to 10 s.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}
}  // namespace

TEST_CASE("periodic work runs at start, again after each wait, and stops at once") {
  std::atomic<int> runs{0};
  Periodic p(20ms, [&] { ++runs; });
  p.start();
  REQUIRE(eventually([&] { return runs >= 3; }));
  p.stop();
  const int after = runs;
  std::this_thread::sleep_for(100ms);
  CHECK(runs == after);
  CHECK(p.stopping());
}

TEST_CASE("periodic work can wait first, and a stop during that wait runs nothing") {
  std::atomic<int> runs{0};
  Periodic first_wait(
      std::chrono::hours{1}, [&] { ++runs; }, Periodic::First::after_one_wait);
  first_wait.start();
  std::this_thread::sleep_for(50ms);
  const auto asked = std::chrono::steady_clock::now();
  first_wait.stop();  // ends the hour's wait at once
  CHECK(std::chrono::steady_clock::now() - asked < 10s);
  CHECK(runs == 0);
}

TEST_CASE("periodic work that stops itself is not joined by its own thread") {
  std::atomic<int> runs{0};
  Periodic* self = nullptr;
  Periodic p(10ms, [&] {
    ++runs;
    self->stop();
  });
  self = &p;
  p.start();
  REQUIRE(eventually([&] { return p.stopping(); }));
  std::this_thread::sleep_for(50ms);
  CHECK(runs == 1);
}
