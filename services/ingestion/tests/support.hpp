#pragma once
// Shared pieces of the ingestion tests: fixtures, Meta signatures, a fake producer.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <lia/kafka/kafka.hpp>

namespace lia::ingestion::test {

// The text of tests/fixtures/<name> (REQUIREs that it exists).
std::string fixture(const std::string& name);

// "sha256=<hex>" of HMAC-SHA256(secret, body).
std::string meta_signature(const std::string& secret, const std::string& body);

// A producer that keeps what it gets; acks only when told to (or at once).
class FakeProducer final : public kafka::Producer {
 public:
  using Producer::produce;
  void produce(kafka::Record record, kafka::DeliveryCallback done) override;
  core::Status flush(std::chrono::milliseconds) override { return {}; }
  std::size_t in_flight() const override;

  // Acks (or fails) every record held so far; returns how many.
  std::size_t ack_all();
  std::size_t fail_all(const core::Error& error);
  std::vector<kafka::Record> records() const;

  bool auto_ack = false;

 private:
  mutable std::mutex mu_;
  std::vector<kafka::Record> records_;
  std::vector<kafka::DeliveryCallback> waiting_;
};

}  // namespace lia::ingestion::test
