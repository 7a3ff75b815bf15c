#pragma once
// Shared pieces of the tests that run lia-runtime-probe (tests/probe_main.cpp).

#include <chrono>
#include <map>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include <lia/pg/pool.hpp>
#include <lia/testing/testing.hpp>

namespace lia::probe::test {

inline std::string probe() {
  return lia::testing::binary("lia-runtime-probe");
}

// The port from the probe's `"msg":"ready"` log line, once it is there.
inline int ready_port(const lia::testing::Process& p) {
  static const std::regex ready(R"("msg":"ready","port":([0-9]+))");
  std::smatch m;
  const std::string out = p.output();
  return std::regex_search(out, m, ready) ? std::stoi(m[1]) : 0;
}

// A consumer group of its own (named after the probe, as its KafkaUser requires): cases
// sharing the default lia-probe, on different topics, would rebalance each other when ctest
// runs them side by side.
inline std::string own_group() {
  return "lia-probe-" + lia::testing::unique_name("case");
}

// The environment of a probe that owns `schema`, with its migrations applied.
inline std::map<std::string, std::string> migrated_probe(const std::string& schema) {
  using namespace std::chrono_literals;
  std::map<std::string, std::string> env{
      {"LIA_PROBE_TOKEN", "t"},
      {"LIA_PROBE_SCHEMA", schema},
      {"LIA_PROBE_TOPIC", lia::testing::unique_name("probe.topic")},
      {"LIA_PROBE_GROUP", own_group()},
      {"LIA_HTTP_PORT", "0"},
      {"LIA_PG_URL", lia::testing::pg_url()},
      {"LIA_KAFKA_BOOTSTRAP", lia::testing::kafka_bootstrap()}};
  lia::testing::Process migrate({probe(), "--migrate"}, env);
  INFO(migrate.output());
  REQUIRE(migrate.wait(60s) == std::optional<int>(0));
  return env;
}

}  // namespace lia::probe::test
