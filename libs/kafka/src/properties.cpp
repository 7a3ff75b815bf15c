#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include <lia/core/config.hpp>
#include <lia/core/text.hpp>
#include <lia/kafka/kafka.hpp>

#include "rd_util.hpp"

namespace lia::kafka {
namespace {

core::Error invalid(std::string what) {
  return core::Error(core::Errc::invalid_argument, std::move(what));
}

// Set by lia::kafka from other settings or fixed by its delivery guarantees.
// librdkafka's aliases of them too (metadata.broker.list would override the bootstrap).
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kOwned = {{
    {"fetch.wait.max.ms", "set LIA_KAFKA_FETCH_WAIT_MS instead"},
    {"bootstrap.servers", "set LIA_KAFKA_BOOTSTRAP instead"},
    {"metadata.broker.list", "set LIA_KAFKA_BOOTSTRAP instead"},
    {"group.id", "each consumer's group is fixed by its service"},
    {"group.instance.id",
     "static membership is not supported: every consumer of a process would share the id and "
     "fence the others"},
    {"acks", "fixed to all (no record is lost when a broker fails)"},
    {"request.required.acks", "fixed to all (no record is lost when a broker fails)"},
    {"enable.idempotence", "fixed to true (no record is written twice on a retry)"},
    {"enable.auto.commit", "fixed: offsets are committed after handling"},
    {"enable.auto.offset.store", "fixed: offsets are stored after handling"},
}};

// The outbox relay gives up on a batch's acks after 60 s (lia/pg/outbox_relay.hpp) and
// produces its rows again: a producer still holding the first copies past that would deliver
// them all once the broker is back. A delivery timeout (librdkafka's `message.timeout.ms`,
// alias `delivery.timeout.ms`; 0 is none) must end before it.
constexpr std::int64_t kMaxDeliveryTimeoutMs = 55'000;

bool is_delivery_timeout(std::string_view name) {
  return name == "message.timeout.ms" || name == "delivery.timeout.ms";
}

}  // namespace

core::Result<std::map<std::string, std::string>> parse_properties(std::string_view text,
                                                                  bool secret) {
  std::map<std::string, std::string> out;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find_first_of(";\n");
    const auto item = core::trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (item.empty()) continue;
    ++number;
    const auto eq = item.find('=');
    const auto name = core::trim(item.substr(0, eq));
    if (eq == std::string_view::npos || name.empty()) {
      return invalid(secret ? fmt::format("item {} is not name=value", number)
                            : fmt::format("item {} ('{}') is not name=value", number, item));
    }
    if (!out.emplace(std::string(name), std::string(core::trim(item.substr(eq + 1)))).second) {
      return invalid(fmt::format("property '{}' is given twice", name));
    }
  }
  return out;
}

core::Status check_properties(const std::map<std::string, std::string>& properties, bool secret) {
  detail::ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> err{};
  for (const auto& property : properties) {
    const std::string& name = property.first;  // not a structured binding: the lambda uses it
    const std::string& value = property.second;
    const auto owned = std::find_if(kOwned.begin(), kOwned.end(),
                                    [&name](const auto& o) { return o.first == name; });
    if (owned != kOwned.end()) {
      return invalid(fmt::format("property '{}' can't be set here: {}", name, owned->second));
    }
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err.data(), err.size()) !=
        RD_KAFKA_CONF_OK) {
      // librdkafka's message quotes the value: not for a secret.
      return invalid(secret ? fmt::format("property '{}': unknown or invalid value", name)
                            : fmt::format("property '{}': {}", name, err.data()));
    }
    if (is_delivery_timeout(name)) {
      std::int64_t ms = 0;  // librdkafka took it: a whole number
      std::from_chars(value.data(), value.data() + value.size(), ms);
      if (ms <= 0 || ms > kMaxDeliveryTimeoutMs) {
        return invalid(fmt::format(
            "property '{}' must be 1..{} ms: the outbox relay produces a batch again when its "
            "acks take 60 s, and copies still queued would all be delivered",
            name, kMaxDeliveryTimeoutMs));
      }
    }
  }
  return core::ok();
}

bool is_secret_property(std::string_view name) {
  return name.find("password") != std::string_view::npos ||
         name.find("secret") != std::string_view::npos || name == "ssl.key.pem" ||
         name == "sasl.oauthbearer.config";
}

std::map<std::string, std::string> properties_from_env(core::Env& env) {
  constexpr const char* kPlain = "LIA_KAFKA_PROPERTIES";
  constexpr const char* kSecret = "LIA_KAFKA_SECRET_PROPERTIES";
  std::map<std::string, std::string> out;
  for (const bool secret : {false, true}) {
    const char* name = secret ? kSecret : kPlain;
    const auto text = secret ? env.secret(name, std::string{}) : env.string(name, "");
    auto parsed = parse_properties(text, secret);
    if (!parsed) {
      env.problem(name, parsed.error().message());
      continue;
    }
    if (auto st = check_properties(*parsed, secret); !st) {
      env.problem(name, st.error().message());
      continue;
    }
    for (auto& [key, value] : *parsed) {
      if (!secret && is_secret_property(key)) {
        env.problem(name, fmt::format("property '{}' holds a secret: set it in {}, which is "
                                      "never logged",
                                      key, kSecret));
      } else if (!out.emplace(key, std::move(value)).second) {
        env.problem(name, fmt::format("property '{}' is also set in {}", key, kPlain));
      }
    }
  }
  return out;
}

std::chrono::milliseconds max_poll_interval(const std::map<std::string, std::string>& properties) {
  std::int64_t interval = 300000;
  if (const auto it = properties.find("max.poll.interval.ms"); it != properties.end()) {
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), interval);
  }
  return std::chrono::milliseconds{interval};
}

}  // namespace lia::kafka
