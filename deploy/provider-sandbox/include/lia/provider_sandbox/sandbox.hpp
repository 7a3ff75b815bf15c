#pragma once
// A local stand-in for the WhatsApp providers' send APIs, for tests and the demo.
//
//   POST /{version}/{phone_number_id}/messages   Meta Cloud API (also without {version});
//                                                checks "Authorization: Bearer <token>"
//                                                when a token is configured
//   POST /message/sendText/{instance}            Evolution API; checks the apikey header
//                                                when a key is configured
//
// Each accepted send gets a fresh id ("wamid.<...>" for Meta, upper-case hex for Evolution),
// is recorded, and — when a webhook URL is configured — its delivery ticks are posted back
// like the real providers do: Meta statuses sent -> delivered -> read (signed with
// X-Hub-Signature-256), Evolution messages.update DELIVERY_ACK -> READ (apikey), one
// `tick_delay` apart, each retried while the receiver answers non-2xx.
//
// Control API:
//   GET    /sandbox/sends    {"counts":{...},"sends":[...],"requests":[...]}
//                            (?provider=, ?instance=, ?to= filter the lists)
//   DELETE /sandbox/sends    forget sends, requests and counts
//   GET    /sandbox/faults   the fault rules in force
//   POST   /sandbox/faults   {"fail_next":N,"status":500}  the next N sends fail
//                            {"always_fail":true,"status":500}  every send fails
//                            {"slow_next":N,"delay_ms":M}  the next N sends are
//                            accepted (recorded, ticked) but answered M ms late
//                            {"undeliver_next":N}  the next N sends are accepted, and
//                            their ticks end in a failure: Meta sent -> failed with
//                            errors[0].code ("code", 131026 by default), Evolution ERROR
//                            {"clear":true}  no more faults
//                            optional: "retry_after" (seconds, sent as Retry-After),
//                            "code" (the provider error code), "to", "provider" (only
//                            sends matching them fail)

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lia/core/config.hpp>
#include <lia/core/result.hpp>
#include <lia/http/router.hpp>

namespace lia::provider_sandbox {

struct Config {
  std::string meta_token;        // LIA_SANDBOX_META_TOKEN; empty: not checked
  std::string evolution_apikey;  // LIA_SANDBOX_EVOLUTION_APIKEY; empty: not checked
  std::string webhook_url;       // LIA_SANDBOX_WEBHOOK_URL (ingestion's base); empty: no ticks
  std::string meta_webhook_path = "/webhooks/meta";            // LIA_SANDBOX_META_WEBHOOK_PATH
  std::string evolution_webhook_path = "/webhooks/evolution";  // LIA_SANDBOX_EVOLUTION_WEBHOOK_PATH
  std::string meta_app_secret;  // LIA_SANDBOX_META_APP_SECRET; empty: Meta ticks unsigned
  std::chrono::milliseconds tick_delay{200};       // LIA_SANDBOX_TICK_DELAY_MS
  int webhook_attempts = 5;                        // LIA_SANDBOX_WEBHOOK_ATTEMPTS
  std::chrono::milliseconds webhook_backoff{200};  // LIA_SANDBOX_WEBHOOK_BACKOFF_MS (doubles)
  int webhook_threads = 2;                         // LIA_SANDBOX_WEBHOOK_THREADS
  std::size_t max_recorded = 100'000;              // LIA_SANDBOX_MAX_RECORDED (oldest dropped)

  // Reads the LIA_SANDBOX_* settings; problems are collected in `env` (env.check()).
  static Config read(core::Env& env);
};

struct Send {
  std::string provider;  // "meta" | "evolution"
  std::string instance;
  std::string to;
  std::string type;  // "text" | "template"
  std::string text;  // text body (empty for a Meta template)
  std::string template_name;
  std::vector<std::string> template_parameters;
  std::string provider_message_id;
  std::string at;  // RFC 3339
  std::int64_t at_ms = 0;
};

// Every send request, answered however it was.
struct RequestLog {
  std::string provider;
  std::string instance;
  std::string to;
  int status = 0;
  std::string at;
  std::int64_t at_ms = 0;
};

struct Counts {
  std::uint64_t requests = 0;  // send requests received
  std::uint64_t accepted = 0;
  std::uint64_t faulted = 0;   // failed by an injected fault
  std::uint64_t rejected = 0;  // bad credentials or body
  std::uint64_t webhooks_posted = 0;
  std::uint64_t webhooks_failed = 0;   // gave up after webhook_attempts
  std::uint64_t webhooks_dropped = 0;  // queue full
  std::uint64_t webhooks_pending = 0;
};

class Sandbox {
 public:
  explicit Sandbox(Config config);
  ~Sandbox();  // stop()
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Adds the provider and control routes. The Sandbox must outlive the server.
  void install(http::Router& router);
  // This server's own URL, reported as server_url in Evolution webhooks.
  void set_server_url(std::string url);

  std::vector<Send> sends() const;
  std::vector<RequestLog> requests() const;
  Counts counts() const;
  void reset();
  // The body of POST /sandbox/faults. Errors (invalid_argument) say what is wrong.
  core::Status apply_faults(std::string_view json);

  // Stops posting webhooks (waiting ones are dropped). Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---- the pieces, pure (unit-tested) --------------------------------------------------------

// "wamid." + URL-safe base64 of random bytes; 16 upper-case hex digits starting "3EB0".
std::string new_meta_message_id();
std::string new_evolution_message_id();

// "sha256=<hex HMAC-SHA256(secret, body)>"
std::string meta_signature(std::string_view app_secret, std::string_view body);

// Meta's statuses webhook for one status ("sent", "delivered", "read", "failed"); a failed
// one carries errors[0] with code = `error_code` (digits) and Meta's title for that code.
std::string meta_status_webhook(std::string_view phone_number_id, std::string_view message_id,
                                std::string_view recipient, std::string_view status,
                                std::int64_t unix_seconds, std::string_view error_code = {});

// Evolution's messages.update webhook for one status ("DELIVERY_ACK", "READ").
std::string evolution_update_webhook(std::string_view instance, std::string_view message_id,
                                     std::string_view remote_jid, std::string_view status,
                                     std::string_view date_time, std::string_view apikey,
                                     std::string_view server_url);

// "5511987654321@s.whatsapp.net" for a bare number; a JID as it is.
std::string remote_jid(std::string_view to);

}  // namespace lia::provider_sandbox
