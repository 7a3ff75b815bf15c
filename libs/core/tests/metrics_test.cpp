#include <thread>

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>

using lia::core::Registry;

TEST_CASE("counters, gauges and histograms render as Prometheus text") {
  Registry r;
  auto& c = r.counter("lia_test_total", "A test counter", {{"topic", "a\"b"}});
  std::vector<std::thread> ts;
  ts.reserve(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) c.inc();
    });
  }
  for (auto& t : ts) t.join();
  CHECK(c.value() == 4000);
  r.gauge("lia_test_gauge", "A gauge").set(2.5);
  auto& h = r.histogram("lia_test_seconds", "A histogram", {}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const auto text = r.render();
  CHECK(text.find("# TYPE lia_test_total counter") != std::string::npos);
  CHECK(text.find("lia_test_total{topic=\"a\\\"b\"} 4000") != std::string::npos);
  CHECK(text.find("lia_test_gauge 2.5") != std::string::npos);
  CHECK(text.find("lia_test_seconds_bucket{le=\"0.1\"} 1") != std::string::npos);
  CHECK(text.find("lia_test_seconds_bucket{le=\"1\"} 2") != std::string::npos);
  CHECK(text.find("lia_test_seconds_bucket{le=\"+Inf\"} 3") != std::string::npos);
  CHECK(text.find("lia_test_seconds_count 3") != std::string::npos);
  CHECK(&r.counter("lia_test_total", "", {{"topic", "a\"b"}}) == &c);
}
