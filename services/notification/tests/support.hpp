#pragma once
// The notification service against the real PostgreSQL and broker, with the provider
// sandbox in-process as the fake provider: a throwaway schema, unique topics, and helpers to
// build commands and read what the service wrote.

#include <memory>
#include <string>
#include <vector>

#include <lia/events/cloud_event.hpp>
#include <lia/http/server.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/notification/sender.hpp>
#include <lia/pg/pool.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

namespace lia::notification::test {

inline constexpr const char* kMetaToken = "meta-test-token";
inline constexpr const char* kEvolutionKey = "evo-test-key";
inline constexpr const char* kMetaInstance = "106540352242922";
inline constexpr const char* kEvolutionInstance = "lia-vendas";

struct OutboxRow {
  std::string topic;
  std::string key;
  std::string payload;
  std::string headers;  // jsonb text
};

class Fixture {
 public:
  // rate_per_number 0: no per-number delay unless a test asks for one.
  explicit Fixture(int rate_per_number = 0, int max_attempts = 4);
  ~Fixture();
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  // A record of the commands topic carrying a send command event.
  kafka::Message command(std::string_view type, const std::string& data,
                         std::int64_t offset = 0) const;
  // send_text data; `extra` is appended inside the object (",\"not_after\":...").
  static std::string text_data(const std::string& command_id, const std::string& provider,
                               const std::string& to, const std::string& text,
                               const std::string& extra = {});
  // A record of the status topic: a Meta tick `status` for `provider_id`; `extra` is
  // appended inside the data object.
  static kafka::Message status_record(const std::string& status, const std::string& provider_id,
                                      const std::string& extra = {});

  std::vector<OutboxRow> outbox(const std::string& topic) const;
  // The events of the events topic, each decoded and validated against its schema.
  std::vector<events::CloudEvent> events() const;
  std::optional<OutboundRecord> row(const std::string& command_id) const;
  std::string url() const;

  std::string schema;
  std::string commands_topic;
  std::string events_topic;
  std::shared_ptr<pg::Pool> pool;
  std::shared_ptr<kafka::Producer> producer;
  provider_sandbox::Sandbox sandbox;
  std::unique_ptr<http::Server> server;
  std::shared_ptr<OutboundStore> store;
  SenderOptions options;
  std::unique_ptr<CommandHandler> handler;
  std::unique_ptr<StatusHandler> statuses;
};

std::string new_id();  // a UUIDv7 string
kafka::ConsumerConfig consumer_config(const std::string& topic);

}  // namespace lia::notification::test
