#pragma once
// Internal helpers shared by the producer and the consumer: librdkafka configuration with
// errors that name the property, error classification, log routing.

#include <memory>
#include <string>
#include <string_view>

#include <librdkafka/rdkafka.h>

#include <lia/core/result.hpp>
#include <lia/kafka/kafka.hpp>

namespace lia::kafka::detail {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// Sets one property; the error names it ("kafka producer: property 'linger.ms': ...").
core::Status set(rd_kafka_conf_t* conf, std::string_view who, const std::string& name,
                 const std::string& value);

// Routes librdkafka's own log lines to lia::core::log() (component=librdkafka).
void route_logs(rd_kafka_conf_t* conf);

// Classifies a librdkafka / broker error for callers: whether an identical retry may help.
// For RD_KAFKA_RESP_ERR__FATAL, `rk` gives the underlying fatal error.
core::Error classify(rd_kafka_resp_err_t err, std::string_view context, rd_kafka_t* rk = nullptr);

// The fatal error of a handle, if any.
bool fatal_error(rd_kafka_t* rk, core::Error& out);

// A copy of a fetched message: topic, partition, offset, key, value, headers, timestamp.
Message to_message(const rd_kafka_message_t* m);

}  // namespace lia::kafka::detail
