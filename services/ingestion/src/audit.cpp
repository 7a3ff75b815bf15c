#include "audit.hpp"

#include <array>
#include <map>
#include <unordered_map>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/core/metrics.hpp>
#include <lia/events/cloud_event.hpp>
#include <lia/json/json.hpp>

namespace lia::ingestion {

namespace {

using Clock = std::chrono::steady_clock;
using core::f::id;
using core::f::num;
using core::f::str;

std::string insert_sql(const std::string& schema) {
  const std::string table = schema + ".webhook_events";
  return "INSERT INTO " + table +
         " (id, provider, event_kind, provider_event, instance, provider_message_id, detail, "
         "status, reason, http_status, body_sha256, body_bytes, topic, kafka_partition, "
         "kafka_offset, received_at) "
         "SELECT id, provider, event_kind, provider_event, instance, provider_message_id, detail, "
         "status, reason, http_status, body_sha256, body_bytes, topic, kafka_partition, "
         "kafka_offset, received_at "
         "FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, provider text, event_kind text, "
         "provider_event text, instance text, provider_message_id text, detail text, status text, "
         "reason text, http_status int, body_sha256 text, body_bytes bigint, topic text, "
         "kafka_partition int, kafka_offset bigint, received_at timestamptz) "
         "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, "
         "topic = EXCLUDED.topic, kafka_partition = EXCLUDED.kafka_partition, "
         "kafka_offset = EXCLUDED.kafka_offset, recorded_at = now() "
         "WHERE " +
         table + ".status <> 'processed'";
}

// PostgreSQL's jsonb refuses \u0000, which a hostile id could carry: drop NUL bytes.
std::string without_nul(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

std::optional<std::string_view> nonempty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

void write_row(json::Writer& w, const AuditRow& in) {
  const bool has_nul = [&] {
    for (const std::string* f : {&in.id, &in.provider, &in.event_kind, &in.provider_event,
                                 &in.instance, &in.provider_message_id, &in.detail, &in.status,
                                 &in.reason, &in.body_sha256, &in.topic, &in.received_at}) {
      if (f->find('\0') != std::string::npos) return true;
    }
    return false;
  }();
  AuditRow cleaned;
  if (has_nul) {
    cleaned = in;
    for (std::string* f :
         {&cleaned.id, &cleaned.provider, &cleaned.event_kind, &cleaned.provider_event,
          &cleaned.instance, &cleaned.provider_message_id, &cleaned.detail, &cleaned.status,
          &cleaned.reason, &cleaned.body_sha256, &cleaned.topic, &cleaned.received_at}) {
      *f = without_nul(*f);
    }
  }
  const AuditRow& r = has_nul ? cleaned : in;
  w.begin_object();
  w.field("id", r.id);
  w.field("provider", r.provider);
  w.field("event_kind", r.event_kind);
  w.field("provider_event", nonempty(r.provider_event));
  w.field("instance", nonempty(r.instance));
  w.field("provider_message_id", nonempty(r.provider_message_id));
  w.field("detail", nonempty(r.detail));
  w.field("status", r.status);
  w.field("reason", nonempty(r.reason));
  if (r.http_status > 0) w.field("http_status", r.http_status);
  w.field("body_sha256", nonempty(r.body_sha256));
  if (r.body_bytes >= 0) w.field("body_bytes", r.body_bytes);
  w.field("topic", nonempty(r.topic));
  if (r.partition >= 0) w.field("kafka_partition", r.partition);
  if (r.offset >= 0) w.field("kafka_offset", r.offset);
  w.field("received_at", r.received_at);
  w.end_object();
}

core::Counter& audit_counter(const std::string& name, const std::string& help) {
  return core::metrics().counter(name, help);
}

}  // namespace

core::Status insert_audit_rows(pg::Pool& pool, const std::string& schema,
                               const std::vector<AuditRow>& rows) {
  if (rows.empty()) return {};
  // One row per id: ON CONFLICT can't touch a row twice in one statement.
  std::unordered_map<std::string_view, std::size_t> by_id;
  std::vector<const AuditRow*> unique;
  unique.reserve(rows.size());
  for (const auto& r : rows) {
    auto [it, fresh] = by_id.emplace(r.id, unique.size());
    if (fresh) {
      unique.push_back(&r);
    } else if (r.status == "processed" || unique[it->second]->status != "processed") {
      unique[it->second] = &r;
    }
  }
  json::Writer w;
  w.begin_array();
  for (const AuditRow* r : unique) write_row(w, *r);
  w.end_array();
  static thread_local std::string cached_schema;
  static thread_local std::string cached_sql;
  if (cached_schema != schema || cached_sql.empty()) {
    cached_schema = schema;
    cached_sql = insert_sql(schema);
  }
  auto res = pool.exec(cached_sql, w.take());
  if (!res) return res.error();
  return {};
}

// ---- AuditWriter ------------------------------------------------------------------------

AuditWriter::AuditWriter(std::shared_ptr<pg::Pool> pool, std::string schema,
                         AuditWriterOptions options)
    : pool_(std::move(pool)), schema_(std::move(schema)), options_(options) {
  thread_ = std::thread([this] { run(); });
}

AuditWriter::~AuditWriter() {
  stop();
}

void AuditWriter::record(AuditRow row) {
  static auto& dropped = audit_counter("lia_ingestion_audit_dropped_total",
                                       "Audit rows of rejected webhooks dropped (queue full or "
                                       "stopped)");
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.capacity) {
      dropped_.fetch_add(1);
      dropped.inc();
      return;
    }
    queue_.push_back(std::move(row));
    wake = queue_.size() >= options_.batch;
  }
  if (wake) cv_.notify_one();
}

void AuditWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AuditWriter::run() {
  pthread_setname_np(pthread_self(), "audit-writer");
  static auto& written =
      audit_counter("lia_ingestion_audit_rows_total", "Audit rows written to webhook_events");
  static auto& failed = audit_counter("lia_ingestion_audit_write_failures_total",
                                      "Failed writes of audit rows (retried)");
  std::vector<AuditRow> batch;
  int failures = 0;
  auto next_purge = Clock::now();
  std::int64_t purging = 0;  // rows the purge under way deleted so far
  while (true) {
    bool last = false;
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) {
        cv_.wait_for(lock, options_.interval,
                     [&] { return stopping_ || queue_.size() >= options_.batch; });
        while (!queue_.empty() && batch.size() < options_.batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      last = stopping_;
    }
    if (!batch.empty()) {
      auto st = insert_audit_rows(*pool_, schema_, batch);
      if (st.ok()) {
        written_.fetch_add(batch.size());
        written.inc(static_cast<double>(batch.size()));
        batch.clear();
        failures = 0;
      } else {
        failed.inc();
        if (failures++ == 0 || last) {
          core::log().warn("cannot write audit rows; retrying",
                           {id("component", "audit"), str("error", st.error().describe()),
                            num("rows", static_cast<std::int64_t>(batch.size()))});
        }
        if (last || failures >= 20) {  // give the batch up rather than grow without bound
          dropped_.fetch_add(batch.size());
          batch.clear();
          failures = 0;
        } else {
          std::unique_lock lock(mu_);
          cv_.wait_for(lock, std::chrono::milliseconds{200 * failures}, [&] { return stopping_; });
        }
      }
    }
    if (options_.retention.count() > 0 && !last && Clock::now() >= next_purge) {
      // One slice per round, the queue's batch between them, until a slice comes back short:
      // however many rows a day brings, a backlog is gone within the hour it is found in.
      const auto deleted = purge_slice();
      if (deleted) purging += *deleted;
      if (!deleted || *deleted < options_.purge_slice) {  // done, or the database failed
        if (purging > 0) {
          core::log().info("audit rows past their retention deleted",
                           {id("component", "audit"), num("rows", purging),
                            num("retention_days", options_.retention.count() / 24)});
        }
        purging = 0;
        next_purge = Clock::now() + options_.purge_every;
      }
    }
    if (last) {
      std::lock_guard lock(mu_);
      if (queue_.empty() && batch.empty()) return;
      // Drain what is left, one batch at a time, one try each.
      while (!queue_.empty() && batch.size() < options_.batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
  }
}

std::optional<std::int64_t> AuditWriter::purge_slice() {
  static auto& purged = audit_counter("lia_ingestion_audit_purged_total",
                                      "Audit rows deleted past LIA_INGESTION_AUDIT_RETENTION_DAYS");
  // A slice at a time, so a long backlog never holds one huge transaction.
  const std::string table = schema_ + ".webhook_events";
  const std::string sql = "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                          " WHERE received_at < now() - $1::interval LIMIT $2::int)";
  const std::string age = std::to_string(options_.retention.count()) + " hours";
  auto r = pool_->exec(sql, age, options_.purge_slice);
  if (!r) {
    core::log().warn("cannot delete audit rows past their retention; trying again later",
                     {id("component", "audit"), str("error", r.error().describe())});
    return std::nullopt;
  }
  const auto n = r->affected();
  if (n > 0) {
    purged_.fetch_add(static_cast<std::uint64_t>(n));
    purged.inc(static_cast<double>(n));
  }
  return n;
}

// ---- audit rows of produced records -----------------------------------------------------

std::optional<AuditRow> audit_row_of_record(std::string_view value, const std::string& topic,
                                            std::int32_t partition, std::int64_t offset) {
  // Our own records: no depth or UTF-8 checks needed (iterative parse, text passed on via
  // json::Writer, which replaces invalid UTF-8).
  json::Document doc_value;
  doc_value.Parse<rapidjson::kParseIterativeFlag>(value.data(), value.size());
  if (doc_value.HasParseError() || !doc_value.IsObject()) return std::nullopt;
  const json::Document* doc = &doc_value;
  auto get = [](const json::Value& o, const char* key) -> std::string_view {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || !it->value.IsString()) return {};
    return json::view(it->value);
  };
  AuditRow row;
  row.id = get(*doc, "id");
  row.event_kind = get(*doc, "type");
  if (row.id.empty() || row.event_kind.empty()) return std::nullopt;
  const auto time = get(*doc, "time");
  row.received_at = events::is_rfc3339(time)
                        ? std::string(time)
                        : core::format_rfc3339(core::SystemClock::instance().now());
  auto data = doc->FindMember("data");
  if (data == doc->MemberEnd() || !data->value.IsObject()) return std::nullopt;
  const auto& d = data->value;
  row.provider = get(d, "provider");
  if (row.provider != "meta" && row.provider != "evolution") return std::nullopt;
  row.instance = get(d, "instance");
  row.provider_message_id = get(d, "message_id");
  for (const char* k : {"kind", "status", "state"}) {
    if (auto v = get(d, k); !v.empty()) {
      row.detail = v;
      break;
    }
  }
  row.status = "processed";
  row.topic = topic;
  row.partition = partition;
  row.offset = offset;
  return row;
}

