#include <lia/core/periodic.hpp>

namespace lia::core {

Periodic::Periodic(std::chrono::milliseconds every, std::function<void()> work, First first)
    : every_(every), work_(std::move(work)), first_(first) {}

Periodic::~Periodic() {
  stop();
}

void Periodic::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Periodic::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool Periodic::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Periodic::run() {
  std::unique_lock lock(mu_);
  if (first_ == First::after_one_wait && cv_.wait_for(lock, every_, [this] { return stopping_; })) {
    return;
  }
  while (!stopping_) {
    lock.unlock();
    work_();
    lock.lock();
    cv_.wait_for(lock, every_, [this] { return stopping_; });
  }
}

}  // namespace lia::core
