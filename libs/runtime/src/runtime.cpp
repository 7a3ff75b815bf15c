#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <lia/core/metrics.hpp>
#include <lia/events/names.hpp>
#include <lia/events/topic_catalog.hpp>
#include <lia/http/server.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/migrate.hpp>
#include <lia/pg/outbox_relay.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::runtime {
namespace {

using Clock = std::chrono::steady_clock;
using core::f::id;
using core::f::num;
using core::f::str;

struct Args {
  enum class Mode { serve, migrate, migrate_down, help } mode = Mode::serve;
  int down_to = 0;
};

core::Result<Args> parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--migrate") {
      a.mode = Args::Mode::migrate;
    } else if (arg == "--migrate-down") {
      if (i + 1 >= argc)
        return core::Error(core::Errc::invalid_argument, "--migrate-down needs a version");
      a.mode = Args::Mode::migrate_down;
      try {
        a.down_to = std::stoi(argv[++i]);
      } catch (const std::exception&) {
        return core::Error(core::Errc::invalid_argument, "--migrate-down needs an integer version");
      }
    } else if (arg == "--help" || arg == "-h") {
      a.mode = Args::Mode::help;
    } else {
      return core::Error(core::Errc::invalid_argument, fmt::format("unknown argument '{}'", arg));
    }
  }
  return a;
}

class ServiceContext final : public Context {
 public:
  ServiceContext(const ServiceSpec& spec, core::CommonConfig config,
                 std::map<std::string, std::string> kafka_properties)
      : spec_(spec),
        config_(std::move(config)),
        kafka_properties_(std::move(kafka_properties)),
        log_(core::log().with({id("component", "runtime")})) {}

  const core::CommonConfig& config() const override { return config_; }
  const ServiceSpec& spec() const override { return spec_; }
  const core::Logger& log() const override { return log_; }
  http::Router& router() override { return router_; }
  std::shared_ptr<kafka::Producer> producer() override { return producer_; }
  std::shared_ptr<pg::Pool> pool() override { return pool_; }
  const std::map<std::string, std::string>& kafka_properties() const override {
    return kafka_properties_;
  }
  void add_consumer(ConsumerSpec spec) override { consumer_specs_.push_back(std::move(spec)); }
  void add_readiness(std::string name, std::function<core::Status()> check) override {
    checks_.emplace_back(std::move(name), std::move(check));
  }
  void add_liveness(LivenessCheck check) override { liveness_.push_back(std::move(check)); }

  const ServiceSpec& spec_;
  core::CommonConfig config_;
  std::map<std::string, std::string> kafka_properties_;
  core::Logger log_;
  http::Router router_;
  std::shared_ptr<kafka::Producer> producer_;
  std::shared_ptr<pg::Pool> pool_;
  std::vector<ConsumerSpec> consumer_specs_;
  std::vector<std::pair<std::string, std::function<core::Status()>>> checks_;
  std::vector<LivenessCheck> liveness_;
};

