#pragma once
// Kafka client on librdkafka: an idempotent acks=all producer with a per-record delivery
// result, a consumer-group consumer that stores offsets only after a record was handled,
// and a dead-letter helper. Nothing here knows whether the broker is the development mock
// cluster or a real one: only the bootstrap address differs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::core {
class Env;
}

namespace lia::kafka {

struct Header {
  std::string key;
  std::string value;
};

struct Record {
  std::string topic;
  std::string key;  // empty: no key (the partitioner spreads such records)
  std::string value;
  std::vector<Header> headers;
  std::int32_t partition = -1;  // -1: the partitioner picks by key (murmur2, as Java clients)
};

struct Delivery {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

using DeliveryResult = core::Result<Delivery>;
using DeliveryCallback = std::function<void(DeliveryResult)>;

struct ProducerConfig {
  std::string bootstrap;
  std::string client_id = "lia";
  std::chrono::milliseconds linger{2};
  std::chrono::milliseconds delivery_timeout{30000};  // message.timeout.ms
  // How long produce() waits for room when librdkafka's local queue is full before it
  // reports Errc::unavailable (0: at once; the caller's thread never waits).
  std::chrono::milliseconds queue_full_wait{2000};
  // How long the destructor waits for records still in flight; the rest are purged and their
  // callbacks get a retryable error.
  std::chrono::milliseconds close_timeout{10000};
  // Extra librdkafka properties, applied last (e.g. security.protocol for production).
  // enable.idempotence and acks are fixed (true / all) and can't be overridden here.
  std::map<std::string, std::string> properties;
};

class Producer {
 public:
  // Errors (Errc::invalid_argument) name the bad property; librdkafka connects lazily, so an
  // unreachable broker shows up as retryable delivery errors, not here.
  static core::Result<std::unique_ptr<Producer>> create(const ProducerConfig& config);
  virtual ~Producer() = default;

  // Queues the record; `done` runs exactly once, on the producer's delivery thread, after the
  // broker acknowledged it (acks=all) or it failed. Errors:
  //  - retryable: Errc::unavailable (local queue stayed full, broker down, producer closed
  //    before the ack) or Errc::timeout (delivery.timeout passed);
  //  - not retryable: Errc::too_large (record over message.max.bytes),
  //    Errc::not_found (unknown topic or partition: the topic, not the record; it may come),
  //    Errc::invalid_argument (invalid record),
  //    Errc::unauthorized, Errc::internal (the idempotent producer hit a fatal error: the
  //    producer must be recreated).
  // Destroying the producer from inside a callback (e.g. by dropping its last reference
  // there) is a bug and aborts.
  virtual void produce(Record record, DeliveryCallback done) = 0;
  std::future<DeliveryResult> produce(Record record);

