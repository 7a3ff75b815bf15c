#include "rd_util.hpp"

#include <array>

#include <fmt/format.h>

#include <lia/core/log.hpp>

namespace lia::kafka::detail {

core::Status set(rd_kafka_conf_t* conf, std::string_view who, const std::string& name,
                 const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    return core::Error(core::Errc::invalid_argument,
                       fmt::format("{}: property '{}': {}", who, name, err.data()));
  }
  return core::ok();
}

namespace {
void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  core::Level l = core::Level::debug;
  if (level <= 3) {
    l = core::Level::error;
  } else if (level == 4) {
    l = core::Level::warn;
  } else if (level <= 6) {
    l = core::Level::info;
  }
  const auto& log = core::log();
  if (!log.enabled(l)) return;
  log.log(l, buf,
          {core::f::id("component", "librdkafka"), core::f::id("client", rd_kafka_name(rk)),
           core::f::id("facility", fac)});
}
}  // namespace

void route_logs(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, on_log);
}

bool fatal_error(rd_kafka_t* rk, core::Error& out) {
  if (rk == nullptr) return false;
  std::array<char, 512> buf{};
  const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf.data(), buf.size());
  if (orig == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  out = core::Error(core::Errc::internal,
                    fmt::format("fatal kafka client error ({}): {}; the client must be recreated",
                                rd_kafka_err2name(orig), buf.data()),
                    false);
  return true;
}

core::Error classify(rd_kafka_resp_err_t err, std::string_view context, rd_kafka_t* rk) {
  using core::Errc;
  const std::string what =
      fmt::format("{}: {} ({})", context, rd_kafka_err2str(err), rd_kafka_err2name(err));
  switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL: {
      core::Error fatal(Errc::internal, what, false);
      if (fatal_error(rk, fatal)) {
        return core::Error(Errc::internal, fmt::format("{}: {}", context, fatal.message()), false);
      }
      return fatal;
    }
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return core::Error(Errc::timeout, what, true);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return core::Error(Errc::too_large, what, false);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      // The topic, not the record: a rollout of the topics may be behind the code.
      return core::Error(Errc::not_found, what, false);
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return core::Error(Errc::invalid_argument, what, false);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return core::Error(Errc::unauthorized, what, false);
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return core::Error(Errc::unavailable, what + ": the producer closed before the ack", true);
    default: {
      // A client that went fatal fails everything afterwards; say so rather than "retry".
      core::Error fatal(Errc::internal, {}, false);
      if (fatal_error(rk, fatal)) {
        return core::Error(Errc::internal, fmt::format("{}: {}", what, fatal.message()), false);
      }
      // Transport, broker down, queue full, leader changes, not enough replicas...: a later
      // identical try may succeed.
      return core::Error(Errc::unavailable, what, true);
    }
  }
}

Message to_message(const rd_kafka_message_t* m) {
  Message msg;
  msg.topic = rd_kafka_topic_name(m->rkt);
  msg.partition = m->partition;
  msg.offset = m->offset;
  if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) msg.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  msg.timestamp_ms = rd_kafka_message_timestamp(m, &type);
  if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) msg.timestamp_ms = 0;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers != nullptr) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      msg.headers.push_back(
          {name, value != nullptr ? std::string(static_cast<const char*>(value), size) : ""});
    }
  }
  return msg;
}

}  // namespace lia::kafka::detail
