#pragma once
// Whether a running suite still has work in flight: a record some service's consumer group has
// not committed, an event some service's outbox has not published, a record the event tap has
// not seen, or a delivery tick the provider sandbox has not posted yet. When none is left, an
// absence ("nothing more was sent") is a fact rather than a guess after a sleep. Work a service has
// scheduled for later (a send's next try, a campaign's next window) is not in flight and is not
// waited for.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::local {

class Stack;
class EventTap;

class InFlight {
 public:
  // The groups are found in the services' /metrics (each consumer reports its group and
  // topics there within a second of starting), so a new consumer needs nothing here.
  InFlight(Stack& stack, const EventTap& tap);
  ~InFlight();
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  // What is in flight now, one readable line each ("lia-notification: 2 records of
  // notification.commands.v1 not committed"); empty when nothing is.
  core::Result<std::vector<std::string>> now();
  // Waits until now() has been empty twice in a row, 200 ms apart, with no record produced
  // between the two; returns what was still in flight at the timeout (empty once settled). A
  // broker, database or service that does not answer for a moment counts as in flight.
  core::Result<std::vector<std::string>> wait(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lia::local