  // Waits until every queued record has its delivery result (and its callback returned), up
  // to `timeout`; Errc::timeout otherwise.
  virtual core::Status flush(std::chrono::milliseconds timeout) = 0;
  // Gives up on every record not acknowledged yet: each callback runs soon after with a
  // retryable Errc::unavailable ("closed before the ack"). For a stop whose flush timed out
  // (Kafka unreachable): the producer then closes at once instead of waiting out its
  // close_timeout. (Has a default, doing nothing, so test fakes needn't implement it.)
  virtual void abandon() {}
  virtual std::size_t in_flight() const = 0;
  // The fatal error of the idempotent producer, if one happened (then recreate it).
  // (Has a default so test fakes of Producer needn't implement it.)
  virtual std::optional<core::Error> fatal_error() const { return std::nullopt; }
  // Asks a broker for cluster metadata: ok when the cluster answers within `timeout`
  // (readiness). Errc::unavailable/timeout otherwise.
  virtual core::Status ping(std::chrono::milliseconds timeout) {
    (void)timeout;
    return {};
  }
};

struct Message {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  std::int64_t timestamp_ms = 0;
  // The first header with this name, or null.
  const std::string* header(std::string_view name) const;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

// What a handler says about a message. ok: done, store the offset. A retryable error is
// tried again (bounded, with backoff), then the partition is parked and the message tried
// again later, never dead-lettered (the chat's next records must not overtake it); a
// non-retryable one sends the message to the dead-letter topic with the reason, and the
// partition moves on. A handler
// that throws counts as a non-retryable Errc::internal error. Handlers must be idempotent:
// delivery is at-least-once.
using Handler = std::function<core::Status(const Message&)>;

// A unit of work that the handling of several records shares, such as one database
// transaction (lia::pg::Batch behind the service runtime): records already fetched are
// handled inside one scope and their offsets stored only after commit() succeeded. Destroying
// an uncommitted scope undoes it. When a handler fails inside it, or it reports failed(), the
// scope is undone and its records are handled again one at a time, outside any scope, with
// the usual retries and dead letters: so a handler that runs in a scope must keep every
// effect inside what the scope undoes.
class BatchScope {
 public:
  virtual ~BatchScope() = default;
  virtual core::Status commit() = 0;
  virtual bool failed() const = 0;
};
// Opens a scope for (at most) the given records, in order: the opener may look at them (their
// event ids, say) but the scope may end up holding only the first few.
using BatchOpener =
    std::function<core::Result<std::unique_ptr<BatchScope>>(std::span<const Message> records)>;

struct ConsumerConfig {
  std::string bootstrap;
  std::string group_id;
  std::vector<std::string> topics;
  std::string client_id = "lia";
  // Handler calls in a row before a retryable failure parks the partition (then one call per
  // max_backoff until it succeeds); a failure that is not retryable is dead-lettered at once.
  int max_attempts = 5;
  std::chrono::milliseconds retry_backoff{200};  // doubles per try ...
  std::chrono::milliseconds max_backoff{5000};   // ... capped here
  std::chrono::milliseconds poll_timeout{100};
  std::chrono::milliseconds commit_interval{1000};  // auto.commit.interval.ms for stored offsets
  // fetch.wait.max.ms: how long a broker may hold an empty fetch. A real broker answers as
  // soon as data arrives; the development mock broker holds it the whole time, so this
  // bounds the latency of every hop there (librdkafka's default is 500 ms).
  std::chrono::milliseconds fetch_wait{50};
  std::chrono::milliseconds session_timeout{10000};    // session.timeout.ms
  std::chrono::milliseconds heartbeat_interval{1000};  // heartbeat.interval.ms
  // At most this many records already fetched share one BatchScope (when the consumer has
  // an opener). The consumer never waits to fill a batch: under light load each record is
  // alone; under heavy load records share a commit.
  std::size_t max_batch = 1;
  // A scope commits once its records took this long to handle, even short of max_batch, so
  // the first record of a batch never waits long for the last (latency under load).
  std::chrono::milliseconds max_batch_time{100};
  std::string auto_offset_reset = "earliest";
  // Extra librdkafka properties, applied last (e.g. partition.assignment.strategy=
  // cooperative-sticky). enable.auto.commit and enable.auto.offset.store are fixed.
  std::map<std::string, std::string> properties;
  // A poll thread that has not come back to poll for this long is stuck (a handler that never
  // returns): stalled() says so. 0: twice max.poll.interval.ms (the properties', else
  // librdkafka's 300 s), by when the group has long given its partitions to another member.
  std::chrono::milliseconds stalled_after{0};
  // The longest one handler call may take, when known to be long (a handler calling out with
  // retries). The records of one poll start no further call, try or batch once what is left
  // of max.poll.interval.ms would not cover such a call and half a minute more; the rest goes
  // back to the fetcher (a record in its round of tries parks) and the consumer polls, so the
  // group never gives its partitions away for slowness. 0: they stop after a third of
  // max.poll.interval.ms (a database slow at every statement, a record at a time).
  std::chrono::milliseconds longest_call{0};
};

class DeadLetter;

class Consumer {
 public:
  // A message whose handler fails with a retryable error stops its partition's progress (the
  // partition is paused and the message retried every max_backoff) until it succeeds: order
  // holds and nothing is dropped; other partitions go on. One that fails with an error that
  // is not retryable goes to the dead-letter topic; dead_letter may be null, and then it waits
  // in place the same way, as it does while the dead-letter topic can't be written. Errors
  // (Errc::invalid_argument) name the bad setting or property. `open_batch` may be empty: then
  // every record is handled on its own.
  static core::Result<std::unique_ptr<Consumer>> create(const ConsumerConfig& config,
                                                        Handler handler,
                                                        std::shared_ptr<DeadLetter> dead_letter,
                                                        BatchOpener open_batch = {});
  virtual ~Consumer() = default;  // closes; destroying it from its own handler aborts

