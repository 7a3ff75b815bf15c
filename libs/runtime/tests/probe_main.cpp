// lia-runtime-probe: the smallest service on the runtime, for the runtime's own tests. It
// owns the schema named by LIA_PROBE_SCHEMA, serves GET /probe, and stores every record of
// LIA_PROBE_TOPIC in <schema>.notes through the inbox.
//
// With LIA_PROBE_EFFECTS=true it handles the records as the services do instead: it claims
// each record's lia.event_id header in the inbox (consumer "probe.effects"), writes one row
// in <schema>.effects and queues one outbox event (key: that event id) for
// LIA_PROBE_TOPIC + ".out", in the transaction the runtime gives it (a batch's, when
// LIA_CONSUMER_BATCH > 1). Each handling logs "probe effect" with the event id, the batch
// (the probe's own count of batches it saw start; 0: handled alone) and whether the claim
// was fresh. For the crash tests, two hooks of its own (the runtime has none):
//   LIA_PROBE_SIGKILL_AFTER_BATCHES=N  SIGKILLs the process when the (N+1)-th batch starts,
//       that is right after the N-th batch's database commit and offset store (the offsets
//       reach Kafka with the next auto commit, so a kill here leaves them uncommitted);
//   LIA_PROBE_SIGKILL_IN_BATCH=N  SIGKILLs the process in the middle of its N-th batch (at
//       its second record, the first one's writes made but not committed), after a stall of
//       LIA_PROBE_STALL_MS (default 1500) that lets an auto commit run;
//   LIA_PROBE_FAIL_AT_JOINED=N  the first record handled in a batch after N others, once,
//       makes all its writes and then fails with a retryable error.
#include <atomic>
#include <chrono>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include <lia/core/log.hpp>
#include <lia/core/uuid.hpp>
#include <lia/pg/batch.hpp>
#include <lia/pg/outbox.hpp>
#include <lia/pg/tx.hpp>
#include <lia/runtime/runtime.hpp>

namespace lia::probe {
std::vector<pg::Migration> migrations();
}

namespace {

class ProbeApp final : public lia::runtime::App {
 public:
  void configure(lia::core::Env& env) override {
    token_ = env.secret("LIA_PROBE_TOKEN");
    mode_ = env.one_of("LIA_PROBE_MODE", "plain", {"plain", "fancy"});
    topic_ = env.string("LIA_PROBE_TOPIC", "probe.v1");
    hang_on_stop_ = env.boolean("LIA_PROBE_HANG_ON_STOP", false);
    hang_when_destroyed_ = env.boolean("LIA_PROBE_HANG_WHEN_DESTROYED", false);
    group_ = env.string("LIA_PROBE_GROUP", "");  // "": the runtime's default
    effects_ = env.boolean("LIA_PROBE_EFFECTS", false);
    kill_after_batches_ = env.integer("LIA_PROBE_SIGKILL_AFTER_BATCHES", 0, 0, 1000000);
    fail_at_joined_ = env.integer("LIA_PROBE_FAIL_AT_JOINED", 0, 0, 1000);
    kill_in_batch_ = env.integer("LIA_PROBE_SIGKILL_IN_BATCH", 0, 0, 1000000);
    stall_ms_ = env.integer("LIA_PROBE_STALL_MS", 1500, 0, 60000);
  }

  // LIA_PROBE_HANG_WHEN_DESTROYED: a destructor that never returns (a flush that hangs).
  ~ProbeApp() override {
    while (hang_when_destroyed_) std::this_thread::sleep_for(std::chrono::seconds{1});
  }
  ProbeApp() = default;
  ProbeApp(const ProbeApp&) = delete;
  ProbeApp& operator=(const ProbeApp&) = delete;

  // LIA_PROBE_HANG_ON_STOP: a stop that never returns, for the runtime's shutdown watch.
  void stop() override {
    while (hang_on_stop_) std::this_thread::sleep_for(std::chrono::seconds{1});
  }

