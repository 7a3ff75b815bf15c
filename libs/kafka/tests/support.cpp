#include "support.hpp"

#include <algorithm>
#include <array>

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>

#include <lia/testing/testing.hpp>

namespace lia::kafka::test {

ProducerConfig producer_config() {
  ProducerConfig c;
  c.bootstrap = testing::kafka_bootstrap();
  c.client_id = "lia-kafka-test";
  c.delivery_timeout = std::chrono::milliseconds{15000};
  return c;
}

ConsumerConfig consumer_config(const std::string& topic, const std::string& group) {
  ConsumerConfig c;
  c.bootstrap = testing::kafka_bootstrap();
  c.group_id = group;
  c.topics = {topic};
  c.client_id = "lia-kafka-test";
  c.session_timeout = std::chrono::milliseconds{6000};
  c.heartbeat_interval = std::chrono::milliseconds{500};
  c.retry_backoff = std::chrono::milliseconds{20};
  c.max_backoff = std::chrono::milliseconds{300};
  c.commit_interval = std::chrono::milliseconds{200};
  return c;
}

std::shared_ptr<Producer> make_producer() {
  auto p = Producer::create(producer_config());
  REQUIRE(p.ok());
  return std::shared_ptr<Producer>(std::move(p).value());
}

std::vector<Delivery> produce_all(Producer& producer, const std::vector<Record>& records) {
  std::vector<std::future<DeliveryResult>> futures;
  futures.reserve(records.size());
  for (const auto& r : records) futures.push_back(producer.produce(r));
  std::vector<Delivery> out;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(std::chrono::seconds{20}) == std::future_status::ready);
    auto r = f.get();
    INFO((r.ok() ? std::string("ok") : r.error().describe()));
    REQUIRE(r.ok());
    out.push_back(r.value());
  }
  return out;
}

namespace {
rd_kafka_t* raw_handle(rd_kafka_type_t type, const std::string& group) {
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", testing::kafka_bootstrap().c_str(),
                            err.data(), err.size()) == RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(conf, "log_level", "3", err.data(), err.size()) == RD_KAFKA_CONF_OK);
  if (!group.empty()) {
    REQUIRE(rd_kafka_conf_set(conf, "group.id", group.c_str(), err.data(), err.size()) ==
            RD_KAFKA_CONF_OK);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err.data(), err.size());
  REQUIRE(rk != nullptr);
  return rk;
}
}  // namespace

int partition_count(const std::string& topic) {
  rd_kafka_t* rk = raw_handle(RD_KAFKA_PRODUCER, {});
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  int n = -1;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) n = md->topics[0].partition_cnt;
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  REQUIRE(n > 0);
  return n;
}

std::map<std::int32_t, std::int64_t> committed(const std::string& group, const std::string& topic,
                                               const std::vector<std::int32_t>& partitions) {
  rd_kafka_t* rk = raw_handle(RD_KAFKA_CONSUMER, group);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (auto p : partitions) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  const auto err = rd_kafka_committed(rk, list, 10000);
  std::map<std::int32_t, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
  return out;
}

std::vector<Position> positions_of(const std::vector<Delivery>& deliveries) {
  std::vector<Position> out;
  out.reserve(deliveries.size());
  for (const auto& d : deliveries) out.emplace_back(d.partition, d.offset);
  return out;
}

bool looks_like_rfc3339_ms(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool digit = s[i] >= '0' && s[i] <= '9';
    if (shape[i] == 'd' ? !digit : s[i] != shape[i]) return false;
  }
  return true;
}

std::size_t longest_run(const std::vector<std::uint64_t>& polls) {
  std::size_t longest = 0;
  for (std::size_t i = 0, run = 0; i < polls.size(); ++i) {
    run = i > 0 && polls[i] == polls[i - 1] ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  return longest;
}

}  // namespace lia::kafka::test
