#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lia/testing/testing.hpp>

extern char** environ;  // NOLINT

namespace lia::testing {
namespace {
std::string need_env(const char* name, const char* what) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (v == nullptr || *v == '\0') {
    throw std::runtime_error(fmt::format(
        "{} is not set: this test needs {}. Run it through scripts/test, or start the local "
        "stack with `scripts/dev-stack up` and `eval \"$(scripts/dev-stack env)\"`.",
        name, what));
  }
  return v;
}
}  // namespace

std::string pg_url() {
  return need_env("LIA_PG_URL", "PostgreSQL");
}
std::string kafka_bootstrap() {
  return need_env("LIA_KAFKA_BOOTSTRAP", "the Kafka broker");
}

std::string unique_name(const std::string& prefix) {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return fmt::format("{}_{:08x}", prefix, static_cast<std::uint32_t>(gen()));
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(every);
  }
}

std::string binary(const std::string& name) {
  const char* dir = std::getenv("LIA_BIN_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (dir == nullptr) throw std::runtime_error("LIA_BIN_DIR is not set (ctest sets it)");
  return std::string(dir) + "/" + name;
}

Process::Process(std::vector<std::string> argv, const std::map<std::string, std::string>& extra_env,
                 const std::string& log_path, Lifetime lifetime)
    : own_log_(log_path.empty()), log_path_(log_path) {
  if (own_log_) {
    const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
    log_path_ = fmt::format("{}/lia-test-{}.log", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                            unique_name("proc"));
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && extra_env.count(kv.substr(0, eq)) > 0) continue;
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : extra_env) env_strings.push_back(fmt::format("{}={}", k, v));
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    if (lifetime == Lifetime::with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before the line above
    }
    ::setsid();
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
}

Process::~Process() {
  if (detached_) return;
  if (running()) {
    signal(SIGKILL);
    wait(std::chrono::seconds{5});
  }
  if (own_log_) ::unlink(log_path_.c_str());
}

void Process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Process::running() {
  if (status_ || pid_ <= 0) return false;
  int st = 0;
  const int r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return r == 0;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds{10});
  return status_;
}

std::string Process::output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace lia::testing