  lia::core::Status start(lia::runtime::Context& ctx) override {
    ctx.router().add("GET", "/probe", [this](const lia::http::Request&) {
      return lia::http::Response::json(200, R"({"mode":")" + mode_ + R"("})");
    });
    auto pool = ctx.pool();
    const std::string schema = ctx.spec().schema;
    // The timeouts the runtime gave its pool's sessions (LIA_PG_*_TIMEOUT_MS).
    ctx.router().add("GET", "/probe/timeouts", [pool](const lia::http::Request&) {
      auto r = pool->exec(
          "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')");
      if (!r) return lia::http::json_error(503, "unavailable", r.error().message());
      return lia::http::Response::json(
          200, R"({"statement_timeout":")" + (*r)[0].get<std::string>(0) + R"(","lock_timeout":")" +
                   (*r)[0].get<std::string>(1) + R"("})");
    });
    if (effects_) {
      ctx.add_consumer(
          {.topics = {topic_},
           .handler = [this, pool,
                       schema](const lia::kafka::Message& m) { return apply(*pool, schema, m); },
           .group = group_});
      return {};
    }
    ctx.add_consumer(
        {.topics = {topic_},
         .handler = [pool, schema](const lia::kafka::Message& m) -> lia::core::Status {
           auto r = lia::pg::transact(*pool, [&](lia::pg::Tx& tx) -> lia::core::Status {
             auto fresh =
                 lia::pg::inbox_claim(tx, schema, "probe", m.key + "@" + std::to_string(m.offset));
             if (!fresh) return fresh.error();
             if (!*fresh) return {};
             // The batch's advisory locks on its records' keys (lock_keys), held now.
             auto locks = tx.exec(
                 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                 "pg_backend_pid() AND granted");
             if (!locks) return locks.error();
             auto ins = tx.exec(
                 "INSERT INTO " + schema + ".notes(event_id, body) VALUES ($1, $2)",
                 m.key + "@" + std::to_string(m.offset),
                 m.value + " [key locks " + std::to_string((*locks)[0].get<std::int64_t>(0)) + "]");
             if (!ins) return ins.error();
             return {};
           });
           return r;
         },
         .group = group_,
         .lock_keys = true});
    return {};
  }

 private:
  // LIA_PROBE_EFFECTS: one record, on the consumer's thread.
  lia::core::Status apply(lia::pg::Pool& pool, const std::string& schema,
                          const lia::kafka::Message& m) {
    using lia::core::f::flag;
    using lia::core::f::id;
    using lia::core::f::num;
    const std::string* event_id = m.header("lia.event_id");
    if (event_id == nullptr) {
      return lia::core::Error(lia::core::Errc::invalid_argument, "no lia.event_id header", false);
    }
    // The batch this record joins, if any: the runtime opened it on this thread.
    const lia::pg::Batch* open = lia::pg::Batch::current(&pool);
    const std::int64_t joined = open != nullptr ? static_cast<std::int64_t>(open->joined()) : 0;
    std::int64_t batch = 0;
    if (open != nullptr) {
      if (joined == 0) {
        ++batches_;
        if (kill_after_batches_ > 0 && batches_ == kill_after_batches_ + 1) {
          lia::core::log().warn("probe SIGKILL: earlier batches committed, offsets not",
                                {num("batches_committed", kill_after_batches_)});
          ::kill(::getpid(), SIGKILL);
        }
      }
      batch = batches_;
      if (kill_in_batch_ > 0 && batches_ == kill_in_batch_ && joined == 1) {
        lia::core::log().warn("probe SIGKILL mid-batch: its first record's writes uncommitted",
                              {num("batch", batch), num("stall_ms", stall_ms_)});
        std::this_thread::sleep_for(std::chrono::milliseconds{stall_ms_});
        ::kill(::getpid(), SIGKILL);
      }
    }
    const bool fail = fail_at_joined_ > 0 && open != nullptr && joined == fail_at_joined_ &&
                      !failed_once_.exchange(true);
    bool fresh = false;
    auto st = lia::pg::transact(pool, [&](lia::pg::Tx& tx) -> lia::core::Status {
      auto claimed = lia::pg::inbox_claim(tx, schema, "probe.effects", *event_id);
      if (!claimed) return claimed.error();
      fresh = *claimed;
      if (!fresh) return {};
      auto ins = tx.exec("INSERT INTO " + schema + ".effects(event_id, batch) VALUES ($1, $2)",
                         *event_id, batch);
      if (!ins) return ins.error();
      lia::pg::enqueue_at_commit(tx, schema,
                                 {.event_id = lia::core::Uuid::v7().str(),
                                  .topic = topic_ + ".out",
                                  .key = *event_id,
                                  .payload = R"({"source":")" + *event_id + R"(","batch":)" +
                                             std::to_string(batch) + "}"});
      if (fail) {
        return lia::core::Error(lia::core::Errc::unavailable, "probe: failing on purpose", true);
      }
      return {};
    });
    lia::core::log().info("probe effect",
                          {id("event_id", *event_id), num("batch", batch), num("joined", joined),
                           flag("fresh", fresh), flag("failed", !st.ok())});
    return st;
  }

  std::string token_;
  std::string mode_;
  std::string topic_;
  std::string group_;
  bool hang_on_stop_ = false;
  bool hang_when_destroyed_ = false;
  bool effects_ = false;
  std::int64_t kill_after_batches_ = 0;
  std::int64_t fail_at_joined_ = 0;
  std::int64_t kill_in_batch_ = 0;
  std::int64_t stall_ms_ = 0;
  std::int64_t batches_ = 0;  // consumer thread only
  std::atomic<bool> failed_once_{false};
};

}  // namespace

int main(int argc, char** argv) {
  lia::runtime::ServiceSpec spec;
  spec.name = "probe";
  spec.default_port = 0;
  spec.schema = "probe";
  spec.schema_setting = "LIA_PROBE_SCHEMA";
  spec.migrations = lia::probe::migrations();
  spec.outbox = true;
  return lia::runtime::run(argc, argv, spec, std::make_unique<ProbeApp>());
}
