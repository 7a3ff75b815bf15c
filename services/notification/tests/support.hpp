#pragma once
// The notification service against the real PostgreSQL and broker, with the provider
// sandbox in-process as the fake provider: a throwaway schema, unique topics, and helpers to
// build commands and read what the service wrote.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <lia/core/clock.hpp>
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
  // A record of the status topic: a Meta tick `status` for `provider_id` in `chat`; `extra` is
  // appended inside the data object; `at`: the event's time (default now).
  static kafka::Message status_record(const std::string& status, const std::string& provider_id,
                                      const std::string& extra = {},
                                      const std::string& chat = "5511987654321",
                                      std::optional<core::SysTime> at = std::nullopt);

  // The command's row as while its request is with the provider (the answer not written yet),
  // to `to_chat`; then as sent with `provider_id`, the provider's acceptance recorded.
  void set_in_flight(const std::string& command_id, const std::string& to_chat) const;
  void set_sent(const std::string& command_id, const std::string& provider_id) const;

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
