#include <catch2/catch.hpp>

#include <lia/conversation/login_throttle.hpp>

using namespace lia;
using namespace lia::conversation;
using namespace std::chrono_literals;

namespace {
const core::SysTime t0{std::chrono::hours{500000}};
}

TEST_CASE("failed logins lock a username until the window of its first failure ends") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 3, .window = 600s});
  for (int i = 0; i < 3; ++i) {
    CHECK(t.blocked_for("maria", t0) == 0s);
    CHECK(t.attempt("Maria", t0 + std::chrono::seconds{i}) == 0s);
  }
  // The third failure locks "maria" (in any case) for what is left of the window.
  CHECK(t.blocked_for("maria", t0 + 10s) == 590s);
  CHECK(t.blocked_for("MARIA", t0 + 599s) == 1s);
  CHECK(t.blocked_for("maria", t0 + 600s) == 0s);
  CHECK(t.blocked_for("joao", t0 + 10s) == 0s);

  // After the window a failure begins a new one; a success clears the count.
  CHECK(t.attempt("maria", t0 + 700s) == 0s);
  CHECK(t.attempt("maria", t0 + 701s) == 0s);
  CHECK(t.blocked_for("maria", t0 + 702s) == 0s);
  t.succeeded("maria");
  CHECK(t.attempt("maria", t0 + 703s) == 0s);
  CHECK(t.attempt("maria", t0 + 704s) == 0s);
  CHECK(t.blocked_for("maria", t0 + 705s) == 0s);
  CHECK(t.attempt("maria", t0 + 706s) == 0s);
  CHECK(t.blocked_for("maria", t0 + 707s) == 596s);
}

TEST_CASE("the login throttle keeps a bounded number of names, forgetting the oldest first") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 1, .window = 600s, .max_names = 3});
  CHECK(t.attempt("a", t0) == 0s);
  CHECK(t.attempt("b", t0 + 1s) == 0s);
  CHECK(t.attempt("c", t0 + 2s) == 0s);
  CHECK(t.attempt("d", t0 + 3s) == 0s);  // every window still runs: "a", which began first, goes
  CHECK(t.blocked_for("a", t0 + 4s) == 0s);
  CHECK(t.blocked_for("b", t0 + 4s) == 597s);
  CHECK(t.blocked_for("d", t0 + 4s) == 599s);
  // Windows that are over go before any other: "b" (from +1 s) is, "c" and "d" are not.
  CHECK(t.attempt("e", t0 + 601s) == 0s);
  CHECK(t.blocked_for("c", t0 + 601s) == 1s);
  CHECK(t.blocked_for("d", t0 + 601s) == 2s);
  CHECK(t.blocked_for("e", t0 + 601s) == 600s);
}

TEST_CASE("a full login throttle makes a tenth of its room at once, keeping names locked out") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 2, .window = 600s, .max_names = 100});
  CHECK(t.attempt("maria", t0) == 0s);
  CHECK(t.attempt("maria", t0) == 0s);  // locked out, and the oldest name
  for (int i = 0; i < 99; ++i) {        // one try each: under the limit
    REQUIRE(t.attempt("x" + std::to_string(i), t0 + std::chrono::seconds{i + 1}) == 0s);
  }
  // Now full: the next name makes room for itself and nine more, the ten oldest under the
  // limit (x0..x9), never the name locked out.
  CHECK(t.attempt("new", t0 + 200s) == 0s);
  CHECK(t.blocked_for("maria", t0 + 200s) == 400s);
  // x9 was forgotten: its next try is its first again. x10 was kept: its next one locks it.
  CHECK(t.attempt("x9", t0 + 201s) == 0s);
  CHECK(t.blocked_for("x9", t0 + 201s) == 0s);
  CHECK(t.attempt("x10", t0 + 201s) == 0s);
  CHECK(t.blocked_for("x10", t0 + 201s) == 410s);
  // Eight more names fit without pushing anyone out (x11 still has its first try).
  for (int i = 1; i <= 8; ++i) CHECK(t.attempt("new" + std::to_string(i), t0 + 202s) == 0s);
  CHECK(t.attempt("x11", t0 + 203s) == 0s);
  CHECK(t.blocked_for("x11", t0 + 203s) == 409s);
}

