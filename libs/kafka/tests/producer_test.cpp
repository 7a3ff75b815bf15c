// Producer against the development broker: acks, partitioning by key, headers, metrics.

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia;
using namespace lia::kafka;
using lia::testing::unique_name;
using lia::testing::wait_until;

TEST_CASE(
    "every produced record resolves with partition and offset and a key keeps its partition") {
  const auto topic = unique_name("kafka_produce");
  auto producer = test::make_producer();

  std::vector<Record> records;
  records.reserve(60);
  for (int i = 0; i < 60; ++i) {
    records.push_back({topic,
                       "chat-" + std::to_string(i % 5),
                       "body " + std::to_string(i),
                       {{"seq", std::to_string(i)}}});
  }
  const auto deliveries = test::produce_all(*producer, records);
  REQUIRE(deliveries.size() == records.size());

  std::map<std::string, std::int32_t> partition_of_key;
  std::set<test::Position> seen;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& d = deliveries[i];
    CHECK(d.topic == topic);
    CHECK(d.partition >= 0);
    CHECK(d.offset >= 0);
    CHECK(seen.emplace(d.partition, d.offset).second);  // no two records at one position
    auto [it, fresh] = partition_of_key.emplace(records[i].key, d.partition);
    if (!fresh) CHECK(it->second == d.partition);
  }

  // The callback form, and flush() waiting for it.
  std::atomic<int> acked{0};
  for (int i = 0; i < 20; ++i) {
    producer->produce({topic, "chat-0", "more"}, [&](const DeliveryResult& r) {
      if (r.ok()) ++acked;
    });
  }
  REQUIRE(producer->flush(std::chrono::seconds{20}).ok());
  CHECK(acked.load() == 20);
  CHECK(producer->in_flight() == 0);

  const auto text = core::metrics().render();
  CHECK(text.find("lia_kafka_produced_total{topic=\"" + topic + "\"} 80") != std::string::npos);
  CHECK(text.find("lia_kafka_delivery_seconds_count{topic=\"" + topic + "\"} 80") !=
        std::string::npos);
}

TEST_CASE("a consumer group receives every record with its key and value and headers") {
  const auto topic = unique_name("kafka_roundtrip");
  auto producer = test::make_producer();
  std::vector<Record> records;
  records.reserve(30);
  for (int i = 0; i < 30; ++i) {
    records.push_back(
        {topic,
         "k" + std::to_string(i),
         "v" + std::to_string(i),
         {{"ce_id", "id-" + std::to_string(i)}, {"empty", ""}, {"dup", "1"}, {"dup", "2"}}});
  }
  records.push_back({topic, "", "no key"});
  const auto deliveries = test::produce_all(*producer, records);

  test::Collector got;
  auto consumer = Consumer::create(
      test::consumer_config(topic, unique_name("g")),
      [&](const Message& m) {
        got.add(m);
        return core::ok();
      },
      nullptr);
  REQUIRE(consumer.ok());
  consumer.value()->start();
  REQUIRE(wait_until([&] { return got.size() >= records.size(); }, std::chrono::seconds{20}));
  consumer.value()->close();

  REQUIRE(got.size() == records.size());
  REQUIRE(got.has_all(test::positions_of(deliveries)));
  std::map<test::Position, Message> by_position;
  for (const auto& m : got.messages()) by_position[{m.partition, m.offset}] = m;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& m = by_position.at({deliveries[i].partition, deliveries[i].offset});
    CHECK(m.topic == topic);
    CHECK(m.key == records[i].key);
    CHECK(m.value == records[i].value);
    CHECK(m.timestamp_ms > 0);
    REQUIRE(m.headers.size() == records[i].headers.size());
    for (std::size_t h = 0; h < m.headers.size(); ++h) {
      CHECK(m.headers[h].key == records[i].headers[h].key);
      CHECK(m.headers[h].value == records[i].headers[h].value);
    }
  }
  CHECK(consumer.value()->handled() == records.size());
}
