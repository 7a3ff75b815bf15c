// The Kafka half of pg_test_helper: a relay and a consumer that SIGKILL themselves at the
// worst moment for crash safety.
//
//   pg_test_helper relay <schema> <batch_size> [--kill-after-ack]
//       publishes the schema's outbox; with --kill-after-ack it SIGKILLs itself once its first
//       batch is acknowledged by Kafka, before the rows are marked; otherwise it exits 0
//       when nothing is left unpublished.
//   pg_test_helper consume <schema> <topic> <group> <consumer> <kill_after>
//       applies each message with inbox_claim + an insert into <schema>.effects in one
//       transaction, and SIGKILLs itself right after the commit of the kill_after-th applied
//       message, before the consumer can store or commit its offset.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <lia/kafka/kafka.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/outbox_relay.hpp>
#include <lia/pg/pool.hpp>
#include <lia/pg/tx.hpp>

using namespace lia;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before threads start
  if (v == nullptr) {
    std::cerr << name << " is not set\n";
    std::exit(2);  // NOLINT(concurrency-mt-unsafe)
  }
  return v;
}

std::shared_ptr<pg::Pool> pool() {
  auto p = pg::Pool::create({.url = env("LIA_PG_URL"), .size = 2, .application_name = "pg-helper"});
  if (!p) {
    std::cerr << p.error().describe() << "\n";
    std::exit(1);  // NOLINT(concurrency-mt-unsafe)
  }
  return *p;
}

[[noreturn]] void die_now(const std::string& why) {
  std::cout << "SIGKILL: " << why << std::endl;
  ::kill(::getpid(), SIGKILL);
  std::abort();  // not reached
}

}  // namespace

int relay_main(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::cerr << "usage: pg_test_helper relay <schema> <batch_size> [--kill-after-ack]\n";
    return 2;
  }
  const std::string& schema = args[0];
  const bool kill = args.size() > 2 && args[2] == "--kill-after-ack";
  auto db = pool();
  auto producer = kafka::Producer::create(
      {.bootstrap = env("LIA_KAFKA_BOOTSTRAP"), .client_id = "pg-relay-helper"});
  if (!producer) {
    std::cerr << producer.error().describe() << "\n";
    return 1;
  }
  pg::OutboxRelayOptions options;
  options.batch_size = static_cast<std::size_t>(std::stoul(args[1]));
  options.poll_interval = std::chrono::milliseconds{200};
  if (kill) options.after_ack_before_mark = [] { die_now("first batch acknowledged, not marked"); };
  pg::OutboxRelay relay(db, std::shared_ptr<kafka::Producer>(std::move(*producer)), schema,
                        options);
  relay.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{2};
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = db->exec("SELECT count(*) FROM " + pg::quote_ident(schema) +
                         ".outbox WHERE published_at IS NULL");
    if (left && (*left)[0].get<std::int64_t>(0) == 0) {
      relay.stop();
      std::cout << "published=" << relay.published() << std::endl;
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  std::cerr << "timed out\n";
  return 3;
}

int consume_main(const std::vector<std::string>& args) {
  if (args.size() != 5) {
    std::cerr << "usage: pg_test_helper consume <schema> <topic> <group> <consumer> "
                 "<kill_after>\n";
    return 2;
  }
  const std::string& schema = args[0];
  const std::string& consumer_name = args[3];
  const int kill_after = std::stoi(args[4]);
  auto db = pool();
  int applied = 0;
  kafka::ConsumerConfig cfg;
  cfg.bootstrap = env("LIA_KAFKA_BOOTSTRAP");
  cfg.group_id = args[2];
  cfg.topics = {args[1]};
  cfg.client_id = "pg-consume-helper";
  cfg.session_timeout = std::chrono::milliseconds{6000};  // what the mock broker needs
  cfg.heartbeat_interval = std::chrono::milliseconds{500};
  auto consumer = kafka::Consumer::create(
      cfg,
      [&](const kafka::Message& m) -> core::Status {
        const std::string* id = m.header("lia.event_id");
        if (id == nullptr) return core::Error(core::Errc::invalid_argument, "no lia.event_id");
        auto r = pg::transact(*db, [&](pg::Tx& tx) -> core::Result<bool> {
          auto claimed = pg::inbox_claim(tx, schema, consumer_name, *id);
          if (!claimed) return claimed.error();
          if (*claimed) {
            auto e = tx.exec("INSERT INTO " + pg::quote_ident(schema) +
                                 ".effects (event_id, applied_by) VALUES ($1, $2)",
                             *id, "helper");
            if (!e) return e.error();
          }
          return *claimed;
        });
        if (!r) return r.error();
        if (*r && ++applied == kill_after) {
          die_now("message " + std::to_string(applied) + " committed, offset not stored");
        }
        return core::ok();
      },
      nullptr);
  if (!consumer) {
    std::cerr << consumer.error().describe() << "\n";
    return 1;
  }
  (*consumer)->start();
  std::this_thread::sleep_for(std::chrono::minutes{2});
  std::cerr << "timed out before the kill\n";
  (*consumer)->close();
  return 3;
}