TEST_CASE("a full login throttle with few names under the limit frees only those") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 2, .window = 600s, .max_names = 100});
  for (int i = 0; i < 95; ++i) {  // locked out, the oldest names
    REQUIRE(t.attempt("locked" + std::to_string(i), t0 + std::chrono::seconds{i}) == 0s);
    REQUIRE(t.attempt("locked" + std::to_string(i), t0 + std::chrono::seconds{i}) == 0s);
  }
  for (int i = 0; i < 5; ++i) REQUIRE(t.attempt("one" + std::to_string(i), t0 + 100s) == 0s);
  CHECK(t.attempt("new", t0 + 200s) == 0s);  // full: room is made, of the five only
  for (int i = 0; i < 95; ++i) {
    INFO(i);
    CHECK(t.blocked_for("locked" + std::to_string(i), t0 + 200s) == std::chrono::seconds{400 + i});
  }
}

TEST_CASE("logins under made-up names do not reset a name held just under the limit") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 3, .window = 600s, .max_names = 3});
  CHECK(t.attempt("maria", t0) == 0s);
  CHECK(t.attempt("maria", t0 + 1s) == 0s);  // two of three: one more guess, then locked
  // Made-up names, one try each, fill the map and push each other out, never her older window.
  for (int i = 0; i < 20; ++i) {
    CHECK(t.attempt("x" + std::to_string(i), t0 + 2s + std::chrono::seconds{i}) == 0s);
  }
  CHECK(t.attempt("maria", t0 + 30s) == 0s);
  CHECK(t.attempt("maria", t0 + 31s) == 569s);  // her fourth try: refused, counted from t0
}

TEST_CASE("logins under made-up names do not free a name locked out for guessing") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 2, .window = 600s, .max_names = 3});
  CHECK(t.attempt("maria", t0) == 0s);
  CHECK(t.attempt("maria", t0 + 1s) == 0s);
  REQUIRE(t.blocked_for("maria", t0 + 2s) == 598s);  // locked out
  // A flood of one-try names fills the map: each pushes out another one-try name, never her.
  for (int i = 0; i < 10; ++i) {
    CHECK(t.attempt("x" + std::to_string(i), t0 + 3s + std::chrono::seconds{i}) == 0s);
  }
  CHECK(t.blocked_for("maria", t0 + 20s) == 580s);
  // Only when every name kept is locked out does the oldest go.
  for (const char* n : {"y", "z"}) {
    CHECK(t.attempt(n, t0 + 21s) == 0s);
    CHECK(t.attempt(n, t0 + 22s) == 0s);
  }
  CHECK(t.blocked_for("maria", t0 + 23s) == 577s);
  CHECK(t.attempt("w", t0 + 24s) == 0s);
  CHECK(t.blocked_for("maria", t0 + 25s) == 0s);
}

TEST_CASE(
    "a try is counted as it starts: no guess past the limit, a success or no try takes it back") {
  LoginThrottle t(LoginThrottle::Limits{.failures = 3, .window = 600s});
  // Three logins already checking their passwords when the limit would be reached: each was
  // counted as it started, so a fourth is refused before its password is checked.
  CHECK(t.attempt("maria", t0) == 0s);
  CHECK(t.attempt("maria", t0 + 1s) == 0s);
  CHECK(t.attempt("Maria", t0 + 2s) == 0s);
  CHECK(t.attempt("maria", t0 + 3s) == 597s);
  CHECK(t.blocked_for("maria", t0 + 3s) == 597s);
  // One that never reached the password (the database failed) is taken back.
  CHECK(t.attempt("joao", t0) == 0s);
  CHECK(t.attempt("joao", t0) == 0s);
  CHECK(t.attempt("joao", t0) == 0s);
  t.not_tried("joao");
  CHECK(t.blocked_for("joao", t0) == 0s);
  CHECK(t.attempt("joao", t0) == 0s);
  CHECK(t.blocked_for("joao", t0) == 600s);
  // A success clears the count.
  CHECK(t.attempt("ana", t0) == 0s);
  CHECK(t.attempt("ana", t0) == 0s);
  t.succeeded("ana");
  CHECK(t.attempt("ana", t0) == 0s);
  CHECK(t.attempt("ana", t0) == 0s);
  CHECK(t.blocked_for("ana", t0) == 0s);
}

TEST_CASE("login slots let only so many password checks run at once") {
  LoginSlots slots(2);
  auto a = slots.try_enter();
  auto b = slots.try_enter();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(slots.try_enter());
  a.reset();  // a check ends: its slot is free again
  auto c = slots.try_enter();
  CHECK(c);
  CHECK_FALSE(slots.try_enter());
  {
    auto moved = std::move(c);  // a moved pass frees its slot once
  }
  // The moved-from pass frees nothing more (what this checks).
  c.reset();  // NOLINT(bugprone-use-after-move)
  auto d = slots.try_enter();
  REQUIRE(d);
  CHECK_FALSE(slots.try_enter());  // b and d hold both: a second release would have freed one
}
