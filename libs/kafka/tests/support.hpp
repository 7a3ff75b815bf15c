#pragma once
// Shared pieces of the kafka tests: configs for the development broker, a thread-safe
// collector of what a handler saw, and raw librdkafka look-ups (partition count, committed
// offsets) that the library deliberately doesn't expose.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <lia/kafka/kafka.hpp>

namespace lia::kafka::test {

ProducerConfig producer_config();
// session.timeout.ms 6000 / heartbeat 500: what the mock cluster needs for quick rejoins.
ConsumerConfig consumer_config(const std::string& topic, const std::string& group);
std::shared_ptr<Producer> make_producer();

// Produces every record and waits for all acks (REQUIREs success).
std::vector<Delivery> produce_all(Producer& producer, const std::vector<Record>& records);

int partition_count(const std::string& topic);

// Committed offset per partition for the group (-1001 when none).
std::map<std::int32_t, std::int64_t> committed(const std::string& group, const std::string& topic,
                                               const std::vector<std::int32_t>& partitions);

using Position = std::pair<std::int32_t, std::int64_t>;  // partition, offset

class Collector {
 public:
  void add(const Message& m) {
    std::lock_guard lock(mu_);
    messages_.push_back(m);
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::set<Position> positions() const {
    std::lock_guard lock(mu_);
    std::set<Position> out;
    for (const auto& m : messages_) out.emplace(m.partition, m.offset);
    return out;
  }
  bool has_all(const std::vector<Position>& wanted) const {
    const auto have = positions();
    for (const auto& p : wanted) {
      if (have.count(p) == 0) return false;
    }
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Message> messages_;
};

std::vector<Position> positions_of(const std::vector<Delivery>& deliveries);

// "2026-11-22T12:53:24.123Z": the shape core::format_rfc3339 writes.
bool looks_like_rfc3339_ms(const std::string& s);

// The longest run of equal values in detail::polls_for_test() readings taken at each handler
// call: how many calls one poll let start.
std::size_t longest_run(const std::vector<std::uint64_t>& polls);

}  // namespace lia::kafka::test
