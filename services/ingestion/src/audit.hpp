#pragma once
// The webhook audit log, <schema>.webhook_events, written off the request path:
//
//   - AuditWriter: a bounded in-memory queue and a background thread that writes rows in
//     batches: `processed` rows recorded when Kafka acknowledges an event, and what the
//     handlers saw go wrong (401, 400, items rejected, 503). When the queue is full, rows are
//     dropped and counted (lia_ingestion_audit_dropped_total); rows still queued when the
//     process crashes are lost. Both are accepted: the events are in Kafka, the provider
//     retries a rejected webhook anyway, and the metrics count every rejection.
//   - AuditConsumer (optional, LIA_INGESTION_AUDIT_CONSUMER): a consumer (group
//     lia-ingestion-audit) of the topics ingestion produces that writes the `processed` rows
//     instead, in batches (up to 500 rows or 200 ms), committing the batch's offsets only after
//     the rows are written, so no accepted event misses its row (at-least-once; rows are keyed
//     by the event id).
//
// Rows never hold personal data: no body, no phone numbers, no text; a request-level row
// keeps the body's SHA-256 and size.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/pg/pool.hpp>

namespace lia::ingestion {

struct AuditRow {
  std::string id;              // the event id; a fresh UUIDv7 for a whole-request row
  std::string provider;        // meta | evolution
  std::string event_kind;      // CloudEvent type, or "webhook" for a whole request
  std::string provider_event;  // "messages" (Meta), "messages.upsert", ...; may be empty
  std::string instance;
  std::string provider_message_id;
  std::string detail;  // message kind, status or state
  std::string status;  // processed | failed | rejected
  std::string reason;
  int http_status = 0;  // 0: not a whole-request row
  std::string body_sha256;
  std::int64_t body_bytes = -1;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string received_at;  // RFC 3339
};

// Writes rows in one statement. Rows with the same id collapse (a `processed` row wins over
// the others, in the batch and against rows already stored).
core::Status insert_audit_rows(pg::Pool& pool, const std::string& schema,
                               const std::vector<AuditRow>& rows);

// Where handlers put rows; must not block.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void record(AuditRow row) = 0;
};

struct AuditWriterOptions {
  std::size_t capacity = 10'000;  // rows queued at most
  std::size_t batch = 500;
  std::chrono::milliseconds interval{250};
  // Rows received longer ago than this are deleted, every `purge_every`, a slice of
  // `purge_slice` rows per round of the writer until none is left
  // (LIA_INGESTION_AUDIT_RETENTION_DAYS); zero keeps them all.
  std::chrono::hours retention{0};
  std::chrono::milliseconds purge_every{std::chrono::hours{1}};
  std::int64_t purge_slice = 5000;
};

class AuditWriter final : public AuditSink {
 public:
  AuditWriter(std::shared_ptr<pg::Pool> pool, std::string schema, AuditWriterOptions options = {});
  ~AuditWriter() override;  // stop()
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  void record(AuditRow row) override;
  // Writes what is queued (one try) and ends the thread; later rows are dropped.
  void stop();

  std::uint64_t written() const { return written_.load(); }
  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t purged() const { return purged_.load(); }

 private:
  void run();
  // Deletes one slice; how many rows, or nullopt when the database failed (logged).
  std::optional<std::int64_t> purge_slice();
  std::shared_ptr<pg::Pool> pool_;
  std::string schema_;
  AuditWriterOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AuditRow> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> purged_{0};
  std::thread thread_;
};

struct AuditConsumerOptions {
  std::string bootstrap;
  std::map<std::string, std::string> properties;  // LIA_KAFKA_PROPERTIES and the secret ones
  std::string group = "lia-ingestion-audit";
  std::vector<std::string> topics;
  std::size_t batch = 500;
  std::chrono::milliseconds max_wait{200};
  std::chrono::milliseconds session_timeout{10'000};
};

class AuditConsumer {
 public:
  static core::Result<std::unique_ptr<AuditConsumer>> create(std::shared_ptr<pg::Pool> pool,
                                                             std::string schema,
                                                             AuditConsumerOptions options);
  ~AuditConsumer();  // stop()
  AuditConsumer(const AuditConsumer&) = delete;
  AuditConsumer& operator=(const AuditConsumer&) = delete;

  void start();
  // Writes the batch in hand (one try), commits, leaves the group.
  void stop();
  std::uint64_t written() const;  // rows written so far

  struct Impl;
  explicit AuditConsumer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// The audit row of one record ingestion produced (exposed for tests); nullopt when the value
// is not a CloudEvent.
std::optional<AuditRow> audit_row_of_record(std::string_view value, const std::string& topic,
                                            std::int32_t partition, std::int64_t offset);

}  // namespace lia::ingestion
