// lia-runtime-probe: the smallest service on the runtime, for the runtime's own tests. It
// owns the schema named by LIA_PROBE_SCHEMA, serves GET /probe, and stores every record of
// LIA_PROBE_TOPIC in <schema>.notes through the inbox.
#include <chrono>
#include <thread>

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
    group_ = env.string("LIA_PROBE_GROUP", "");  // "": the runtime's default
  }

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
  std::string token_;
  std::string mode_;
  std::string topic_;
  std::string group_;
  bool hang_on_stop_ = false;
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
