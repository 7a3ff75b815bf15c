#pragma once
// Shared pieces of the end-to-end tests: a running suite with an event tap.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "settle.hpp"
#include "stack.hpp"
#include "tap.hpp"

namespace lia::e2e {

using namespace std::chrono_literals;

struct Suite {
  std::unique_ptr<local::Stack> stack;
  std::unique_ptr<local::EventTap> tap;

  explicit Suite(local::StackOptions options = {});
  ~Suite();  // stop()
  // Stops the stack; its work folder (the logs) is removed unless the test case failed.
  void stop();

  // Events of `type` whose data field `field` equals `value` (any, when field is empty).
  std::size_t count(const std::string& type, const std::string& field = {},
                    const std::string& value = {}) const;
  // Waits until count(...) >= n; REQUIREs it.
  void expect(std::size_t n, const std::string& type, const std::string& field = {},
              const std::string& value = {}, std::chrono::milliseconds timeout = 45s) const;
  // The data field of the first matching event ("" if none).
  std::string first(const std::string& type, const std::string& field, const std::string& value,
                    const std::string& wanted) const;
  // Waits until nothing is in flight (local::InFlight: every record committed by every
  // consumer group, every outbox published, every record seen by the tap); REQUIREs it,
  // naming what was still in flight. An absence checked after it is one.
  void settle(std::chrono::milliseconds timeout = 60s);
  // Sandbox sends to one recipient.
  std::size_t sends_to(const std::string& to);
  // CHECKs every event seen so far: each is a CloudEvent whose data matches the JSON Schema
  // of its type, and the dead-letter topics hold exactly `dead_letters` (topic -> number of
  // records): a dead letter on any other topic, or one more or fewer on a named one, fails.
  void check_events(const std::map<std::string, std::size_t>& dead_letters = {}) const;
  // CHECKs that no log the stack wrote so far (every service, the broker, the sandbox, the
  // migrations) holds any of `secrets`: phone numbers, CPF/CNPJ, message texts (LGPD; logs
  // mask them unless LIA_LOG_UNMASK=true). Returns how many log lines it read.
  std::size_t check_logs_hide(const std::vector<std::string>& secrets) const;
  std::string timeline() const;

 private:
  bool stopped_ = false;
  std::unique_ptr<local::InFlight> in_flight_;
};

std::int64_t now_s();
// Whether an assertion of the running test case has failed (or one is unwinding).
bool case_failed();

}  // namespace lia::e2e