// The executable's name: "lia-nps-gamification" for the service nps_gamification.
std::string binary_name(const ServiceSpec& spec) {
  std::string name = "lia-" + spec.name;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

void print_help(const ServiceSpec& spec) {
  std::cout << fmt::format(
      "{2}: the LIA Cortex {0} service.\n\n"
      "usage: {2} [--migrate | --migrate-down <version> | --help]\n\n"
      "Settings (environment):\n"
      "  LIA_HTTP_PORT           REST API, /healthz, /readyz, /metrics (default {1})\n"
      "  LIA_HTTP_ADDRESS        address to listen on (default 0.0.0.0: every interface)\n"
      "  LIA_KAFKA_BOOTSTRAP     Kafka bootstrap servers (default 127.0.0.1:9092)\n"
      "  LIA_PG_URL              PostgreSQL URI (default postgresql://lia@127.0.0.1:54329/lia)\n"
      "  LIA_LOG_LEVEL           debug|info|warn|error (default info)\n"
      "  LIA_LOG_UNMASK          show personal data in logs (default false)\n"
      "  LIA_SHUTDOWN_GRACE_MS   SIGTERM grace period (default 25000); still stopping 2 s past\n"
      "                          it, the service exits with status 3, naming the stuck step\n"
      "  LIA_PG_POOL_SIZE        database connections (default 8)\n"
      "  LIA_PG_LOCK_TIMEOUT_MS  longest wait for a database lock (default 30000; 0: none)\n"
      "  LIA_PG_STATEMENT_TIMEOUT_MS longest a statement runs (default 60000; 0: none)\n"
      "  LIA_CONSUMER_BATCH      records fetched together that share one transaction "
      "(default 100; 1: each alone)\n"
      "  LIA_CONSUMER_BATCH_MS   a batch commits once its records took this long (default 100)\n"
      "  LIA_KAFKA_FETCH_WAIT_MS longest a broker may hold an empty fetch (default 50)\n"
      "  LIA_KAFKA_PROPERTIES    more librdkafka properties for every client: name=value;...\n"
      "                          (e.g. security.protocol=SASL_SSL;sasl.mechanism=PLAIN)\n"
      "  LIA_KAFKA_SECRET_PROPERTIES  the same for secrets (sasl.password=...), never logged\n"
      "  LIA_OUTBOX_RETENTION_HOURS  keep published outbox rows this long (default 0: delete "
      "once in Kafka)\n"
      "  LIA_INBOX_RETENTION_HOURS  keep consumers' inbox claims this long (default 1080; 0 "
      "keeps all; at least 720)\n"
      "See services/{0}/README.md for the service's own settings.\n",
      spec.name, spec.default_port, binary_name(spec));
}

// Blocks the stop signals in this thread and every thread it starts later, so that only
// the main thread sees them, through sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

std::chrono::milliseconds left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return d.count() > 0 ? d : std::chrono::milliseconds{0};
}

// Ends a shutdown that outlives its grace period. A library call that never returns (a Kafka
// client waiting for an answer that no longer comes, say) would otherwise keep the pod in
// Terminating until the orchestrator's SIGKILL, and nothing would say where it stuck. Armed
// at SIGTERM; when the deadline passes it logs the step in progress and exits with
// kShutdownTimeoutExit, skipping whatever is left (offsets already committed stay committed;
// the rest comes again, and the inboxes make that harmless).
constexpr int kShutdownTimeoutExit = 3;

class ShutdownWatch {
 public:
  ShutdownWatch() = default;
  ShutdownWatch(const ShutdownWatch&) = delete;
  ShutdownWatch& operator=(const ShutdownWatch&) = delete;
  ~ShutdownWatch() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void arm(Clock::time_point deadline, std::chrono::milliseconds grace) {
    thread_ = std::thread([this, deadline, grace] {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, deadline, [this] { return done_; })) return;
      core::log().error("shutdown did not finish within its grace period; exiting now",
                        {id("component", "runtime"), id("step", step_.load()),
                         num("grace_ms", grace.count()), num("exit_code", kShutdownTimeoutExit)});
      std::_Exit(kShutdownTimeoutExit);
    });
  }

  void step(const char* what) { step_.store(what); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<const char*> step_{"stopping"};
  std::thread thread_;
};

