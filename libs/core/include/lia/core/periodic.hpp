#pragma once
// Background work repeated on a thread of its own until stopped: a purge, a scheduler's tick.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace lia::core {

class Periodic {
 public:
  enum class First { at_once, after_one_wait };

  // `work` runs at start() (or `every` after it) and then `every` after each run ends.
  Periodic(std::chrono::milliseconds every, std::function<void()> work,
           First first = First::at_once);
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;
  ~Periodic();

  // Starts the thread; a second call while it runs does nothing.
  void start();
  // Ends the wait at once and joins once the run under way returns (not when called from
  // the work itself). Idempotent.
  void stop();
  // Whether stop() was called: for work done in slices, to end between two of them.
  bool stopping() const;

 private:
  void run();

  std::chrono::milliseconds every_;
  std::function<void()> work_;
  First first_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace lia::core
