#pragma once
// The notification service's own settings (LIA_*), read once at start. Every problem is
// reported with the runtime's common settings, each naming its variable (exit 2).

#include <chrono>
#include <string>

#include <lia/core/config.hpp>

namespace lia::notification {

struct Settings {
  // Meta Cloud API: POST {meta_graph_url}/{phone_number_id}/messages, Bearer token.
  std::string meta_graph_url = "https://graph.facebook.com/v25.0";
  // Empty: a Meta command fails (and is dead-lettered) with a reason naming the variable.
  std::string meta_access_token;
  // Evolution API: POST {evolution_url}/message/sendText/{instance}, header apikey.
  std::string evolution_url = "http://127.0.0.1:8090";
  // Empty: an Evolution command fails (and is dead-lettered) naming the variable.
  std::string evolution_apikey;

  // Six calls, waiting 0.5 + 1 + 2 + 4 + 8 s between them: a provider's outage of a few
  // seconds (5xx, an Evolution instance reconnecting) is ridden out, not dead-lettered.
  int max_attempts = 6;                          // provider calls per command
  std::chrono::milliseconds backoff{500};        // before the 2nd call; doubles ...
  std::chrono::milliseconds backoff_max{10000};  // ... capped here (Retry-After too)
  std::chrono::milliseconds http_timeout{10000};
  int rate_per_number = 10;  // sends per second to one destination; 0 = unlimited

  std::string jwt_secret;  // HS256 key of the REST API's bearer tokens

  int consumers = 4;  // command consumers in the group (partitions handled in parallel)
  std::string commands_topic = "notification.commands.v1";
  std::string status_topic = "whatsapp.status.v1";
  std::string inbound_topic = "whatsapp.inbound.v1";  // Evolution's echoes of sends
  // Read them (EchoHandler). A deployment without Evolution may turn it off: Meta echoes
  // none of its API's sends, and the inbound topic is then read for nothing.
  bool echoes = true;
  std::string events_topic = "notification.events.v1";
  // Finished sends are deleted this long after they were made (Retention).
  std::chrono::hours retention{24 * 90};

  static Settings read(core::Env& env);
  // The longest one command may take: every try timing out, every wait between them at its
  // cap, and a second of the per-number rate before each.
  std::chrono::milliseconds longest_command() const;
};

}  // namespace lia::notification
