#pragma once
// The whole suite on one machine: a development broker of its own (or a given one), a
// database of its own inside a PostgreSQL cluster, the six services (migrated first) and
// the WhatsApp provider sandbox, wired to each other. Used by the end-to-end tests, the
// demo (`scripts/run`) and the pipeline benchmark.
//
//   auto stack = lia::local::Stack::start({.bin_dir = ..., .pg_admin_url = ...});
//   stack->post_meta(webhooks::meta_text(...));
//   stack->kill("conversation", SIGKILL); stack->restart("conversation");

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <lia/core/result.hpp>
#include <lia/http/client.hpp>
#include <lia/testing/testing.hpp>

namespace lia::local {

// Service names as in services/: ingestion, conversation, ai_orchestration,
// nps_gamification, collections, notification; plus "sandbox".
const std::vector<std::string>& service_names();

// One message the sandbox accepted, as GET /sandbox/sends reports it.
struct SandboxSend {
  std::string provider;
  std::string instance;
  std::string to;
  std::string text;
  std::string provider_message_id;
};

struct Secrets {
  std::string meta_app_secret;
  std::string meta_verify_token;
  std::string meta_access_token;
  std::string evolution_apikey;
  std::string jwt_secret;
  std::string admin_password;
};

struct StackOptions {
  std::string bin_dir;          // where lia-* are built
  std::string pg_admin_url;     // a role that may CREATE DATABASE
  std::string database;         // empty: a new database lia_stack_<random>, dropped by stop()
  std::string kafka_bootstrap;  // empty: start a lia-dev-broker of our own
  std::string work_dir;         // logs and state; empty: a new folder in the temp directory,
                                // removed by stop() unless keep_work_dir() or start() failed
  // Fixed ports, service -> port; a missing service gets an ephemeral one.
  std::map<std::string, std::uint16_t> ports;
  // Extra environment for every process (e.g. LIA_META_GRAPH_URL to send elsewhere).
  std::map<std::string, std::string> env;
  // Environment for one process only, e.g. {"notification", {{"LIA_NOTIFY_MAX_ATTEMPTS","2"}}}.
  std::map<std::string, std::map<std::string, std::string>> service_env;
  bool detach = false;  // processes outlive this object once started (the demo leaves the
                        // suite up); a start that fails stops what it launched all the same
  // Called as each process is launched (service name, pid), before it is ready: the demo
  // records it at once, so an interrupted start leaves nothing it cannot stop.
  std::function<void(const std::string&, int)> on_launch;
  std::chrono::seconds start_timeout{90};
};

class Stack {
 public:
  static core::Result<std::unique_ptr<Stack>> start(StackOptions options);
  ~Stack();  // stop()s unless detached after a whole start
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  std::string url(const std::string& service) const;  // http://127.0.0.1:<port>
  std::uint16_t port(const std::string& service) const;
  const Secrets& secrets() const { return secrets_; }
  const std::string& kafka_bootstrap() const { return kafka_bootstrap_; }
  const std::string& pg_url() const { return pg_url_; }  // the stack's own database
  const std::string& work_dir() const { return options_.work_dir; }
  int pid(const std::string& service) const;  // a service, "sandbox" or "broker" (ours); -1
  std::string log(const std::string& service) const;

  // Signals one process (e.g. SIGKILL mid-traffic) and starts it again on the same port;
  // restart() returns once it is ready again (its consumers back in their groups).
  void kill(const std::string& service, int sig);
  core::Status restart(const std::string& service);
  // Stops everything it started (SIGTERM, then SIGKILL), drops its own database and removes
  // its own work folder (unless keep_work_dir() was called: a failed test keeps the logs).
  void stop();
  void keep_work_dir() { keep_work_dir_ = true; }

  // Posts a Meta webhook body signed with the stack's app secret. Returns the HTTP status.
  core::Result<int> post_meta(const std::string& body, bool sign = true);
  // The request post_meta() sends, for a caller that sends it itself (from another thread,
  // again and again as a provider does).
  http::ClientRequest meta_request(const std::string& body, bool sign = true) const;
  core::Result<int> post_evolution(const std::string& event, const std::string& body,
                                   bool with_key = true);
  // Conversation's login; returns the JWT.
  core::Result<std::string> login(const std::string& username, const std::string& password);
  // JSON request to a service with an optional bearer token.
  core::Result<http::ClientResponse> call(const std::string& service, const std::string& method,
                                          const std::string& path, const std::string& body = {},
                                          const std::string& token = {});
  http::Client& client() { return client_; }

  // What the provider sandbox accepted (optionally only for one recipient), and its faults.
  core::Result<std::vector<SandboxSend>> sandbox_sends(const std::string& to = {});
  core::Status sandbox_faults(const std::string& json_body);

 private:
  explicit Stack(StackOptions options);
  core::Status launch(const std::string& service);
  core::Status wait_ready(const std::string& service);    // its "ready" log line: listening
  core::Status wait_serving(const std::string& service);  // /readyz 200: consumers joined
  std::map<std::string, std::string> env_for(const std::string& service) const;

  StackOptions options_;
  Secrets secrets_;
  std::string kafka_bootstrap_;
  std::string pg_url_;
  bool own_database_ = false;
  bool own_work_dir_ = false;
  bool keep_work_dir_ = false;
  std::unique_ptr<testing::Process> broker_;
  std::map<std::string, std::unique_ptr<testing::Process>> procs_;
  std::map<std::string, std::uint16_t> ports_;
  std::map<std::string, int> generation_;
  http::Client client_;
  bool stopped_ = false;
  bool started_ = false;  // start() finished: a detached stack is left running
};

// Webhook bodies as the providers send them.
namespace webhooks {
// Meta Cloud API: one text message from `from` (digits) to phone_number_id.
std::string meta_text(const std::string& phone_number_id, const std::string& from,
                      const std::string& name, const std::string& wamid, const std::string& text,
                      std::int64_t unix_seconds);
// Meta Cloud API: a status of an outbound message.
std::string meta_status(const std::string& phone_number_id, const std::string& recipient,
                        const std::string& wamid, const std::string& status,
                        std::int64_t unix_seconds);
// Evolution API messages.upsert with a plain conversation text.
std::string evolution_text(const std::string& instance, const std::string& from,
                           const std::string& name, const std::string& id, const std::string& text,
                           std::int64_t unix_seconds);
}  // namespace webhooks

}  // namespace lia::local
