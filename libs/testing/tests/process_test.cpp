#include <array>
#include <csignal>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <lia/testing/testing.hpp>

using lia::testing::Lifetime;
using lia::testing::Process;

namespace {

// Whether `pid` still runs (a zombie waiting for a reaper has ended).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Forks a middleman that starts `sleep 60` as a Process of the given lifetime, reports its pid
// and exits at once, as a test binary killed mid-test would. Returns the sleeper's pid.
pid_t orphan_a_sleeper(Lifetime lifetime) {
  std::array<int, 2> fds{};
  REQUIRE(::pipe(fds.data()) == 0);
  const pid_t middleman = ::fork();
  REQUIRE(middleman >= 0);
  if (middleman == 0) {
    ::close(fds[0]);
    auto* sleeper = new Process({"/bin/sleep", "60"}, {}, "/dev/null", lifetime);  // NOLINT
    const pid_t pid = sleeper->pid();
    const auto n = ::write(fds[1], &pid, sizeof pid);
    ::_exit(n == static_cast<ssize_t>(sizeof pid) ? 0 : 1);  // no destructor runs
  }
  ::close(fds[1]);
  pid_t sleeper = -1;
  const auto n = ::read(fds[0], &sleeper, sizeof sleeper);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(middleman, &status, 0);
  REQUIRE(n == static_cast<ssize_t>(sizeof sleeper));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return sleeper;
}

}  // namespace

TEST_CASE("a test's child process dies with the process that started it") {
  const pid_t sleeper = orphan_a_sleeper(Lifetime::with_parent);
  CHECK(lia::testing::wait_until([&] { return !alive(sleeper); }, std::chrono::seconds{10}));
  if (alive(sleeper)) ::kill(sleeper, SIGKILL);
}

TEST_CASE("a child started to outlive its parent keeps running after it") {
  const pid_t sleeper = orphan_a_sleeper(Lifetime::may_outlive);
  // Long enough for the kernel's death signal, had it been asked for, to have arrived.
  CHECK_FALSE(lia::testing::wait_until([&] { return !alive(sleeper); }, std::chrono::seconds{1}));
  CHECK(alive(sleeper));
  ::kill(sleeper, SIGKILL);
}
