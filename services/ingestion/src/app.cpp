#include "app.hpp"

#include <cstddef>

#include <lia/core/log.hpp>
#include <lia/events/names.hpp>

namespace lia::ingestion {

runtime::ServiceSpec spec() {
  runtime::ServiceSpec s;
  s.name = "ingestion";
  s.default_port = 8080;
  s.schema = "ingestion";
  s.schema_setting = "LIA_INGESTION_SCHEMA";  // tests run the binary against a schema of their own
  s.migrations = migrations();
  s.outbox = false;  // produces straight to Kafka: no database on the request path
  // Nor in its readiness: a database outage must not take the webhooks' endpoint away (the
  // audit log waits in its bounded queue meanwhile).
  s.database_in_readiness = false;
  // The webhooks' bodies go to their providers' budgets (Gateway::add_routes); the other
  // routes take none, and a body sent to them (or to no route) waits in this one.
  s.http_body_budget = kOtherRoutesBodyBudget;
  return s;
}

App::~App() {
  // After the HTTP server stopped: the last requests are answered. Their records are flushed
  // (their audit rows follow the acks), then the writer writes what it holds.
  if (consumer_) consumer_->stop();
  gateway_.reset();
  if (producer_) {
    if (auto st = producer_->flush(std::chrono::seconds{5}); !st.ok()) {
      core::log().warn("ingestion producer not fully flushed",
                       {core::f::str("error", st.error().describe())});
    }
    producer_.reset();
  }
  if (writer_) writer_->stop();
}

void App::configure(core::Env& env) {
  gateway_config_.meta_verify_token = env.credential("LIA_META_VERIFY_TOKEN");
  gateway_config_.meta_app_secret = env.credential("LIA_META_APP_SECRET");
  gateway_config_.evolution_apikey = env.credential("LIA_EVOLUTION_APIKEY");
  if (auto numbers = parse_instance_numbers(env.string("LIA_EVOLUTION_INSTANCE_NUMBERS", ""))) {
    gateway_config_.evolution_numbers = std::move(*numbers);
  } else {
    env.problem("LIA_EVOLUTION_INSTANCE_NUMBERS", numbers.error().message());
  }
  gateway_config_.ack_timeout =
      env.millis("LIA_INGESTION_ACK_TIMEOUT_MS", std::chrono::milliseconds{5000},
                 std::chrono::milliseconds{10}, std::chrono::milliseconds{120'000});
  gateway_config_.inbound_topic =
      env.topic("LIA_INGESTION_TOPIC_INBOUND", std::string(events::topics::whatsapp_inbound));
  gateway_config_.status_topic =
      env.topic("LIA_INGESTION_TOPIC_STATUS", std::string(events::topics::whatsapp_status));
  gateway_config_.validate_events = env.boolean("LIA_INGESTION_VALIDATE_EVENTS", false);
  // Evolution's body budget is at least twice it, so two such bodies always fit.
  const auto body_mib = env.integer("LIA_INGESTION_EVOLUTION_BODY_LIMIT_MIB", 24, 1, 64);
  gateway_config_.evolution_body_limit = static_cast<std::size_t>(body_mib) * 1024 * 1024;
  // What Evolution's webhooks may take on the wire, their inline files included (a 100 MB
  // document is about 133 MiB of base64): read as it arrives, never held.
  const auto wire_mib = env.integer("LIA_INGESTION_EVOLUTION_WIRE_LIMIT_MIB", 192, 1, 2048);
  if (wire_mib < body_mib) {
    env.problem("LIA_INGESTION_EVOLUTION_WIRE_LIMIT_MIB",
                "must be at least LIA_INGESTION_EVOLUTION_BODY_LIMIT_MIB");
  }
  gateway_config_.evolution_wire_limit = static_cast<std::size_t>(wire_mib) * 1024 * 1024;
  linger_ = env.millis("LIA_INGESTION_LINGER_MS", std::chrono::milliseconds{1},
                       std::chrono::milliseconds{0}, std::chrono::milliseconds{100});
  audit_consumer_ = env.boolean("LIA_INGESTION_AUDIT_CONSUMER", false);
  gateway_config_.audit_acked = !audit_consumer_;
  audit_queue_ =
      static_cast<std::size_t>(env.integer("LIA_INGESTION_AUDIT_QUEUE", 100'000, 0, 10'000'000));
  gateway_config_.rejected_rows_per_s =
      env.integer("LIA_INGESTION_AUDIT_REJECTED_PER_S", 50, 0, 100'000);
  audit_retention_ =
      std::chrono::hours{24 * env.integer("LIA_INGESTION_AUDIT_RETENTION_DAYS", 90, 0, 3650)};
}

core::Status App::start(runtime::Context& ctx) {
  gateway_config_.service = ctx.spec().name;
  auto pool = ctx.pool();
  if (pool) {
    AuditWriterOptions wo;
    wo.capacity = audit_queue_;
    wo.batch = 1000;
    wo.retention = audit_retention_;
    writer_ = std::make_shared<AuditWriter>(pool, ctx.spec().schema, wo);
  }
  // The gateway's own producer: the same idempotent acks=all lia::kafka producer as the
  // runtime's, with a shorter linger (a webhook waits for its ack: linger is latency).
  kafka::ProducerConfig pc;
  pc.bootstrap = ctx.config().kafka_bootstrap;
  pc.properties = ctx.kafka_properties();
  pc.client_id = "lia-" + ctx.spec().name;
  pc.linger = linger_;
  // produce() runs on the HTTP server's I/O threads: with librdkafka's local queue full (the
  // broker away long enough for ~100,000 records to pile up), a webhook is answered 503 at
  // once (the provider sends it again later) instead of holding a thread that /healthz and
  // every other request share.
  pc.queue_full_wait = std::chrono::milliseconds{0};
  auto producer = kafka::Producer::create(pc);
  if (!producer) return producer.error();
  producer_ = std::shared_ptr<kafka::Producer>(std::move(producer).value());
  // Connect now (and let the idempotent producer get its id), so the first webhooks don't
  // wait for it. A broker that is down is not fatal here: readiness reports it.
  if (auto st = producer_->ping(std::chrono::seconds{2}); !st.ok()) {
    ctx.log().warn("Kafka not reachable yet", {core::f::str("error", st.error().describe())});
  }
  // A fatal error of the gateway's producer stops every webhook, and only a restart cures it.
  ctx.add_readiness("kafka_gateway_producer",
                    [p = producer_] { return runtime::producer_alive(*p); });
  ctx.add_liveness(runtime::producer_liveness("kafka_gateway_producer", producer_));
  gateway_ = std::make_unique<Gateway>(gateway_config_, producer_, writer_);
  gateway_->add_routes(ctx.router());

  if (audit_consumer_ && pool) {
    AuditConsumerOptions co;
    co.bootstrap = ctx.config().kafka_bootstrap;
    co.properties = ctx.kafka_properties();
    co.topics = {gateway_config_.inbound_topic, gateway_config_.status_topic};
    auto consumer = AuditConsumer::create(pool, ctx.spec().schema, co);
    if (!consumer) return consumer.error();
    consumer_ = std::move(consumer).value();
    consumer_->start();
  }
  ctx.log().info("ingestion wired",
                 {core::f::id("inbound_topic", gateway_config_.inbound_topic),
                  core::f::id("status_topic", gateway_config_.status_topic),
                  core::f::num("ack_timeout_ms", gateway_config_.ack_timeout.count()),
                  core::f::flag("audit_consumer", audit_consumer_)});
  return {};
}

void App::stop() {
  // The audit consumer stops with the other consumers: it writes its batch in hand and
  // commits. The writer of rejections keeps going until the HTTP server is down.
  if (consumer_) consumer_->stop();
}

}  // namespace lia::ingestion
