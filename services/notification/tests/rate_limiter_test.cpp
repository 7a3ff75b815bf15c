// The per-number send rate, on a hand-moved clock.
#include <catch2/catch.hpp>

#include <lia/notification/rate_limiter.hpp>

using lia::notification::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("a number may burst its rate, then gets one slot per interval") {
  RateLimiter rl(10);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  for (int i = 0; i < 10; ++i) CHECK(rl.reserve("5511987654321", t0) == 0ns);
  CHECK(rl.reserve("5511987654321", t0) == 100ms);
  CHECK(rl.reserve("5511987654321", t0) == 200ms);
  // Another number is not held up.
  CHECK(rl.reserve("5511900000000", t0) == 0ns);
  // After a quiet second the burst is back.
  const auto t1 = t0 + 2s;
  for (int i = 0; i < 10; ++i) CHECK(rl.reserve("5511987654321", t1) == 0ns);
  CHECK(rl.reserve("5511987654321", t1) > 0ns);
}

TEST_CASE("a rate of one spaces every send a second apart") {
  RateLimiter rl(1);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  CHECK(rl.reserve("a", t0) == 0ns);
  CHECK(rl.reserve("a", t0) == 1s);
  CHECK(rl.reserve("a", t0 + 500ms) == 1500ms);
  CHECK(rl.reserve("a", t0 + 10s) == 0ns);
}

TEST_CASE("a slot given back moves the number's later slots one interval earlier") {
  RateLimiter rl(1);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  CHECK(rl.reserve("a", t0) == 0ns);
  CHECK(rl.reserve("a", t0) == 1s);
  rl.release("a", t0);               // that second slot went unused
  CHECK(rl.reserve("a", t0) == 1s);  // the next one takes it
  rl.release("a", t0);
  rl.release("a", t0);  // never before now: the first slot was used
  CHECK(rl.reserve("a", t0) == 0ns);
  rl.release("unknown", t0);  // nothing booked: nothing to give back
  CHECK(rl.keys() == 1);
}

TEST_CASE("rate zero means no limit") {
  RateLimiter rl(0);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  for (int i = 0; i < 1000; ++i) CHECK(rl.reserve("a", t0) == 0ns);
  CHECK(rl.keys() == 0);
}

TEST_CASE("memory stays bounded: idle numbers are forgotten first") {
  RateLimiter rl(5, 3);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  CHECK(rl.reserve("a", t0) == 0ns);
  CHECK(rl.reserve("b", t0) == 0ns);
  CHECK(rl.reserve("c", t0) == 0ns);
  CHECK(rl.keys() == 3);
  CHECK(rl.reserve("d", t0 + 10s) == 0ns);
  CHECK(rl.keys() <= 3);
  for (int i = 0; i < 100; ++i) (void)rl.reserve("k" + std::to_string(i), t0 + 10s);
  CHECK(rl.keys() <= 3);
}

TEST_CASE("a number the provider slowed down gets one send per its interval, then its rate") {
  RateLimiter rl(10);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  // Meta's pair rate: one every 6 s for a minute, the first 6 s from now, no burst.
  rl.slow_down("a", 6s, t0, t0 + 60s);
  CHECK(rl.reserve("a", t0) == 6s);
  CHECK(rl.reserve("a", t0) == 12s);
  CHECK(rl.reserve("a", t0 + 12s) == 6s);
  CHECK(rl.reserve("b", t0) == 0ns);  // another number keeps its burst
  CHECK(rl.reserve("b", t0) == 0ns);
  // A slot given back (a redelivery found already sent) gives back the slowed interval.
  CHECK(rl.reserve("a", t0) == 24s);
  rl.release("a", t0);
  CHECK(rl.reserve("a", t0) == 24s);
  // Past the minute: the burst of 10 again, once the booked slots have passed.
  const auto later = t0 + 120s;
  for (int i = 0; i < 10; ++i) CHECK(rl.reserve("a", later) == 0ns);
  CHECK(rl.reserve("a", later) > 0ns);
}

TEST_CASE("the provider's own limit holds when the service sets none") {
  RateLimiter rl(0);
  const auto t0 = RateLimiter::TimePoint{} + 1h;
  rl.slow_down("a", 6s, t0, t0 + 60s);
  CHECK(rl.reserve("a", t0) == 6s);
  rl.release("a", t0);
  CHECK(rl.reserve("a", t0) == 6s);  // given back, taken again
  CHECK(rl.reserve("b", t0) == 0ns);
  CHECK(rl.reserve("a", t0 + 61s) == 0ns);  // over: no limit again
  CHECK(rl.reserve("a", t0 + 61s) == 0ns);
}
