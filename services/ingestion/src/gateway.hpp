#pragma once
// The webhook gateway: verifies, normalizes and publishes, and answers 200 only after Kafka
// acknowledged every event of the request.
//
//   GET  /webhooks/meta                 Meta's subscription handshake (hub.challenge)
//   POST /webhooks/meta                 X-Hub-Signature-256 over the raw body, then events
//   POST /webhooks/evolution            apikey header (or the body's apikey), then events
//   POST /webhooks/evolution/{event}    the same, for Evolution's webhook-by-events
//
// Answers: 200 {"accepted":N} (plus "rejected":M when items were left out) once every record
// is acknowledged; 503 if one failed or no ack came within the ack timeout (the provider
// retries; a redelivered webhook carries the same event ids); 401 on a bad signature or
// apikey (nothing is parsed or produced); 400 on broken JSON or a body that isn't a webhook
// (the message names the field); 413 past the body limit (the server's 4 MiB; 24 MiB kept
// of the 192 MiB read on the Evolution routes, see GatewayConfig).
//
// The POST handlers run on the HTTP I/O threads and never block: records are produced
// asynchronously, acks are counted with an atomic, and a single deadline thread answers the
// requests whose acks are late.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <lia/core/clock.hpp>
#include <lia/http/router.hpp>
#include <lia/kafka/kafka.hpp>

#include "audit.hpp"
#include "normalize.hpp"

namespace lia::ingestion {

// Memory for request bodies, each provider's routes on their own (http::BodyBudget), about
// the 128 MiB one budget for all held before: Meta's bodies are at most 4 MiB (sixteen at that
// size at once, thousands of ordinary ones); an Evolution body keeps up to
// LIA_INGESTION_EVOLUTION_BODY_LIMIT_MIB (24, at most 64) once its inline file is dropped, and
// its budget holds two at least. The other routes take no body.
inline constexpr std::size_t kMetaBodyBudget = std::size_t{64} * 1024 * 1024;
inline constexpr std::size_t kOtherRoutesBodyBudget = std::size_t{4} * 1024 * 1024;
constexpr std::size_t evolution_body_budget(std::size_t body_limit) {
  return std::max(std::size_t{64} * 1024 * 1024, 2 * body_limit);
}

struct GatewayConfig {
  std::string service = "ingestion";  // CloudEvents source /lia/<service>
  std::string meta_verify_token;
  std::string meta_app_secret;
  std::string evolution_apikey;
  // Each Evolution instance's own number, for from_me messages whose webhook has no `sender`
  // (an instance over the Cloud API). LIA_EVOLUTION_INSTANCE_NUMBERS.
  InstanceNumbers evolution_numbers;
  std::chrono::milliseconds ack_timeout{5000};
  std::string inbound_topic = "whatsapp.inbound.v1";
  std::string status_topic = "whatsapp.status.v1";
  // Validate every event against its schema before producing (runtime::make_record). Off by
  // default: the normalizer only builds schema-valid events (the tests validate every kind)
  // and RapidJSON's validator costs more than everything else a request does together.
  bool validate_events = false;
  // Record a `processed` audit row for every acknowledged event (through the AuditSink).
  // Off when the audit consumer writes those rows instead.
  bool audit_acked = true;
  // Whole-request rows of rejected webhooks (401, 400) written per second at most: anyone on
  // the internet can send unsigned POSTs, and a row each would fill the audit queue (dropping
  // the rows of real events) and the table. The rest are only counted
  // (LIA_INGESTION_AUDIT_REJECTED_PER_S; 0 writes none).
  std::int64_t rejected_rows_per_s = 50;
  // Evolution inlines a media message's file as base64 (always over the Cloud API without S3,
  // and on Baileys with the webhook's base64 option). Its routes read bodies of up to
  // evolution_wire_limit, dropping the inline file as it arrives (InlineFileFilter), and keep
  // up to evolution_body_limit of the rest. Meta's webhooks carry no file and keep the
  // server's 4 MiB.
  std::size_t evolution_body_limit = std::size_t{24} * 1024 * 1024;
  std::size_t evolution_wire_limit = std::size_t{192} * 1024 * 1024;
};

class Gateway {
 public:
  // audit may be null (nothing recorded).
  Gateway(GatewayConfig config, std::shared_ptr<kafka::Producer> producer,
          std::shared_ptr<AuditSink> audit,
          const core::Clock& clock = core::SystemClock::instance());
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  void add_routes(http::Router& router);

  http::Response verify(const http::Request& request) const;
  void meta(http::Request&& request, http::Responder respond);
  void evolution(http::Request&& request, http::Responder respond);

  struct Shared;
  class Deadlines;

 private:
  void publish(Batch batch, http::Responder respond);
  void reject(Provider provider, int status, std::string_view code, std::string_view reason,
              std::string_view message, std::string_view provider_event, const std::string& body,
              const http::Responder& respond) const;
  void audit_rejections(const Batch& batch) const;
  kafka::Record to_record(Item& item, const std::string& topic, const std::string& time) const;

  GatewayConfig config_;
  std::shared_ptr<kafka::Producer> producer_;
  const core::Clock& clock_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Deadlines> deadlines_;
  std::string source_;  // "/lia/<service>"
};

}  // namespace lia::ingestion