// What a schema setting may name: a lower-case SQL identifier, used without quoting trouble.
bool valid_schema_name(const std::string& s) {
  if (s.empty() || s.size() > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

int migrate(const ServiceSpec& spec, const core::CommonConfig& cfg, const Args& args) {
  const auto& log = core::log();
  if (spec.schema.empty()) {
    log.info("no database schema: nothing to migrate");
    return 0;
  }
  if (args.mode == Args::Mode::migrate) {
    // The platform tables (outbox, inbox) first, then the service's own.
    pg::Migrator platform(cfg.pg_url, spec.schema, pg::kPlatformComponent,
                          pg::platform_migrations());
    auto p = platform.up();
    if (!p.ok()) {
      log.error("platform migration failed",
                {id("schema", spec.schema), str("error", p.error().describe())});
      return 1;
    }
  }
  pg::Migrator migrator(cfg.pg_url, spec.schema, spec.name, spec.migrations);
  auto n = args.mode == Args::Mode::migrate ? migrator.up() : migrator.down(args.down_to);
  if (!n.ok()) {
    log.error("migration failed", {id("schema", spec.schema), str("error", n.error().describe())});
    return 1;
  }
  log.info(args.mode == Args::Mode::migrate ? "migrations applied" : "migrations reverted",
           {id("schema", spec.schema), num("count", *n)});
  return 0;
}

// The migrations this binary knows and the schema lacks (the platform's, then the service's),
// as "component NNNN_name". A schema newer than the binary (a rollout's old pods after the
// migration Job) lacks none.
core::Result<std::vector<std::string>> missing_migrations(const ServiceSpec& spec,
                                                          const std::shared_ptr<pg::Pool>& pool) {
  std::vector<std::string> missing;
  const std::pair<std::string, const std::vector<pg::Migration>*> lists[] = {
      {pg::kPlatformComponent, &pg::platform_migrations()}, {spec.name, &spec.migrations}};
  for (const auto& [component, migrations] : lists) {
    pg::Migrator m(pool, spec.schema, component, *migrations);
    auto states = m.status();
    if (!states) return states.error();
    for (const auto& s : *states) {
      if (s.known && !s.applied)
        missing.push_back(fmt::format("{} {:04}_{}", component, s.version, s.name));
    }
  }
  return missing;
}

// New code on a schema without its migrations fails record after record (and dead-letters
// some): the service starts only once the schema has them. A rollout whose migration Job has
// not run yet (or failed) waits here, saying what is missing, and goes on within seconds of
// the Job; the old pods keep serving meanwhile. While it waits, its port answers the probes
// (alive, not ready), so a Job longer than the startup probe's minute brings no restarts. A
// database it cannot read them from holds the start too (a failover during a rollout must not
// let new code on an old schema), except for a service whose readiness does not need the
// database (ingestion serves webhooks without it). False: stopped (SIGTERM, SIGINT) while
// waiting.
bool wait_for_migrations(const ServiceSpec& spec, const core::CommonConfig& config,
                         const std::shared_ptr<pg::Pool>& pool, const sigset_t& stop_signals) {
  const auto& log = core::log();
  auto next_log = Clock::now();
  std::unique_ptr<http::Server> probes;  // until the service's own server starts
  bool probes_tried = false;             // (a port it cannot take is not tried every 2 s)
  struct StopProbes {
    std::unique_ptr<http::Server>& server;
    ~StopProbes() {
      if (server) server->stop(std::chrono::seconds{1});
    }
  } stop_probes{probes};
  for (;;) {
    auto missing = missing_migrations(spec, pool);
    if (!missing && !spec.database_in_readiness) {
      log.warn("cannot read the schema's migrations: starting without checking them",
               {id("schema", spec.schema), str("error", missing.error().describe())});
      return true;
    }
    if (missing && missing->empty()) return true;
    if (!missing) {
      if (Clock::now() >= next_log) {
        next_log = Clock::now() + std::chrono::seconds{30};
        log.error("cannot read the schema's migrations: waiting for the database before starting",
                  {id("schema", spec.schema), str("error", missing.error().describe())});
      }
    } else if (Clock::now() >= next_log) {
      next_log = Clock::now() + std::chrono::seconds{30};
      std::string list;
      for (const auto& m : *missing) list += (list.empty() ? "" : ", ") + m;
      log.error(fmt::format("waiting for the schema's migrations: run `{} --migrate` (the "
                            "migration Job) first",
                            binary_name(spec)),
                {id("schema", spec.schema), str("missing", list)});
    }
    if (!probes_tried) {
      probes_tried = true;
      http::Router router;
      router.add("GET", "/healthz", [](const http::Request&) {
        return http::Response::json(200, R"({"status":"waiting for migrations"})");
      });
      const std::string waiting =
          fmt::format("waiting for migrations: run {} --migrate", binary_name(spec));
      http::ServerOptions so;
      so.address = config.http_address;
      so.port = config.http_port;
      probes = std::make_unique<http::Server>(so, std::move(router), [waiting] {
        return std::vector<http::Check>{{"migrations", false, waiting}};
      });
      if (auto st = probes->start(); !st.ok()) {
        log.warn("cannot answer the probes while waiting for migrations",
                 {str("error", st.error().describe())});
        probes.reset();
      }
    }
    const timespec pause{2, 0};
    if (sigtimedwait(&stop_signals, nullptr, &pause) > 0) {
      log.info("stopped while waiting for the schema's migrations");
      return false;
    }
  }
}

// Records a consumer handles together share one database transaction (group commit).
class TransactionScope final : public kafka::BatchScope {
 public:
  explicit TransactionScope(std::unique_ptr<pg::Batch> batch) : batch_(std::move(batch)) {}
  core::Status commit() override { return batch_->commit(); }
  bool failed() const override { return batch_->failed(); }

 private:
  std::unique_ptr<pg::Batch> batch_;
};

// The consumers /readyz waits for, once they exist.
struct Joining {
  std::mutex mu;
  std::vector<std::pair<std::string, const kafka::Consumer*>> consumers;  // (group, consumer)
};

}  // namespace

core::Status producer_alive(const kafka::Producer& producer) {
  if (auto fatal = producer.fatal_error()) {
    return core::Error(fatal->code(), "the Kafka producer hit a fatal error: " + fatal->message(),
                       false);
  }
  return core::ok();
}

core::Status consumer_alive(const kafka::Consumer& consumer, std::string_view group) {
  if (auto fatal = consumer.fatal_error()) {
    return core::Error(fatal->code(),
                       fmt::format("the Kafka consumer of group {} hit a fatal error: {}", group,
                                   fatal->message()),
                       false);
  }
  if (auto stuck = consumer.stalled()) {
    return core::Error(stuck->code(),
                       fmt::format("the Kafka consumer of group {}: {}", group, stuck->message()),
                       false);
  }
  return core::ok();
}

LivenessCheck producer_liveness(std::string name, std::shared_ptr<const kafka::Producer> producer) {
  return {std::move(name), [p = std::move(producer)] { return producer_alive(*p); },
          "kafka_producer_failed"};
}

http::Response liveness(const std::vector<LivenessCheck>& checks) {
  for (const auto& c : checks) {
    if (auto st = c.check(); !st.ok()) {
      return http::json_error(503, c.code, c.name + ": " + st.error().message());
    }
  }
  return http::Response::json(200, R"({"status":"ok"})");
}

kafka::Handler retry_unknown_commits(kafka::Handler handler) {
  return [handler = std::move(handler)](const kafka::Message& message) -> core::Status {
    auto status = handler(message);
    if (!status.ok() && pg::commit_outcome_unknown(status.error())) {
      return core::Error(core::Errc::unavailable,
                         status.error().message() + "; handled again (the inbox makes it safe)",
                         true);
    }
    return status;
  };
}

namespace {

std::string group_of(const ConsumerSpec& cs, const std::string& dashed) {
  return cs.group.empty() ? dashed : cs.group;
}

// What the service's KafkaUser would be refused in production (k8s/kafka/users.yaml, made from
// the catalog): a consumer group not named after the service, or a catalog topic the catalog
// doesn't let it read. Topics outside the catalog (the tests' own) are the caller's business.
std::optional<std::pair<std::string, std::vector<core::Field>>> consumer_problem(
    const ServiceSpec& spec, const std::string& dashed, const ConsumerSpec& cs) {
  const std::string group = group_of(cs, dashed);
  if (group != dashed && !group.starts_with(dashed + ".") && !group.starts_with(dashed + "-")) {
    return std::pair{std::string("a consumer group must be named after its service"),
                     std::vector<core::Field>{id("group", group), id("expected_prefix", dashed)}};
  }
  for (const auto& topic : cs.topics) {
    const auto* t = events::TopicCatalog::instance().find(topic);
    if (t != nullptr &&
        std::find(t->consumers.begin(), t->consumers.end(), spec.name) == t->consumers.end()) {
      return std::pair{
          std::string("the topic catalog does not list this service as a consumer of the topic"),
          std::vector<core::Field>{id("topic", topic),
                                   id("catalog", "proto-schemas/catalog.json")}};
    }
  }
  return std::nullopt;
}

}  // namespace

int run(int argc, char** argv, const ServiceSpec& declared, std::unique_ptr<App> app) {
  ServiceSpec spec = declared;  // its schema may be moved by a setting, read below
  const sigset_t stop_signals = block_stop_signals();

  auto args = parse_args(argc, argv);
  if (!args.ok()) {
    std::cerr << binary_name(spec) << ": " << args.error().message() << " (try --help)\n";
    return 2;
  }
  if (args->mode == Args::Mode::help) {
    print_help(spec);
    return 0;
  }

  // ---- settings: every problem at once, each naming its variable -----------------------
  core::Env env;
  auto config = core::CommonConfig::read(env, spec.name, spec.default_port);
  if (!config.pg_url.empty()) {
    if (auto st = pg::check_url(config.pg_url); !st.ok()) {
      env.problem("LIA_PG_URL", st.error().message());
    }
  }
  const auto pool_size = static_cast<std::size_t>(env.integer("LIA_PG_POOL_SIZE", 8, 1, 200));
  // A lock that is not let go (a migration's, an open transaction in psql) fails the waiting
  // statement retryably instead of holding a consumer past its poll interval or an API request
  // for ever.
  const auto lock_timeout =
      std::chrono::milliseconds{env.integer("LIA_PG_LOCK_TIMEOUT_MS", 30000, 0, 3600000)};
  // A statement that turned slow (a plan gone wrong, a table bloated) fails retryably instead
  // of holding a consumer or an API request without end: the request's client gave up long
  // before, and a retry of it would then run beside the first.
  const auto statement_timeout =
      std::chrono::milliseconds{env.integer("LIA_PG_STATEMENT_TIMEOUT_MS", 60000, 0, 3600000)};
  const auto outbox_retention =
      std::chrono::hours{env.integer("LIA_OUTBOX_RETENTION_HOURS", 0, 0, std::int64_t{24} * 90)};
  // 45 days: past the longest topic retention of the catalog (30 days), so a record a
  // consumer is given again always meets its claim.
  const auto inbox_retention = std::chrono::hours{
      env.integer("LIA_INBOX_RETENTION_HOURS", std::int64_t{24} * 45, 0, std::int64_t{24} * 3650)};
  if (inbox_retention.count() > 0 && inbox_retention < std::chrono::hours{24 * 30}) {
    env.problem("LIA_INBOX_RETENTION_HOURS",
                fmt::format("must be 0 (keep every claim) or at least 720 (30 days, the longest "
                            "topic retention), got {}: a record given again after its claim "
                            "was deleted would be handled twice",
                            inbox_retention.count()));
  }
  const auto fetch_wait =
      std::chrono::milliseconds{env.integer("LIA_KAFKA_FETCH_WAIT_MS", 50, 1, 5000)};
  const auto kafka_props = kafka::properties_from_env(env);
  if (!spec.schema_setting.empty()) {
    spec.schema = env.string(spec.schema_setting, spec.schema);
    if (!valid_schema_name(spec.schema)) {
      env.problem(spec.schema_setting, "expected a lower-case SQL name, got '" + spec.schema + "'");
    }
  }
  const auto consumer_batch_time =
      std::chrono::milliseconds{env.integer("LIA_CONSUMER_BATCH_MS", 100, 1, 60000)};
  const auto consumer_batch =
      static_cast<std::size_t>(env.integer("LIA_CONSUMER_BATCH", 100, 1, 1000));
  // --migrate checks every setting too: a bad one then stops the migration Job that runs
  // before a rollout (it has the Deployment's environment) instead of the new pods.
  app->configure(env);
  try {
    env.check();
  } catch (const core::ConfigError& e) {
    std::cerr << binary_name(spec) << ": " << e.what() << "\n";
    return 2;
  }

  core::Logger::Options lo;
  lo.service = spec.name;
  lo.level = core::parse_level(config.log_level);
  lo.unmask = config.log_unmask;
  core::set_log(core::Logger(lo));
  const auto& log = core::log();

  if (args->mode != Args::Mode::serve) return migrate(spec, config, *args);

  {
    std::vector<core::Field> fields;
    for (const auto& [name, shown] : env.summary()) fields.push_back(str(name, shown));
    log.log(core::Level::info, "starting", fields);
  }
  core::metrics().gauge("lia_build_info", "Build information", {{"service", spec.name}}).set(1);

  ShutdownWatch watch;  // before everything it may have to cut short, so destroyed after it
  ServiceContext ctx(spec, config, kafka_props);
  // "lia-nps-gamification": Kafka client ids and consumer groups use dashes.
  const std::string dashed = binary_name(spec);

  // ---- database, producer, outbox ------------------------------------------------------
  if (!spec.schema.empty()) {
    pg::PoolConfig pc;
    pc.url = config.pg_url;
    pc.size = pool_size;
    pc.application_name = "lia-" + spec.name;
    pc.lock_timeout = lock_timeout;
    pc.statement_timeout = statement_timeout;
    auto pool = pg::Pool::create(pc);
    if (!pool.ok()) {
      log.error("cannot connect to PostgreSQL", {str("error", pool.error().describe())});
      return 1;
    }
    ctx.pool_ = std::move(pool).value();
    if (!wait_for_migrations(spec, config, ctx.pool_, stop_signals)) return 0;
  }

  kafka::ProducerConfig kc;
  kc.bootstrap = config.kafka_bootstrap;
  kc.client_id = dashed;
  kc.properties = kafka_props;
  auto producer = kafka::Producer::create(kc);
  if (!producer.ok()) {
    log.error("cannot create the Kafka producer", {str("error", producer.error().describe())});
    return 1;
  }
  ctx.producer_ = std::shared_ptr<kafka::Producer>(std::move(producer).value());

  std::unique_ptr<pg::OutboxRelay> relay;
  if (spec.outbox && ctx.pool_) {
    pg::OutboxRelayOptions ro;
    ro.retention = outbox_retention;
    ro.inbox_retention = inbox_retention;
    for (const auto& t : events::TopicCatalog::instance().topics()) {
      if (t.cleanup == events::Cleanup::compact) ro.compacted_topics.push_back(t.name);
    }
    relay = std::make_unique<pg::OutboxRelay>(ctx.pool_, ctx.producer_, spec.schema, ro);
    relay->start();
  }

  // ---- the service's own wiring --------------------------------------------------------
  if (auto st = app->start(ctx); !st.ok()) {
    log.error("service failed to start", {str("error", st.error().describe())});
    if (relay) relay->stop();
    return 1;
  }
  for (const auto& cs : ctx.consumer_specs_) {
    if (auto problem = consumer_problem(spec, dashed, cs)) {
      log.log(core::Level::error, problem->first, problem->second);
      if (relay) relay->stop();
      return 1;
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------
  // Ready only once every consumer has joined its group: a record published before that is
  // not lost (it waits in Kafka), but it waits for the group's first rebalance, seconds.
  auto joining = std::make_shared<Joining>();
  auto readiness = [&ctx, joining, with_database = spec.database_in_readiness]() {
    std::vector<http::Check> checks;
    if (ctx.pool_ && with_database) {
      auto st = ctx.pool_->ping();
      checks.push_back({"postgres", st.ok(), st.ok() ? "" : st.error().describe()});
    }
    auto k = ctx.producer_->ping(std::chrono::seconds{2});
    checks.push_back({"kafka", k.ok(), k.ok() ? "" : k.error().describe()});
    for (const auto& [name, check] : ctx.checks_) {
      auto st = check();
      checks.push_back({name, st.ok(), st.ok() ? "" : st.error().describe()});
    }
    if (!ctx.consumer_specs_.empty()) {
      std::lock_guard lock(joining->mu);
      std::string waiting;
      if (joining->consumers.empty()) waiting = "the consumers are not started yet";
      for (const auto& [group, consumer] : joining->consumers) {
        if (waiting.empty() && !consumer->joined()) {
          waiting = fmt::format("waiting for the first assignment of group {}", group);
        }
      }
      checks.push_back({"kafka_consumers", waiting.empty(), waiting});
    }
    return checks;
  };
  // Alive unless the Kafka producer hit a fatal error: it does not recover from one (an
  // idempotent producer's sequence is broken, say), the outbox relay would keep failing while
  // holding its schema's lock, and only a restart helps, which a failing liveness probe brings.
  // Nor any consumer (fenced, say): it would consume nothing more while the pod looked alive;
  // nor one whose poll thread is stuck in a handler (stalled()).
  if (!ctx.router_.has_pattern("/healthz")) {
    std::vector<LivenessCheck> alive{producer_liveness("kafka_producer", ctx.producer_)};
    alive.push_back({"kafka_consumers",
                     [joining]() -> core::Status {
                       std::lock_guard lock(joining->mu);
                       for (const auto& [group, consumer] : joining->consumers) {
                         if (auto st = consumer_alive(*consumer, group); !st.ok()) return st;
                       }
                       return core::ok();
                     },
                     "kafka_consumer_failed"});
    for (auto& c : ctx.liveness_) alive.push_back(std::move(c));
    ctx.router_.add("GET", "/healthz",
                    [alive = std::move(alive)](const http::Request&) { return liveness(alive); });
  }
  http::ServerOptions so;
  so.address = config.http_address;
  so.port = config.http_port;
  so.body_budget = spec.http_body_budget;
  http::Server server(so, std::move(ctx.router_), readiness);
  if (auto st = server.start(); !st.ok()) {
    log.error("cannot start the HTTP server",
              {str("error", st.error().describe()), num("port", config.http_port)});
    if (relay) relay->stop();
    return 1;
  }

  // ---- consumers, last ----------------------------------------------------------------
  // A batching consumer holds a connection for its whole batch: keep some for the rest (the
  // REST API, unbatched consumers, background work).
  if (ctx.pool_ && consumer_batch > 1) {
    std::size_t batching = 0;
    for (const auto& cs : ctx.consumer_specs_) batching += cs.batch ? 1 : 0;
    if (batching + 4 > ctx.pool_->size()) {
      log.info("database pool grown for the batching consumers",
               {num("from", static_cast<std::int64_t>(ctx.pool_->size())),
                num("to", static_cast<std::int64_t>(batching + 4)),
                num("batching_consumers", static_cast<std::int64_t>(batching))});
      ctx.pool_->grow_to(batching + 4);
    }
  }
  std::vector<std::unique_ptr<kafka::Consumer>> consumers;
  auto dead_letter = std::make_shared<kafka::DeadLetter>(ctx.producer_);
  for (auto& cs : ctx.consumer_specs_) {
    kafka::ConsumerConfig cc;
    cc.bootstrap = config.kafka_bootstrap;
    cc.group_id = group_of(cs, dashed);
    cc.client_id = dashed;
    cc.properties = kafka_props;
    cc.topics = cs.topics;
    cc.fetch_wait = fetch_wait;
    // (With a global wait as long or longer, as in production, the wait is that one; the
    // batching below still holds.)
    if (cs.relaxed_fetch.count() > 0) {
      cc.fetch_wait = std::max(fetch_wait, cs.relaxed_fetch);
      // A broker answers a fetch once this much is there, or the wait is over.
      cc.properties.try_emplace("fetch.min.bytes", "65536");
    }
    if (cs.max_handling.count() > 0) {
      // A member that does not poll within max.poll.interval.ms leaves the group, and its
      // partitions go to another member while its record is still being handled.
      const auto needed = cs.max_handling + std::chrono::seconds{60};
      const auto configured = kafka::max_poll_interval(kafka_props);
      cc.longest_call = cs.max_handling;
      if (needed > configured) {
        cc.properties["max.poll.interval.ms"] = std::to_string(needed.count());
        log.info("max.poll.interval.ms raised to cover the longest record's handling",
                 {id("group", cc.group_id), num("from_ms", configured.count()),
                  num("to_ms", static_cast<std::int64_t>(needed.count()))});
      }
    }
    kafka::BatchOpener open_batch;
    if (cs.batch && ctx.pool_ && consumer_batch > 1) {
      cc.max_batch = consumer_batch;
      cc.max_batch_time = consumer_batch_time;
      // The locks are the database's: named after the service's schema.
      const std::string lock_prefix = ctx.spec().schema + ".key:";
      open_batch = [pool = ctx.pool_, lock_keys = cs.lock_keys,
                    lock_prefix](std::span<const kafka::Message> records)
          -> core::Result<std::unique_ptr<kafka::BatchScope>> {
        auto batch = pg::Batch::open(*pool);
        if (!batch) return batch.error();
        if (lock_keys) {
          std::vector<std::string_view> keys;
          keys.reserve(records.size());
          for (const auto& r : records) {
            if (!r.key.empty()) keys.emplace_back(r.key);
          }
          std::sort(keys.begin(), keys.end());
          keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
          std::string list = "{";
          for (auto k : keys) pg::append_array_element(list, k);
          list += '}';
          (*batch)->connection().defer(
              "SELECT pg_advisory_xact_lock(hashtextextended($2 || k, 0)) FROM "
              "unnest($1::text[]) AS u(k)",
              pg::make_params(list, lock_prefix));
        }
        // Every record the relays and ingestion publish names its event: the batch claims
        // them in the inbox with one look-up and one INSERT.
        std::vector<std::string> ids;
        ids.reserve(records.size());
        for (const auto& r : records) {
          if (const std::string* id = r.header(events::headers::event_id)) ids.push_back(*id);
        }
        (*batch)->expect(std::move(ids));
        return std::unique_ptr<kafka::BatchScope>(
            std::make_unique<TransactionScope>(std::move(*batch)));
      };
    }
    auto consumer =
        kafka::Consumer::create(cc, retry_unknown_commits(cs.handler),
                                cs.dead_letter ? dead_letter : nullptr, std::move(open_batch));
    if (!consumer.ok()) {
      log.error("cannot create a consumer",
                {id("group", cc.group_id), str("error", consumer.error().describe())});
      server.stop(std::chrono::seconds{1});
      if (relay) relay->stop();
      return 1;
    }
    (*consumer)->start();
    consumers.push_back(std::move(consumer).value());
  }
  {
    std::lock_guard lock(joining->mu);
    for (std::size_t i = 0; i < consumers.size(); ++i) {
      joining->consumers.emplace_back(group_of(ctx.consumer_specs_[i], dashed), consumers[i].get());
    }
  }
  log.info("ready", {num("port", server.port()),
                     num("consumers", static_cast<std::int64_t>(consumers.size()))});

  // ---- wait for SIGTERM / SIGINT --------------------------------------------------------
  int sig = 0;
  sigwait(&stop_signals, &sig);
  const auto deadline = Clock::now() + config.shutdown_grace;
  log.info("stopping", {id("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
                        num("grace_ms", config.shutdown_grace.count())});

  // The steps below use the grace period; the watch allows a little more for the last ones
  // (and the destructors after them) before it ends the process.
  watch.arm(deadline + std::chrono::seconds{2}, config.shutdown_grace);
  watch.step("ending the service's waits");
  app->stopping();
  watch.step("closing the Kafka consumers");
  // All at once: each waits for its current record, and one closing after another would let
  // the others take new records meanwhile.
  {
    std::vector<std::thread> closing;
    closing.reserve(consumers.size());
    for (auto& c : consumers) closing.emplace_back([&c] { c->close(); });
    for (auto& t : closing) t.join();
  }
  watch.step("stopping the service");
  app->stop();
  watch.step("stopping the HTTP server");
  server.stop(left(deadline));
  {
    std::lock_guard lock(joining->mu);
    joining->consumers.clear();  // /readyz no longer reads them
  }
  watch.step("stopping the outbox relay");
  if (relay) relay->stop();
  watch.step("flushing the Kafka producer");
  if (auto st = ctx.producer_->flush(left(deadline)); !st.ok()) {
    // Kafka is unreachable: what is left is given up now (an outbox row stays unmarked and
    // goes again; a webhook never answered 200 comes again from its provider), not waited
    // out again by the producer's close, past the stop's deadline (exit code 3).
    log.warn("producer not fully flushed; giving up on the rest",
             {str("error", st.error().describe())});
    ctx.producer_->abandon();
    (void)ctx.producer_->flush(
        std::min<std::chrono::milliseconds>(left(deadline), std::chrono::seconds{2}));
  }
  // The service's own clients go under the watch too (a parameter would outlive it).
  watch.step("releasing the service");
  app.reset();
  log.info("stopped");
  watch.step("releasing the clients");
  return 0;
}

}  // namespace lia::runtime
