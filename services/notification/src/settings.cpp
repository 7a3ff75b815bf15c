#include <fmt/format.h>

#include <lia/events/names.hpp>
#include <lia/notification/settings.hpp>
#include <lia/runtime/authorize.hpp>

namespace lia::notification {

Settings Settings::read(core::Env& env) {
  using std::chrono::milliseconds;
  Settings s;
  s.meta_graph_url = env.url("LIA_META_GRAPH_URL", s.meta_graph_url);
  s.meta_access_token = env.credential("LIA_META_ACCESS_TOKEN", std::string{});
  s.evolution_url = env.url("LIA_EVOLUTION_URL", s.evolution_url);
  s.evolution_apikey = env.credential("LIA_EVOLUTION_APIKEY", std::string{});
  s.max_attempts = static_cast<int>(env.integer("LIA_NOTIFY_MAX_ATTEMPTS", s.max_attempts, 1, 20));
  s.backoff = env.millis("LIA_NOTIFY_BACKOFF_MS", s.backoff, milliseconds{1}, milliseconds{60000});
  s.backoff_max = env.millis("LIA_NOTIFY_BACKOFF_MAX_MS", milliseconds{10000}, milliseconds{1},
                             milliseconds{120000});
  // At least a second: providers answer in 0.2-3 s, and a try that times out after its request
  // went is reported unknown (never sent again), so a shorter one loses most sends.
  s.http_timeout = env.millis("LIA_NOTIFY_HTTP_TIMEOUT_MS", milliseconds{10000}, milliseconds{1000},
                              milliseconds{120000});
  s.rate_per_number = static_cast<int>(env.integer("LIA_NOTIFY_RATE_PER_NUMBER", 10, 0, 10000));
  s.jwt_secret = runtime::jwt_secret(env);
  s.consumers = static_cast<int>(env.integer("LIA_NOTIFY_CONSUMERS", 4, 1, 32));
  s.commands_topic =
      env.topic("LIA_NOTIFY_COMMANDS_TOPIC", std::string(events::topics::notification_commands));
  s.status_topic =
      env.topic("LIA_NOTIFY_STATUS_TOPIC", std::string(events::topics::whatsapp_status));
  s.inbound_topic =
      env.topic("LIA_NOTIFY_INBOUND_TOPIC", std::string(events::topics::whatsapp_inbound));
  s.echoes = env.boolean("LIA_NOTIFY_ECHOES", s.echoes);
  s.events_topic =
      env.topic("LIA_NOTIFY_EVENTS_TOPIC", std::string(events::topics::notification_events));
  // At least 21 days: a command's dead letter (kept 14) may be replayed until then, back onto
  // the command topic (kept 3 more), and its row is what tells it was sent already.
  s.retention = std::chrono::hours{24 * env.integer("LIA_NOTIFY_RETENTION_DAYS", 90, 21, 3650)};
  if (s.backoff_max < s.backoff) {
    env.problem("LIA_NOTIFY_BACKOFF_MAX_MS",
                fmt::format("must be at least LIA_NOTIFY_BACKOFF_MS ({} ms), got {} ms",
                            s.backoff.count(), s.backoff_max.count()));
  }
  return s;
}

std::chrono::milliseconds Settings::longest_command() const {
  return max_attempts * (http_timeout + std::chrono::seconds{1}) + (max_attempts - 1) * backoff_max;
}

}  // namespace lia::notification
