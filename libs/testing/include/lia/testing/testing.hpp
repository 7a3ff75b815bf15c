#pragma once
// Helpers for tests: where the throwaway PostgreSQL and broker are, unique names so tests
// never collide, polling with a deadline, and child processes that can be killed.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lia::testing {

// LIA_PG_URL / LIA_KAFKA_BOOTSTRAP as exported by scripts/test (or scripts/dev-stack env).
// A test that needs one and finds it unset fails with a message saying how to start it.
std::string pg_url();
std::string kafka_bootstrap();

// "prefix_1a2b3c4d": for topics, schemas, consumer groups.
std::string unique_name(const std::string& prefix);

// Polls pred every `every` until it holds or `timeout` passes; returns the last result.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds{20},
                std::chrono::milliseconds every = std::chrono::milliseconds{20});

// Absolute path of a built executable, from the LIA_BIN_DIR the build passes to tests.
std::string binary(const std::string& name);

// Whether a child dies with the process that started it. A test's children do (the kernel
// SIGKILLs them when the thread that forked them ends: a test binary killed, crashed or
// interrupted leaves no broker or service running); the demo's suite, started to stay up
// after its launcher exits, is started to outlive it.
enum class Lifetime { with_parent, may_outlive };

// A child process (fork + execve, in a session of its own) whose stdout and stderr go to a
// log file: the one given, or one of its own in $TMPDIR (/tmp when unset), removed with the
// Process unless it was detach()ed (a test that fails shows output() with INFO).
class Process {
 public:
  Process(std::vector<std::string> argv, const std::map<std::string, std::string>& extra_env = {},
          const std::string& log_path = {}, Lifetime lifetime = Lifetime::with_parent);
  ~Process();  // SIGKILLs the child if it still runs, unless detach()ed
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int sig) const;
  // Waits for exit; returns the exit code, 128+signal if killed, nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds{30});
  bool running();
  const std::string& log_path() const { return log_path_; }
  // Lets the child outlive this object (it runs in a session of its own); to outlive this
  // process too, it must have been started Lifetime::may_outlive.
  void detach() { detached_ = true; }
  std::string output() const;  // what the child wrote so far

 private:
  int pid_ = -1;
  std::optional<int> status_;
  bool detached_ = false;
  bool own_log_ = false;
  std::string log_path_;
};

}  // namespace lia::testing
