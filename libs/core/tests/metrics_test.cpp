#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/core/metrics.hpp>

using lia::core::Counter;
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

TEST_CASE("HELP text is escaped") {
  Registry r;
  r.counter("lia_help_total", "one\ntwo \\ \"three\"").inc();
  const auto text = r.render();
  CHECK(text.find("# HELP lia_help_total one\\ntwo \\\\ \"three\"\n") != std::string::npos);
  CHECK(text.find("\ntwo") == std::string::npos);
}

TEST_CASE("labels in another order are the same series") {
  Registry r;
  auto& a = r.counter("lia_order_total", "Order", {{"topic", "t"}, {"code", "200"}});
  auto& b = r.counter("lia_order_total", "Order", {{"code", "200"}, {"topic", "t"}});
  CHECK(&a == &b);
  a.inc();
  b.inc();
  auto& gauge = r.gauge("lia_order_gauge", "", {{"b", "1"}, {"a", "2"}});
  CHECK(&gauge == &r.gauge("lia_order_gauge", "", {{"a", "2"}, {"b", "1"}}));
  auto& first = r.histogram("lia_order_seconds", "", {{"b", "1"}, {"a", "2"}});
  CHECK(&first == &r.histogram("lia_order_seconds", "", {{"a", "2"}, {"b", "1"}}));
  // Written once, as first registered.
  const auto text = r.render();
  CHECK(text.find("lia_order_total{topic=\"t\",code=\"200\"} 2\n") != std::string::npos);
  CHECK(text.find("code=\"200\",topic") == std::string::npos);
  CHECK(text.find("lia_order_seconds_bucket{b=\"1\",a=\"2\",le=\"+Inf\"} 0") != std::string::npos);
}

TEST_CASE("a metric keeps at most 1000 series, the rest sharing one labelled other") {
  Registry r;
  std::vector<Counter*> kept;
  for (std::size_t i = 0; i < 1000; ++i) {
    kept.push_back(
        &r.counter("lia_many_total", "Many", {{"instance", "i" + std::to_string(i)}, {"k", "v"}}));
  }
  auto& past = r.counter("lia_many_total", "Many", {{"instance", "new-1"}, {"k", "v"}});
  auto& further = r.counter("lia_many_total", "Many", {{"k", "w"}, {"instance", "new-2"}});
  CHECK(&past == &further);
  CHECK(std::find(kept.begin(), kept.end(), &past) == kept.end());
  // The series kept are still theirs.
  CHECK(&r.counter("lia_many_total", "Many", {{"instance", "i7"}, {"k", "v"}}) == kept[7]);
  past.inc();
  further.inc();
  const auto text = r.render();
  CHECK(text.find("lia_many_total{instance=\"other\",k=\"other\"} 2\n") != std::string::npos);
  CHECK(text.find("new-1") == std::string::npos);
  // Other metrics have their own room.
  auto& gauge = r.gauge("lia_many_gauge", "", {{"instance", "new-1"}});
  gauge.set(1);
  CHECK(r.render().find("lia_many_gauge{instance=\"new-1\"} 1") != std::string::npos);
}

TEST_CASE("a counter never goes down: negative and NaN increments are ignored") {
  Registry r;
  auto& c = r.counter("lia_neg_total", "Neg");
  c.inc(5);
  c.inc(-2);
  CHECK(c.value() == 5);
  c.inc(std::nan(""));
  CHECK(c.value() == 5);
  c.inc(0.5);
  CHECK(c.value() == 5.5);
}
