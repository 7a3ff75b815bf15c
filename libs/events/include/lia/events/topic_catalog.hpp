#pragma once
// The Kafka topic catalog of proto-schemas/catalog.json (compiled into the library): name,
// record key, partitions, cleanup and retention, producers, consumers, event types and the
// dead-letter topic of every topic. The development broker and the Kubernetes topic
// generator create topics from it (see the lia-catalog tool).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/result.hpp>

namespace lia::events {

enum class Cleanup { remove, compact };  // Kafka cleanup.policy "delete" / "compact"
std::string_view to_string(Cleanup c);

struct Topic {
  std::string name;
  std::string description;
  std::string key;  // a key kind of TopicCatalog::keys(): "chat", "contact_id", "user_id"
  int partitions = 0;
  Cleanup cleanup = Cleanup::remove;
  std::int64_t retention_ms = -1;  // -1 for compacted topics (kept forever)
  std::vector<std::string> producers;
  std::vector<std::string> consumers;
  std::vector<std::string> event_types;
  std::string dlq;             // its dead-letter topic; empty for a dead-letter topic
  std::string dead_letter_of;  // for a dead-letter topic: the topic it serves

  bool is_dlq() const { return !dead_letter_of.empty(); }
  bool carries(std::string_view event_type) const;
};

class TopicCatalog {
 public:
  // The embedded catalog, parsed on first use (a broken embedded catalog throws
  // std::runtime_error: the build's tests make sure it cannot happen).
  static const TopicCatalog& instance();
  // Parses and checks a catalog: field types (errors name the field, e.g.
  // "field 'topics[3].partitions' must be an integer"), positive partitions, retention
  // for delete topics, unique names, known key kinds, and that each dlq exists and points
  // back with dead_letter_of.
  static core::Result<TopicCatalog> parse(std::string_view json);

  const std::vector<Topic>& topics() const { return topics_; }
  const Topic* find(std::string_view name) const;
  // The non-dead-letter topic that carries an event type.
  const Topic* topic_for_type(std::string_view event_type) const;
  std::vector<const Topic*> produced_by(std::string_view service) const;
  std::vector<const Topic*> consumed_by(std::string_view service) const;

  // Key kind -> description.
  const std::map<std::string, std::string, std::less<>>& keys() const { return keys_; }
  int replication_factor() const { return replication_factor_; }
  int min_insync_replicas() const { return min_insync_replicas_; }

 private:
  std::vector<Topic> topics_;
  std::map<std::string, std::string, std::less<>> keys_;
  int replication_factor_ = 1;
  int min_insync_replicas_ = 1;
};

}  // namespace lia::events
