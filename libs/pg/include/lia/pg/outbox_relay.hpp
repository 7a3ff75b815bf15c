#pragma once
// Publishes a schema's outbox to Kafka: a background thread on a dedicated connection that
// wakes when this process commits outbox rows (directly, no NOTIFY), when another process
// does (LISTEN "<schema>_outbox"), or every poll_interval when neither happens. It takes a batch of
// unpublished rows in id order FOR UPDATE SKIP LOCKED, produces them all with the idempotent
// producer, waits for every ack, and only then marks them published and commits. Rows whose ack
// failed or never came stay unpublished (the ones acknowledged are marked, but for the later
// rows of the same topic and key, which stay too and go again after them: the key ends in
// Kafka as in the outbox, which a compacted topic keeps) and are sent again later, so Kafka
// may see an event twice but never misses one (consumers dedupe with the inbox); their topics sit
// out the next batches for `topic_hold`, so one topic missing does not hold the others back. A
// batch with nothing acknowledged backs the relay off. Only one relay per schema is active at a
// time (a session advisory lock), which keeps the events of a key in order across replicas; the
// others stand by. Published rows are kept for `retention` (audits), then deleted; with a retention
// of 0 they are deleted as they are published (the events live on in Kafka).
//
// Each record carries the outbox headers plus "lia.event_id" (unless already present).
// Metrics: lia_outbox_published_total{schema}, lia_outbox_lag_seconds{schema} (age of the
// oldest unpublished row), lia_outbox_failures_total{schema}.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <lia/core/log.hpp>
#include <lia/core/result.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/pg/pool.hpp>

namespace lia::pg {

struct OutboxRelayOptions {
  std::size_t batch_size = 100;
  std::chrono::milliseconds poll_interval{1000};  // fallback when no NOTIFY arrives
  std::chrono::milliseconds ack_timeout{60000};   // the most a batch waits for its acks
  // On stop() a batch still waiting for its acks waits this much longer, then marks what was
  // acknowledged: given up, its rows would go again from the next relay, after the lock is
  // released, possibly behind newer records of the same keys (a compacted topic keeps the
  // last one written). The relay then flushes the producer for up to as long again before it
  // releases its lock, so a late copy of a row left unmarked lands before the next relay's.
  std::chrono::milliseconds stop_ack_wait{5000};
  std::chrono::milliseconds retry_backoff{200};  // after a failure; doubles up to max
  std::chrono::milliseconds max_backoff{5000};
  // A topic whose records failed (missing, no ACL) is left out of the batches this long, the
  // others going on meanwhile; then its rows are tried again with the rest.
  std::chrono::milliseconds topic_hold{60000};
  // Compacted topics (Kafka keeps the last record of a key): a relay that takes the lock from
  // one that did not let go cleanly (a crash, a lost session, a stop whose flush timed out)
  // leaves their rows for `takeover_hold`, past the producer's delivery timeout (55 s at
  // most), so that a record the other had in flight lands before its key's newer rows: else
  // compaction would keep the older value. The other topics go at once: a late duplicate
  // there is dropped by the consumers' inbox. A relay that let go cleanly (its records all
  // delivered) notes it in the schema's outbox_relay row (platform migration 4).
  std::vector<std::string> compacted_topics;
  std::chrono::milliseconds takeover_hold{60000};
  // An active relay whose batches have all failed for this long while its database answers
  // (its producer cannot reach Kafka: a partitioned pod, a bad node) lets the lock go, so that
  // another replica's relay can publish; it then stands aside for `stand_aside` before trying
  // the lock again (in a single replica, it takes it back then). 0 keeps the lock however
  // long the batches fail.
  std::chrono::milliseconds handover_after{120000};
  std::chrono::milliseconds stand_aside{30000};
  std::chrono::hours retention{24 * 7};  // 0: delete rows once published
  // Inbox claims (the schema's consumers' record of what they handled) older than this are
  // deleted, a slice at a time: keep them longer than any topic keeps a record a consumer
  // could be given again. 0 keeps them all.
  std::chrono::hours inbox_retention{0};
  std::chrono::milliseconds cleanup_interval{600000};
  // Test hook: runs after every ack of a batch arrived, before the rows are marked.
  std::function<void()> after_ack_before_mark;
};

class OutboxRelay {
 public:
  // The pool gives the connection settings; the relay opens its own connection.
  OutboxRelay(std::shared_ptr<Pool> pool, std::shared_ptr<kafka::Producer> producer,
              std::string schema, OutboxRelayOptions options = {});
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void start();
  // Stops the thread after the batch in hand. Idempotent.
  void stop();

  // Publishes one batch on the caller's thread (tools and tests; no leadership lock).
  // Returns how many rows were published.
  core::Result<std::size_t> publish_once();

  std::uint64_t published() const { return published_.load(); }
  bool active() const { return active_.load(); }  // holds the leadership lock

 private:
  struct Impl;
  void run();
  // Notes this relay as the outbox's holder; holds the compacted topics back when the last one
  // may have left records in flight.
  core::Status take_over(Connection& conn, const std::string& holder, const core::Logger& log);
  std::shared_ptr<Pool> pool_;
  std::shared_ptr<kafka::Producer> producer_;
  std::string schema_;
  OutboxRelayOptions options_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::mutex start_mu_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> active_{false};
  std::atomic<std::uint64_t> published_{0};
};

}  // namespace lia::pg
