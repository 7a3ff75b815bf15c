// Retention: finished sends past LIA_NOTIFY_RETENTION_DAYS are deleted, a slice at a time;
// a send still under way never is, nor one finished again more recently.
#include <catch2/catch.hpp>

#include <lia/events/names.hpp>
#include <lia/notification/retention.hpp>

#include "support.hpp"

namespace lia::notification::test {
namespace {

using namespace std::chrono_literals;

const std::string kTo = "5511987654321";

TEST_CASE(
    "finished sends past their retention are deleted, a slice at a time, sending ones never") {
  Fixture fx;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(new_id());
    const auto msg = fx.command(events::types::notification_send_text,
                                Fixture::text_data(ids.back(), "meta", kTo, "x"), i);
    REQUIRE(fx.handler->handle(msg).ok());
    REQUIRE(fx.row(ids.back())->status == "sent");
  }
  // 0, 1 and 2 were made and finished 91 days ago; 1 finished again 5 days ago (its dead
  // letter replayed long after: a later dead letter of it may still be replayed), and 2 is
  // still sending (a try of a command replayed long after, say); 3 and 4 are recent.
  const auto age = [&](const std::string& id, const std::string& made,
                       const std::string& finished) {
    REQUIRE(fx.pool
                ->exec("UPDATE " + fx.schema +
                           ".outbound_messages SET created_at = now() - $2::interval, "
                           "finished_at = now() - $3::interval WHERE command_id = $1",
                       id, made, finished)
                .ok());
  };
  age(ids[0], "91 days", "91 days");
  age(ids[1], "91 days", "5 days");
  age(ids[2], "91 days", "91 days");
  age(ids[3], "89 days", "89 days");
  fx.set_in_flight(ids[2], kTo);

  core::ManualClock clock(std::chrono::system_clock::now());
  Retention retention(fx.store, clock, RetentionOptions{.keep = 24h * 90, .slice = 1});
  auto purged = retention.purge_once();
  REQUIRE(purged.ok());
  CHECK(*purged == 1);
  CHECK_FALSE(fx.row(ids[0]));
  CHECK(fx.row(ids[1]));
  CHECK(fx.row(ids[2]));
  CHECK(fx.row(ids[3]));
  CHECK(fx.row(ids[4]));
  // Nothing more is old enough, until time passes.
  CHECK(*retention.purge_once() == 0);
  clock.advance(24h * 2);
  CHECK(*retention.purge_once() == 1);
  CHECK_FALSE(fx.row(ids[3]));
  CHECK(fx.row(ids[2]));
  CHECK(fx.row(ids[1]));  // until 90 days after it finished again
}

TEST_CASE("the retention thread purges at start and stops at once") {
  Fixture fx;
  const auto id = new_id();
  REQUIRE(fx.handler
              ->handle(fx.command(events::types::notification_send_text,
                                  Fixture::text_data(id, "meta", kTo, "x")))
              .ok());
  core::ManualClock clock(std::chrono::system_clock::now() + 24h * 91);
  Retention retention(fx.store, clock, RetentionOptions{.keep = 24h * 90, .every = 1h});
  retention.start();
  // Its first round runs at once; the next would be an hour later: stop() does not wait it.
  for (int i = 0; i < 200 && fx.row(id); ++i) std::this_thread::sleep_for(50ms);
  CHECK_FALSE(fx.row(id));
  retention.stop();
}

}  // namespace
}  // namespace lia::notification::test
