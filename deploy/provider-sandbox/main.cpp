// lia-provider-sandbox: a local WhatsApp provider (Meta Cloud API and Evolution API send
// endpoints) for tests and the demo. See README.md.
#include <iostream>

#include <pthread.h>
#include <signal.h>

#include <lia/core/config.hpp>
#include <lia/core/log.hpp>
#include <lia/http/server.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

int main() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // only sigwait below sees them

  lia::core::Env env;
  const auto port = env.port("LIA_HTTP_PORT", 8090);
  // Loopback unless told otherwise: it takes anyone's faults and sends, without a login.
  const auto address = env.ip_address("LIA_HTTP_ADDRESS", "127.0.0.1");
  const auto level = env.one_of("LIA_LOG_LEVEL", "info", {"debug", "info", "warn", "error"});
  auto config = lia::provider_sandbox::Config::read(env);
  try {
    env.check();
  } catch (const lia::core::ConfigError& e) {
    std::cerr << "lia-provider-sandbox: " << e.what() << "\n";
    return 2;
  }
  lia::core::Logger::Options lo;
  lo.service = "provider-sandbox";
  lo.level = lia::core::parse_level(level);
  lia::core::set_log(lia::core::Logger(lo));
  const auto& log = lia::core::log();
  {
    std::vector<lia::core::Field> fields;
    for (const auto& [name, shown] : env.summary())
      fields.push_back(lia::core::f::str(name, shown));
    log.log(lia::core::Level::info, "starting", fields);
  }
  if (!config.webhook_url.empty() && config.meta_app_secret.empty()) {
    log.warn("LIA_SANDBOX_META_APP_SECRET is not set: Meta status webhooks go unsigned");
  }

  lia::provider_sandbox::Sandbox sandbox(config);
  lia::http::Router router;
  sandbox.install(router);
  lia::http::ServerOptions so;
  so.address = address;
  so.port = port;
  lia::http::Server server(so, std::move(router));
  if (auto st = server.start(); !st.ok()) {
    log.error("cannot start the HTTP server", {lia::core::f::str("error", st.error().describe())});
    return 1;
  }
  sandbox.set_server_url("http://127.0.0.1:" + std::to_string(server.port()));
  log.info("ready", {lia::core::f::num("port", server.port())});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.info("stopping");
  server.stop(std::chrono::seconds{5});
  sandbox.stop();
  log.info("stopped");
  return 0;
}
