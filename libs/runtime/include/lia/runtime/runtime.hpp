#pragma once
// The service runtime: configuration, logging, metrics, the HTTP server, the database pool,
// the Kafka producer, the outbox relay, consumers and signal handling, composed once so a
// service's main.cpp is a few lines and its logic is a library its tests link:
//
//   int main(int argc, char** argv) {
//     return lia::runtime::run(argc, argv, lia::ingestion::spec(),
//                              std::make_unique<lia::ingestion::App>());
//   }
//
// Start order: settings (all problems reported at once, exit 2) → logger → database →
// producer → outbox relay → App::start (routes, consumers) → HTTP server → consumers.
// SIGTERM/SIGINT stop in reverse: consumers first (they never call into state that is
// gone), App::stop, HTTP (in-flight requests finish), outbox relay, producer flush, all
// within LIA_SHUTDOWN_GRACE_MS.
//
// Modes: `<binary>` runs the service; `<binary> --migrate` applies the schema's pending
// migrations (serialized by an advisory lock, so concurrent replicas are safe) and exits;
// `--migrate-down <version>` reverts to a version; `--help` lists the settings.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <lia/core/config.hpp>
#include <lia/core/log.hpp>
#include <lia/core/result.hpp>
#include <lia/http/router.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/pool.hpp>

