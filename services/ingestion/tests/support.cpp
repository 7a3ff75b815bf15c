#include "support.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include <lia/auth/auth.hpp>

namespace lia::ingestion::test {

std::string fixture(const std::string& name) {
  const std::string path = std::string(LIA_INGESTION_FIXTURES) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string meta_signature(const std::string& secret, const std::string& body) {
  return "sha256=" + auth::to_hex(auth::hmac_sha256(secret, body));
}

void FakeProducer::produce(kafka::Record record, kafka::DeliveryCallback done) {
  if (auto_ack) {
    {
      std::lock_guard lock(mu_);
      records_.push_back(record);
    }
    done(kafka::Delivery{record.topic, 0, 0});
    return;
  }
  std::lock_guard lock(mu_);
  records_.push_back(std::move(record));
  waiting_.push_back(std::move(done));
}

std::size_t FakeProducer::in_flight() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

std::size_t FakeProducer::ack_all() {
  std::vector<kafka::DeliveryCallback> cbs;
  {
    std::lock_guard lock(mu_);
    cbs.swap(waiting_);
  }
  for (auto& cb : cbs) cb(kafka::Delivery{"t", 0, 0});
  return cbs.size();
}

std::size_t FakeProducer::fail_all(const core::Error& error) {
  std::vector<kafka::DeliveryCallback> cbs;
  {
    std::lock_guard lock(mu_);
    cbs.swap(waiting_);
  }
  for (auto& cb : cbs) cb(error);
  return cbs.size();
}

std::vector<kafka::Record> FakeProducer::records() const {
  std::lock_guard lock(mu_);
  return records_;
}

}  // namespace lia::ingestion::test
