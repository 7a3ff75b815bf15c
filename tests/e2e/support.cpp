// The listener below needs Catch2 v2's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "support.hpp"

#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include <lia/events/schema_registry.hpp>
#include <lia/testing/testing.hpp>

namespace lia::e2e {
namespace {

// Whether an assertion of the running test case failed: a failed case keeps its stack's
// logs (CHECK failures do not unwind, so the destructor cannot tell by itself).
bool g_case_failed = false;

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    g_case_failed = false;
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) g_case_failed = true;
    return TestEventListenerBase::assertionEnded(stats);
  }
};

CATCH_REGISTER_LISTENER(FailureListener)

}  // namespace

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Suite::Suite(local::StackOptions options) {
  options.bin_dir = testing::binary("");
  options.bin_dir.pop_back();  // binary("") ends with '/'
  options.pg_admin_url = testing::pg_url();
  auto s = local::Stack::start(std::move(options));
  if (!s) FAIL("the suite did not start: " << s.error().describe());
  stack = std::move(s).value();
  auto t = local::EventTap::start(stack->kafka_bootstrap());
  if (!t) {
    stack->keep_work_dir();  // the Suite is not made, so only the stack's own destructor runs
    FAIL("the event tap did not start: " << t.error().describe() << "; the suite's logs are in "
                                         << stack->work_dir() << "/logs");
  }
  tap = std::move(t).value();
}

bool case_failed() {
  return g_case_failed || std::uncaught_exceptions() > 0;
}

Suite::~Suite() {
  stop();
}

void Suite::stop() {
  in_flight_.reset();
  tap.reset();
  if (!stack || stopped_) return;
  stopped_ = true;
  if (case_failed()) {
    stack->keep_work_dir();
    std::cerr << "the suite's logs are kept in " << stack->work_dir() << "/logs\n";
  }
  stack->stop();
}

std::size_t Suite::count(const std::string& type, const std::string& field,
                         const std::string& value) const {
  return tap->count([&](const local::Seen& s) {
    return s.type == type && s.topic.find(".dlq") == std::string::npos &&
           (field.empty() || s.field(field) == value);
  });
}

void Suite::expect(std::size_t n, const std::string& type, const std::string& field,
                   const std::string& value, std::chrono::milliseconds timeout) const {
  const bool ok =
      tap->wait([&](const std::vector<local::Seen>&) { return true; }, 0ms) &&
      testing::wait_until([&] { return count(type, field, value) >= n; }, timeout, 50ms);
  INFO("waiting for " << n << " x " << type << (field.empty() ? "" : " with " + field + "=" + value)
                      << "\ntimeline:\n"
                      << timeline());
  REQUIRE(ok);
}

std::string Suite::first(const std::string& type, const std::string& field,
                         const std::string& value, const std::string& wanted) const {
  for (const auto& s : tap->snapshot()) {
    if (s.type == type && (field.empty() || s.field(field) == value)) return s.field(wanted);
  }
  return {};
}

std::size_t Suite::check_logs_hide(const std::vector<std::string>& secrets) const {
  std::size_t lines = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(stack->work_dir() + "/logs", ec)) {
    std::ifstream in(entry.path());
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
      ++lines;
      for (const auto& secret : secrets) {
        if (line.find(secret) == std::string::npos) continue;
        INFO(entry.path().filename().string() << ":" << n << ": " << line);
        FAIL_CHECK("a log shows '" << secret << "'");
      }
    }
  }
  INFO("logs in " << stack->work_dir() << "/logs");
  CHECK_FALSE(ec);
  return lines;
}

void Suite::settle(std::chrono::milliseconds timeout) {
  if (!in_flight_) in_flight_ = std::make_unique<local::InFlight>(*stack, *tap);
  auto pending = in_flight_->wait(timeout);
  if (!pending) FAIL("cannot tell what is in flight: " << pending.error().describe());
  std::string lines;
  for (const auto& p : *pending) lines += "\n  " + p;
  INFO("still in flight:" << lines);
  REQUIRE(pending->empty());
}

std::size_t Suite::sends_to(const std::string& to) {
  auto sends = stack->sandbox_sends(to);
  REQUIRE(sends.ok());
  return sends->size();
}

void Suite::check_events(const std::map<std::string, std::size_t>& dead_letters) const {
  // Dead letters are published by the service that gave up, then read by the tap: wait for
  // the expected ones first (more than expected fails below).
  (void)tap->wait(
      [&](const std::vector<local::Seen>& all) {
        std::map<std::string, std::size_t> n;
        for (const auto& s : all) {
          if (s.topic.ends_with(".dlq")) ++n[s.topic];
        }
        for (const auto& [topic, want] : dead_letters) {
          if (n[topic] < want) return false;
        }
        return true;
      },
      std::chrono::seconds{60});
  const auto& schemas = events::SchemaRegistry::instance();
  std::size_t checked = 0;
  std::map<std::string, std::size_t> seen_dead_letters;
  for (const auto& s : tap->snapshot()) {
    if (s.topic.ends_with(".dlq")) {
      const auto* why = s.header("lia.dlq.error");
      const auto n = ++seen_dead_letters[s.topic];
      const auto expected = dead_letters.find(s.topic);
      if (expected == dead_letters.end() || n > expected->second) {
        FAIL_CHECK("unexpected dead letter on " << s.topic << ": "
                                                << (why != nullptr ? *why : "(no reason)"));
      }
      continue;
    }
    if (s.type.empty()) {
      FAIL_CHECK("not a CloudEvent on " << s.topic << " at offset " << s.offset);
      continue;
    }
    const auto version = schemas.latest_version(s.type);
    if (!version) {
      FAIL_CHECK(s.type << " on " << s.topic << " has no schema");
      continue;
    }
    if (auto st = schemas.validate(s.type, *version, s.data); !st.ok()) {
      FAIL_CHECK(s.type << " on " << s.topic << " breaks its schema: " << st.error().message());
    }
    ++checked;
  }
  CHECK(checked > 0);
  for (const auto& [topic, n] : dead_letters) {
    INFO("dead letters on " << topic);
    CHECK(seen_dead_letters[topic] == n);
  }
}

std::string Suite::timeline() const {
  std::string out;
  const auto all = tap->snapshot();
  if (all.empty()) return "(no events)\n";
  const auto t0 = all.front().at;
  for (const auto& s : all) {
    out += fmt::format("  +{:7.3f}s  {}\n", std::chrono::duration<double>(s.at - t0).count(),
                       local::describe(s));
  }
  return out;
}

}  // namespace lia::e2e
