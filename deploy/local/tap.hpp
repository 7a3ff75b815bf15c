#pragma once
// Watches every topic of the catalog (dead-letter topics included) and keeps what it saw:
// the end-to-end tests count events with it, and the demo prints it as a timeline.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/kafka/kafka.hpp>

namespace lia::local {

struct Seen {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string id;    // CloudEvent id ("" if the value isn't one)
  std::string type;  // CloudEvent type
  std::string subject;
  std::string data;  // the data object as JSON text
  std::vector<kafka::Header> headers;
  std::chrono::steady_clock::time_point at;
  const std::string* header(const std::string& name) const;
  // A field of `data` as text ("" when absent): string values as they are, others as JSON.
  std::string field(const std::string& name) const;
};

class EventTap {
 public:
  // from_latest: only what is produced after the tap joined (the demo, on a broker with
  // history); otherwise everything the topics hold.
  static core::Result<std::unique_ptr<EventTap>> start(
      const std::string& bootstrap, bool from_latest = false,
      std::chrono::milliseconds assign_timeout = std::chrono::seconds{30});
  ~EventTap();

  std::vector<Seen> snapshot() const;
  std::size_t count(const std::function<bool(const Seen&)>& pred) const;
  std::size_t count_type(const std::string& type) const;
  // Waits until pred holds for the events seen so far.
  bool wait(const std::function<bool(const std::vector<Seen>&)>& pred,
            std::chrono::milliseconds timeout = std::chrono::seconds{30}) const;
  // Calls `each` for every event, as it arrives (from the consumer's thread).
  void on_event(std::function<void(const Seen&)> each);

 private:
  EventTap() = default;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Seen> seen_;
  std::function<void(const Seen&)> each_;
  std::unique_ptr<kafka::Consumer> consumer_;
};

// One human line for the timeline, e.g. "reply out     suporte → \"Vamos resolver...\"".
std::string describe(const Seen& s);

}  // namespace lia::local