namespace lia::runtime {

struct ServiceSpec {
  std::string name;  // "ingestion": logs, metrics, Kafka client id, default consumer group
  std::uint16_t default_port = 8080;
  std::string schema;  // the PostgreSQL schema it owns; empty: the service has no database
  // A setting that moves it to another schema ("LIA_NOTIFY_SCHEMA"; tests run services side
  // by side). run() reads and checks it with the other settings: Context::spec().schema is
  // the schema in use.
  std::string schema_setting;
  std::vector<pg::Migration> migrations;
  bool outbox = false;  // run the outbox relay for `schema`
  // /readyz checks PostgreSQL. false for a service whose requests never wait on it (the
  // webhook gateway): a database outage then leaves its pods in their Service's endpoints.
  bool database_in_readiness = true;
  // Memory for request bodies on the routes without a budget of their own
  // (http::ServerOptions::body_budget; http::RouteOptions::body_budget): a service whose large
  // bodies all go to routes with their own keeps little here.
  std::size_t http_body_budget = std::size_t{128} * 1024 * 1024;
};

// Every consumer handler must be idempotent: it claims its record in its schema's inbox (or
// keys its effect on the record), so a redelivered record has no second effect. That makes a
// record whose COMMIT's outcome is unknown (pg::commit_outcome_unknown) safe to handle again:
// the handler given to the consumer returns it as retryable (the partition waits and retries)
// instead of as a dead letter. Context::add_consumer wraps every handler with this.
kafka::Handler retry_unknown_commits(kafka::Handler handler);

// A check of GET /healthz, the liveness probe: a failure is one only a restart cures.
struct LivenessCheck {
  std::string name;
  std::function<core::Status()> check;
  std::string code = "not_alive";  // the 503's error code when it fails
};

// GET /healthz: 200, or 503 with the first failing check's code, naming it. The runtime's
// own: its Kafka producer hit no fatal error, which a producer never recovers from (the outbox
// relay would keep failing while holding its schema's lock), and neither did any of its
// consumers (one would consume nothing more while the pod looked healthy).
http::Response liveness(const std::vector<LivenessCheck>& checks);

// A producer's health: failed once it hit a fatal error.
core::Status producer_alive(const kafka::Producer& producer);
// That, as a liveness check (code kafka_producer_failed).
LivenessCheck producer_liveness(std::string name, std::shared_ptr<const kafka::Producer> producer);
// A consumer's health, likewise; `group` names it in the error.
core::Status consumer_alive(const kafka::Consumer& consumer, std::string_view group);

struct ConsumerSpec {
  std::vector<std::string> topics;
  kafka::Handler handler;
  // Default "lia-<service>"; another must start with "lia-<service>." or "lia-<service>-" (its
  // KafkaUser's ACLs allow only those; the start fails otherwise).
  std::string group;
  bool dead_letter = true;
  // Records fetched together are handled in one database transaction (up to
  // LIA_CONSUMER_BATCH of them; see lia/pg/batch.hpp). Only for handlers whose every effect
  // is in the service's database: one that calls out (an HTTP API, say) sets false.
  bool batch = true;
  // A batch first takes a transaction-level advisory lock on each of its records' keys, in
  // one sorted order (with its BEGIN, no round trip of its own): batches of different groups
  // that touch the same keys' rows (a chat's conversation, from several topics) then wait for
  // each other in turn instead of deadlocking (40P01, a one-second wait and a rerun of both
  // batches one record at a time). A record handled alone (the only one fetched, or a
  // batch's rerun) takes none.
  bool lock_keys = false;
  // The longest one record may take to handle, when it can exceed a few minutes (a handler
  // that calls out with retries): the consumer's max.poll.interval.ms is raised to cover it
  // with a minute to spare, so the group does not give its partitions away mid-record, and
  // it is the consumer's ConsumerConfig::longest_call: no further try or record starts once
  // what is left of the interval would not cover one more such call (the record parks, and
  // is tried again after a poll). notification's row carries its provider tries across the
  // consumer's, so one call's worst case covers the record.
  std::chrono::milliseconds max_handling{0};
  // At least this long an empty fetch may wait (fetch.wait.max.ms), and its records are then
  // fetched a batch at a time, for a consumer that is not latency-critical and reads a busy
  // topic for a few of its records: fewer fetch round trips. 0: LIA_KAFKA_FETCH_WAIT_MS, as
  // every other consumer.
  std::chrono::milliseconds relaxed_fetch{0};
};

class Context {
 public:
  virtual ~Context() = default;
  virtual const core::CommonConfig& config() const = 0;
  virtual const ServiceSpec& spec() const = 0;
  virtual const core::Logger& log() const = 0;
  virtual http::Router& router() = 0;
  virtual std::shared_ptr<kafka::Producer> producer() = 0;
  virtual std::shared_ptr<pg::Pool> pool() = 0;  // null when spec().schema is empty
  // The librdkafka properties of LIA_KAFKA_PROPERTIES and LIA_KAFKA_SECRET_PROPERTIES (TLS,
  // SASL): a Kafka client the service makes itself must use them too, as the runtime's do.
  virtual const std::map<std::string, std::string>& kafka_properties() const = 0;
  // Consumers start after the HTTP server and stop before anything else.
  virtual void add_consumer(ConsumerSpec spec) = 0;
  // Extra /readyz checks beside postgres, kafka and kafka_consumers (every consumer has had
  // its group's first assignment).
  virtual void add_readiness(std::string name, std::function<core::Status()> check) = 0;
  // Extra /healthz checks beside the runtime's producer: a failure makes the orchestrator
  // restart the pod, so only for what a restart cures (a Kafka client of the service's own
  // with a fatal error, say).
  virtual void add_liveness(LivenessCheck check) = 0;
};

class App {
 public:
  virtual ~App() = default;
  // Reads the service's own settings; their problems are reported with the common ones.
  virtual void configure(core::Env& env) { (void)env; }
  // Wires routes, consumers and background work.
  virtual core::Status start(Context& ctx) = 0;
  // As soon as SIGTERM arrives, before the consumers close: ends the waits a handler may be in
  // (backoffs, rate limits), so that each consumer's current record ends soon. Handlers may
  // still be running, and may be called again, until the consumers have closed.
  virtual void stopping() {}
  // After consumers stopped, before the HTTP server stops.
  virtual void stop() {}
};

// Runs the service until SIGTERM/SIGINT; returns the process exit code (0 clean, 1 failed,
// 2 bad configuration or arguments).
int run(int argc, char** argv, const ServiceSpec& spec, std::unique_ptr<App> app);

}  // namespace lia::runtime
