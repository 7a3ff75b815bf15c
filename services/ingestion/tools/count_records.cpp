// lia-ingestion-count: prints how many records were ever written to the given topics (the
// sum of their partitions' high watermarks). The gateway benchmark compares it with the
// number of 200 answers; it counts even records the development broker already dropped to
// keep its memory bounded.
//
//   lia-ingestion-count <bootstrap> <topic>...

#include <array>
#include <cstdint>
#include <iostream>
#include <string>

#include <librdkafka/rdkafka.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: lia-ingestion-count <bootstrap> <topic>...\n";
    return 2;
  }
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    std::cerr << "lia-ingestion-count: " << err.data() << "\n";
    return 2;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  if (rk == nullptr) {
    std::cerr << "lia-ingestion-count: " << err.data() << "\n";
    return 2;
  }
  std::int64_t total = 0;
  int rc = 0;
  for (int i = 2; i < argc; ++i) {
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, argv[i], nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    auto e = rd_kafka_metadata(rk, 0, topic, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err != 0) {
      std::cerr << "lia-ingestion-count: no metadata for " << argv[i] << ": "
                << rd_kafka_err2str(
                       e != 0 ? e : (md != nullptr && md->topic_cnt == 1 ? md->topics[0].err : e))
                << "\n";
      rc = 1;
    } else {
      for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        const auto id = md->topics[0].partitions[p].id;
        if (rd_kafka_query_watermark_offsets(rk, argv[i], id, &low, &high, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          total += high;
        } else {
          std::cerr << "lia-ingestion-count: no watermarks for " << argv[i] << "[" << id << "]\n";
          rc = 1;
        }
      }
    }
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(topic);
  }
  rd_kafka_destroy(rk);
  std::cout << total << "\n";
  return rc;
}