  // Subscribes and starts the poll thread. The handler runs on that thread, one message at a
  // time.
  virtual void start() = 0;
  // Stops polling, lets the message in hand finish (a retry backoff is cut short and that
  // message is left for redelivery), commits stored offsets, leaves the group (after a fatal
  // error it can do neither: its client is only destroyed). Idempotent,
  // callable from any thread, including the handler (then it returns at once and the poll
  // thread closes after the handler returns).
  virtual void close() = 0;
  // Stops / restarts delivery on every assigned partition; a paused consumer stays paused
  // across rebalances. pause() takes effect before it returns, except for the records already
  // fetched (the message in hand, the rest of its batch). A parked partition stays parked
  // until its retry is due.
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual bool assigned() const = 0;  // has at least one partition
  // Has received its first assignment from the group (possibly of no partition, when the
  // group has more members than partitions): from then on it consumes (readiness).
  virtual bool joined() const = 0;
  virtual std::vector<TopicPartition> assignment() const = 0;
  // Counters for tests and metrics.
  virtual std::uint64_t handled() const = 0;
  virtual std::uint64_t dead_lettered() const = 0;
  // librdkafka's fatal error, once one happened (the broker fenced it, say): the consumer
  // then consumes nothing more, and only a restart helps.
  virtual std::optional<core::Error> fatal_error() const { return std::nullopt; }
  // While the poll thread runs and has not polled for ConsumerConfig::stalled_after: an error
  // saying since when (its handler is stuck; only a restart frees the thread).
  virtual std::optional<core::Error> stalled() const { return std::nullopt; }
};

// Publishes an unprocessable message to `<origin topic>.dlq` (or a fixed topic), same key
// and value, with headers lia.dlq.error, lia.dlq.retryable, lia.dlq.origin.topic,
// lia.dlq.origin.partition, lia.dlq.origin.offset, lia.dlq.attempts, lia.dlq.at (RFC 3339),
// then the original headers (minus any older lia.dlq.* ones). A record that this would make too
// large for the dead-letter topic (one near the size limit: the headers add about 300 bytes)
// goes there slim instead: its key, the lia.dlq.* headers, lia.event_type and lia.event_id,
// and lia.dlq.value_at_origin (the value's size in bytes) in place of the value and the other
// headers, which the replay reads back from the origin's partition and offset. Else its
// partition would wait in place for good.
class DeadLetter {
 public:
  static constexpr const char* kValueAtOrigin = "lia.dlq.value_at_origin";
  // "whatsapp.inbound.v1" for "whatsapp.inbound.v1.dlq"; nullopt for a name that is not
  // "<topic>.dlq".
  static std::optional<std::string> origin_of(std::string_view dlq_topic);
  explicit DeadLetter(std::shared_ptr<Producer> producer, std::string fixed_topic = {});
  std::string topic_for(const std::string& origin) const;
  // The record send() publishes (exposed for tests and replay tools).
  Record record_for(const Message& message, const core::Error& error, int attempts) const;
  Record slim_record_for(const Message& message, const core::Error& error, int attempts) const;
  // Waits for the broker's ack; an error means the message was NOT dead-lettered (or, when
  // `cancel` turned true first, Errc::cancelled: the ack may still come, but the caller
  // stops waiting, so a shutdown keeps within its grace period).
  core::Status send(const Message& message, const core::Error& error, int attempts,
                    const std::atomic<bool>* cancel = nullptr);

 private:
  std::shared_ptr<Producer> producer_;
  std::string fixed_topic_;
};

// Extra librdkafka properties from one text setting (LIA_KAFKA_PROPERTIES): "name=value"
// items separated by ';' or new lines, blanks around names and values ignored, e.g.
// "security.protocol=SASL_SSL; sasl.mechanism=SCRAM-SHA-512". Errors (Errc::invalid_argument)
// name the item; with `secret` they never quote a value.
core::Result<std::map<std::string, std::string>> parse_properties(std::string_view text,
                                                                  bool secret = false);
// Checks names and values against librdkafka, and refuses the properties lia::kafka sets
// itself (bootstrap.servers, group.id, acks, enable.idempotence, enable.auto.commit,
// enable.auto.offset.store). With `secret` the error names the property but not its value.
core::Status check_properties(const std::map<std::string, std::string>& properties,
                              bool secret = false);
// Whether a property holds a secret (a password, a private key, an OAuth secret) that must
// not come from a setting shown in logs.
bool is_secret_property(std::string_view name);
// Extra librdkafka properties for every client of a program: LIA_KAFKA_PROPERTIES (shown in
// the start-up summary) and LIA_KAFKA_SECRET_PROPERTIES (never shown: passwords, keys).
// Problems go to `env`, each naming its variable.
std::map<std::string, std::string> properties_from_env(core::Env& env);

// The max.poll.interval.ms these librdkafka properties set (librdkafka's 300 s without one).
std::chrono::milliseconds max_poll_interval(const std::map<std::string, std::string>& properties);

namespace detail {
// Fault injection for the library's own tests: the next `n` seeks of any consumer fail as
// if librdkafka had timed out. Returns how many the previous call's were left unused.
int fail_next_seeks_for_test(int n);
// Polls of every consumer of the process so far (each resets max.poll.interval.ms).
std::uint64_t polls_for_test();
// Partitions of every consumer of the process resumed after its close began (none should be:
// see on_rebalance).
std::uint64_t resumed_while_closing_for_test();
// Raises a fatal error in `consumer` (librdkafka's rd_kafka_test_fatal_error); false when it
// is not one of this library's consumers or not started.
bool raise_fatal_for_test(Consumer& consumer);
}  // namespace detail

}  // namespace lia::kafka