// ---- AuditConsumer ----------------------------------------------------------------------

struct AuditConsumer::Impl {
  std::shared_ptr<pg::Pool> pool;
  std::string schema;
  AuditConsumerOptions options;
  rd_kafka_t* rk = nullptr;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  std::map<int, Clock::time_point> last_error_log;

  ~Impl() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  core::Status init() {
    std::array<char, 512> err{};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::vector<std::pair<std::string, std::string>> props = {
        {"bootstrap.servers", options.bootstrap},
        {"group.id", options.group},
        {"client.id", "lia-ingestion-audit"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", std::to_string(options.session_timeout.count())},
        {"heartbeat.interval.ms",
         std::to_string(std::max<long>(options.session_timeout.count() / 10, 100))},
        {"enable.partition.eof", "false"},
        // The topics are ours: like the producer, let the consumer create them where the
        // cluster allows it (a fresh development broker), instead of waiting for the next
        // metadata refresh to notice them.
        {"allow.auto.create.topics", "true"},
        {"topic.metadata.refresh.interval.ms", "10000"},
        // Off the request path: fewer, bigger fetches are kinder to the brokers (a real
        // broker waits for 256 KiB or 250 ms; the development broker answers at once).
        {"fetch.wait.max.ms", "250"},
        {"fetch.min.bytes", "262144"},
    };
    std::vector<std::pair<std::string, std::string>> all = props;
    // The service's own (TLS, SASL), applied last as every lia::kafka client does. They were
    // checked at start-up, so a value librdkafka would refuse (and quote) never gets here.
    all.insert(all.end(), options.properties.begin(), options.properties.end());
    for (const auto& [name, value] : all) {
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
          RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return core::Error(core::Errc::invalid_argument,
                           fmt::format("audit consumer: property '{}': {}", name, err.data()));
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int code, const char* reason, void* opaque) {
      static_cast<Impl*>(opaque)->on_error(code, reason);
    });
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
    if (rk == nullptr) {
      rd_kafka_conf_destroy(conf);
      return core::Error(core::Errc::invalid_argument,
                         fmt::format("audit consumer: {}", err.data()));
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(static_cast<int>(options.topics.size()));
    for (const auto& t : options.topics) {
      rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    const auto rc = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return core::Error(core::Errc::invalid_argument,
                         fmt::format("audit consumer: subscribe: {}", rd_kafka_err2str(rc)));
    }
    return {};
  }

  void on_error(int code, const char* reason) {
    const auto now = Clock::now();
    auto [it, fresh] = last_error_log.emplace(code, now);
    if (!fresh) {
      if (now - it->second < std::chrono::seconds{10}) return;
      it->second = now;
    }
    core::log().warn("audit consumer error",
                     {id("component", "audit"),
                      id("code", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code))),
                      str("reason", reason)});
  }

  // Writes the batch; on failure retries with backoff until it works or we stop.
  bool flush(std::vector<AuditRow>& rows, bool one_try) {
    static auto& failed = core::metrics().counter("lia_ingestion_audit_write_failures_total",
                                                  "Failed writes of audit rows (retried)");
    static auto& written_total = core::metrics().counter("lia_ingestion_audit_rows_total",
                                                         "Audit rows written to webhook_events");
    for (int attempt = 1;; ++attempt) {
      auto st = insert_audit_rows(*pool, schema, rows);
      if (st.ok()) {
        written.fetch_add(rows.size());
        written_total.inc(static_cast<double>(rows.size()));
        rows.clear();
        return true;
      }
      failed.inc();
      if (attempt == 1) {
        core::log().warn("cannot write audit rows of produced events; retrying",
                         {id("component", "audit"), str("error", st.error().describe())});
      }
      if (one_try || stop.load()) return false;
      const auto backoff = std::chrono::milliseconds{std::min(5000, 100 << std::min(attempt, 6))};
      const auto until = Clock::now() + backoff;
      while (Clock::now() < until && !stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
      }
      if (stop.load()) return false;
    }
  }

  void run() {
    pthread_setname_np(pthread_self(), "audit-consumer");
    std::vector<AuditRow> rows;
    rows.reserve(options.batch);
    Clock::time_point first{};
    static auto& skipped =
        core::metrics().counter("lia_ingestion_audit_skipped_total",
                                "Records of the audited topics that are not ingestion events");
    while (!stop.load()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
      if (m != nullptr) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const std::string_view value(static_cast<const char*>(m->payload), m->len);
          auto row =
              audit_row_of_record(value, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
          if (row) {
            if (rows.empty()) first = Clock::now();
            rows.push_back(std::move(*row));
          } else {
            skipped.inc();
          }
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          on_error(m->err, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
      }
      if (!rows.empty() && (m == nullptr || rows.size() >= options.batch ||
                            Clock::now() - first >= options.max_wait)) {
        if (flush(rows, false)) rd_kafka_commit(rk, nullptr, 1);
      }
    }
    if (!rows.empty() && flush(rows, true)) rd_kafka_commit(rk, nullptr, 0);
    rd_kafka_consumer_close(rk);
  }
};

AuditConsumer::AuditConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

core::Result<std::unique_ptr<AuditConsumer>> AuditConsumer::create(std::shared_ptr<pg::Pool> pool,
                                                                   std::string schema,
                                                                   AuditConsumerOptions options) {
  if (options.topics.empty()) {
    return core::Error(core::Errc::invalid_argument, "audit consumer: no topics");
  }
  auto impl = std::make_unique<Impl>();
  impl->pool = std::move(pool);
  impl->schema = std::move(schema);
  impl->options = std::move(options);
  if (auto st = impl->init(); !st.ok()) return st.error();
  return std::make_unique<AuditConsumer>(std::move(impl));
}

AuditConsumer::~AuditConsumer() {
  stop();
}

void AuditConsumer::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void AuditConsumer::stop() {
  if (!impl_) return;
  impl_->stop.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint64_t AuditConsumer::written() const {
  return impl_->written.load();
}

}  // namespace lia::ingestion
