#include "stack.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <signal.h>

#include <lia/auth/auth.hpp>
#include <lia/core/log.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/pg/pool.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

namespace lia::local {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string random_token(std::size_t bytes) {
  return auth::to_hex(auth::random_bytes(bytes));
}

// The demo's processes stay up after its launcher exits; a test's die with the test.
testing::Lifetime lifetime(const StackOptions& o) {
  return o.detach ? testing::Lifetime::may_outlive : testing::Lifetime::with_parent;
}

std::string binary_for(const std::string& service) {
  if (service == "sandbox") return "lia-provider-sandbox";
  std::string b = "lia-" + service;
  for (auto& c : b) {
    if (c == '_') c = '-';
  }
  return b;
}

// The port in a process's `"msg":"ready"` log line, 0 until it is there.
std::uint16_t ready_port(const std::string& log) {
  static const std::regex ready(R"("msg":"ready"[^\n]*"port":([0-9]+))");
  std::smatch m;
  std::uint16_t port = 0;
  auto begin = log.cbegin();
  while (std::regex_search(begin, log.cend(), m, ready)) {  // the last one counts (restarts)
    port = static_cast<std::uint16_t>(std::stoi(m[1]));
    begin = m.suffix().first;
  }
  return port;
}

// postgresql://user@host:port/db?x -> same with another database.
std::string with_database(const std::string& url, const std::string& db) {
  const auto scheme_end = url.find("://") + 3;
  const auto slash = url.find('/', scheme_end);
  const auto query = url.find('?', scheme_end);
  std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + rest;
}

core::Status admin_exec(const std::string& admin_url, const std::string& sql) {
  pg::PoolConfig pc;
  pc.url = admin_url;
  pc.size = 1;
  auto pool = pg::Pool::create(pc);
  if (!pool) return pool.error();
  auto r = (*pool)->exec(sql);
  if (!r) return r.error();
  return {};
}

}  // namespace

const std::vector<std::string>& service_names() {
  static const std::vector<std::string> names{"ingestion",        "conversation",
                                              "ai_orchestration", "nps_gamification",
                                              "collections",      "notification"};
  return names;
}

Stack::Stack(StackOptions options) : options_(std::move(options)) {
  secrets_.meta_app_secret = random_token(16);
  secrets_.meta_verify_token = random_token(8);
  secrets_.meta_access_token = random_token(16);
  secrets_.evolution_apikey = random_token(16);
  secrets_.jwt_secret = random_token(24);
  secrets_.admin_password = random_token(8);
}

Stack::~Stack() {
  if (!options_.detach || !started_) stop();
}

core::Result<std::unique_ptr<Stack>> Stack::start(StackOptions options) {
  std::error_code ec;
  const bool own_work_dir = options.work_dir.empty();
  if (own_work_dir) {
    fs::path tmp = fs::temp_directory_path(ec);  // $TMPDIR, else /tmp
    if (ec) tmp = "/tmp";
    options.work_dir = (tmp / fmt::format("lia-stack-{}", random_token(4))).string();
  }
  fs::create_directories(options.work_dir + "/logs", ec);
  if (ec) return core::Error(core::Errc::invalid_argument, "cannot create " + options.work_dir);
  std::unique_ptr<Stack> s(new Stack(std::move(options)));
  s->own_work_dir_ = own_work_dir;
  s->keep_work_dir_ = true;  // until it has started: a failed start keeps the logs it names
  auto& o = s->options_;
  // Settings given in the stack's environment win over generated ones (the demo honours
  // LIA_* overrides this way).
  auto given = [&](const char* name, std::string& slot) {
    if (auto it = o.env.find(name); it != o.env.end()) slot = it->second;
  };
  given("LIA_META_APP_SECRET", s->secrets_.meta_app_secret);
  given("LIA_META_VERIFY_TOKEN", s->secrets_.meta_verify_token);
  given("LIA_META_ACCESS_TOKEN", s->secrets_.meta_access_token);
  given("LIA_EVOLUTION_APIKEY", s->secrets_.evolution_apikey);
  given("LIA_JWT_SECRET", s->secrets_.jwt_secret);
  given("LIA_ADMIN_PASSWORD", s->secrets_.admin_password);

  // ---- Kafka ---------------------------------------------------------------------------
  if (o.kafka_bootstrap.empty()) {
    const std::string topics = o.work_dir + "/topics.tsv";
    const std::string bs_file = o.work_dir + "/kafka.bootstrap";
    {
      testing::Process catalog({o.bin_dir + "/lia-catalog"}, {}, topics);
      if (catalog.wait(10s) != std::optional<int>(0)) {
        return core::Error(core::Errc::internal, "lia-catalog failed");
      }
    }
    s->broker_ = std::make_unique<testing::Process>(
        std::vector<std::string>{o.bin_dir + "/lia-dev-broker", "--bootstrap-file", bs_file,
                                 "--topics", topics},
        std::map<std::string, std::string>{}, o.work_dir + "/logs/broker.log", lifetime(o));
    if (!testing::wait_until([&] { return fs::exists(bs_file) || !s->broker_->running(); }, 20s)) {
      return core::Error(
          core::Errc::unavailable,
          "the development broker did not start; its log: " + o.work_dir + "/logs/broker.log");
    }
    std::ifstream in(bs_file);
    std::getline(in, s->kafka_bootstrap_);
    if (o.detach) s->broker_->detach();
  } else {
    s->kafka_bootstrap_ = o.kafka_bootstrap;
  }

  // ---- PostgreSQL ------------------------------------------------------------------------
  if (o.database.empty()) {
    o.database = "lia_stack_" + random_token(4);
    if (auto st = admin_exec(o.pg_admin_url, "CREATE DATABASE " + o.database); !st.ok()) {
      return core::Error(st.error().code(),
                         "cannot create the stack's database: " + st.error().message());
    }
    s->own_database_ = !o.detach;
  }
  s->pg_url_ = with_database(o.pg_admin_url, o.database);

  // ---- migrations, all at once ----------------------------------------------------------
  {
    std::vector<std::unique_ptr<testing::Process>> migrations;
    for (const auto& svc : service_names()) {
      migrations.push_back(std::make_unique<testing::Process>(
          std::vector<std::string>{o.bin_dir + "/" + binary_for(svc), "--migrate"}, s->env_for(svc),
          o.work_dir + "/logs/" + svc + ".migrate.log"));
    }
    for (std::size_t i = 0; i < migrations.size(); ++i) {
      auto code = migrations[i]->wait(60s);
      if (code != std::optional<int>(0)) {
        return core::Error(
            core::Errc::internal,
            fmt::format("{} --migrate failed: {}", service_names()[i], migrations[i]->output()));
      }
    }
  }

  // ---- processes, in the order their addresses are needed -------------------------------
  for (const std::string svc : {"ingestion", "sandbox", "conversation", "ai_orchestration",
                                "nps_gamification", "collections", "notification"}) {
    if (auto st = s->launch(svc); !st.ok()) return st.error();
    if (auto st = s->wait_ready(svc); !st.ok()) return st.error();
  }
  // Listening is not consuming yet: each consumer group's first rebalance takes seconds, so
  // wait for them all together rather than let the first messages wait.
  for (const auto& svc : service_names()) {
    if (auto st = s->wait_serving(svc); !st.ok()) return st.error();
  }
  s->keep_work_dir_ = false;
  s->started_ = true;
  return s;
}

std::map<std::string, std::string> Stack::env_for(const std::string& service) const {
  std::map<std::string, std::string> env{
      {"LIA_KAFKA_BOOTSTRAP", kafka_bootstrap_},
      {"LIA_PG_URL", pg_url_},
      {"LIA_JWT_SECRET", secrets_.jwt_secret},
      {"LIA_LOG_LEVEL", "info"},
      // Local only: the sandbox has no authentication, /metrics none either.
      {"LIA_HTTP_ADDRESS", "127.0.0.1"},
      {"LIA_SHUTDOWN_GRACE_MS", "5000"},
      {"LIA_META_VERIFY_TOKEN", secrets_.meta_verify_token},
      {"LIA_META_APP_SECRET", secrets_.meta_app_secret},
      {"LIA_META_ACCESS_TOKEN", secrets_.meta_access_token},
      {"LIA_EVOLUTION_APIKEY", secrets_.evolution_apikey},
      {"LIA_ADMIN_PASSWORD", secrets_.admin_password},
  };
  auto port = ports_.find(service);
  env["LIA_HTTP_PORT"] = std::to_string(port != ports_.end() ? port->second : 0);
  if (service == "sandbox") {
    env["LIA_SANDBOX_WEBHOOK_URL"] = url("ingestion");
    env["LIA_SANDBOX_META_APP_SECRET"] = secrets_.meta_app_secret;
    env["LIA_SANDBOX_META_TOKEN"] = secrets_.meta_access_token;
    env["LIA_SANDBOX_EVOLUTION_APIKEY"] = secrets_.evolution_apikey;
  }
  if (service == "notification" && ports_.count("sandbox") > 0) {
    env["LIA_META_GRAPH_URL"] = url("sandbox") + "/v25.0";
    env["LIA_EVOLUTION_URL"] = url("sandbox");
  }
  for (const auto& [k, v] : options_.env) env[k] = v;
  if (auto it = options_.service_env.find(service); it != options_.service_env.end()) {
    for (const auto& [k, v] : it->second) env[k] = v;
  }
  return env;
}

core::Status Stack::launch(const std::string& service) {
  if (auto fixed = options_.ports.find(service); fixed != options_.ports.end())
    ports_[service] = fixed->second;
  const int gen = ++generation_[service];
  const std::string log = fmt::format("{}/logs/{}{}.log", options_.work_dir, service,
                                      gen > 1 ? "." + std::to_string(gen) : "");
  std::error_code ec;
  fs::remove(log, ec);  // a previous run's "ready" line must not count
  procs_[service] = std::make_unique<testing::Process>(
      std::vector<std::string>{options_.bin_dir + "/" + binary_for(service)}, env_for(service), log,
      lifetime(options_));
  if (options_.detach) procs_[service]->detach();
  if (options_.on_launch) options_.on_launch(service, procs_[service]->pid());
  return {};
}

core::Status Stack::wait_ready(const std::string& service) {
  auto& p = *procs_.at(service);
  std::uint16_t port = 0;
  testing::wait_until(
      [&] {
        port = ready_port(p.output());
        return port != 0 || !p.running();
      },
      options_.start_timeout, 20ms);
  if (port == 0) {
    return core::Error(core::Errc::unavailable,
                       fmt::format("{} did not become ready; its log ({}):\n{}", service,
                                   p.log_path(), p.output()));
  }
  ports_[service] = port;
  return {};
}

std::string Stack::url(const std::string& service) const {
  return "http://127.0.0.1:" + std::to_string(port(service));
}

std::uint16_t Stack::port(const std::string& service) const {
  auto it = ports_.find(service);
  return it == ports_.end() ? 0 : it->second;
}

int Stack::pid(const std::string& service) const {
  if (service == "broker") return broker_ ? broker_->pid() : -1;
  auto it = procs_.find(service);
  return it == procs_.end() ? -1 : it->second->pid();
}

std::string Stack::log(const std::string& service) const {
  auto it = procs_.find(service);
  return it == procs_.end() ? std::string{} : it->second->output();
}

void Stack::kill(const std::string& service, int sig) {
  auto& p = *procs_.at(service);
  p.signal(sig);
  p.wait(30s);
}

core::Status Stack::wait_serving(const std::string& service) {
  std::string last = "no answer";
  const bool ready = testing::wait_until(
      [&] {
        auto r = call(service, "GET", "/readyz");
        if (r) last = fmt::format("HTTP {} {}", r->status, r->body);
        return (r && r->status == 200) || !procs_.at(service)->running();
      },
      options_.start_timeout, 50ms);
  if (!ready || !procs_.at(service)->running()) {
    return core::Error(
        core::Errc::unavailable,
        fmt::format("{} did not become ready (/readyz: {}); its log ({}):\n{}", service, last,
                    procs_.at(service)->log_path(), procs_.at(service)->output()));
  }
  return {};
}

core::Status Stack::restart(const std::string& service) {
  // Same port, so the others' addresses stay valid.
  options_.ports[service] = ports_.at(service);
  if (auto st = launch(service); !st.ok()) return st;
  if (auto st = wait_ready(service); !st.ok()) return st;
  return wait_serving(service);
}

void Stack::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, p] : procs_) p->signal(SIGTERM);
  for (auto& [name, p] : procs_) {
    if (!p->wait(10s)) {
      p->signal(SIGKILL);
      p->wait(5s);
    }
  }
  procs_.clear();
  if (broker_) {
    broker_->signal(SIGTERM);
    broker_->wait(5s);
    broker_.reset();
  }
  if (own_database_) {
    (void)admin_exec(options_.pg_admin_url,
                     "DROP DATABASE IF EXISTS " + options_.database + " WITH (FORCE)");
  }
  if (own_work_dir_ && !keep_work_dir_) {
    std::error_code ec;
    fs::remove_all(options_.work_dir, ec);
  }
}

http::ClientRequest Stack::meta_request(const std::string& body, bool sign) const {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url("ingestion") + "/webhooks/meta";
  req.headers.add("Content-Type", "application/json");
  const std::string secret = sign ? secrets_.meta_app_secret : "forged-" + secrets_.meta_app_secret;
  req.headers.add("X-Hub-Signature-256", provider_sandbox::meta_signature(secret, body));
  req.body = body;
  return req;
}

core::Result<int> Stack::post_meta(const std::string& body, bool sign) {
  auto r = client_.request(meta_request(body, sign));
  if (!r) return r.error();
  return r->status;
}

core::Result<int> Stack::post_evolution(const std::string& event, const std::string& body,
                                        bool with_key) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url("ingestion") + "/webhooks/evolution/" + event;
  req.headers.add("Content-Type", "application/json");
  req.headers.add("apikey", with_key ? secrets_.evolution_apikey : std::string("wrong-key"));
  req.body = body;
  auto r = client_.request(req);
  if (!r) return r.error();
  return r->status;
}

core::Result<http::ClientResponse> Stack::call(const std::string& service,
                                               const std::string& method, const std::string& path,
                                               const std::string& body, const std::string& token) {
  http::ClientRequest req;
  req.method = method;
  req.url = url(service) + path;
  if (!body.empty()) req.headers.add("Content-Type", "application/json");
  if (!token.empty()) req.headers.add("Authorization", "Bearer " + token);
  req.body = body;
  return client_.request(req);
}

core::Result<std::string> Stack::login(const std::string& username, const std::string& password) {
  json::Writer w;
  w.begin_object().field("username", username).field("password", password).end_object();
  auto r = call("conversation", "POST", "/api/auth/login", w.take());
  if (!r) return r.error();
  if (r->status != 200) {
    return core::Error(core::Errc::unauthorized,
                       fmt::format("login answered {}: {}", r->status, r->body));
  }
  static const std::regex token(R"re("token"\s*:\s*"([^"]+)")re");
  std::smatch m;
  if (!std::regex_search(r->body, m, token))
    return core::Error(core::Errc::internal, "no token in " + r->body);
  return std::string(m[1]);
}

core::Result<std::vector<SandboxSend>> Stack::sandbox_sends(const std::string& to) {
  auto r = call("sandbox", "GET",
                "/sandbox/sends" + (to.empty() ? std::string() : "?to=" + http::url_encode(to)));
  if (!r) return r.error();
  if (r->status != 200)
    return core::Error(core::Errc::internal, "sandbox answered " + std::to_string(r->status));
  auto doc = json::parse(r->body);
  if (!doc) return doc.error();
  auto root = json::Obj::root(*doc);
  if (!root) return root.error();
  auto sends = root->arr("sends");
  if (!sends) return sends.error();
  std::vector<SandboxSend> out;
  for (std::size_t i = 0; i < sends->size(); ++i) {
    auto o = sends->obj(i);
    if (!o) return o.error();
    SandboxSend s;
    auto get = [&](const char* k) {
      auto v = o->opt_str(k);
      return v && *v ? std::string(**v) : std::string();
    };
    s.provider = get("provider");
    s.instance = get("instance");
    s.to = get("to");
    s.text = get("text");
    s.provider_message_id = get("provider_message_id");
    out.push_back(std::move(s));
  }
  return out;
}

core::Status Stack::sandbox_faults(const std::string& json_body) {
  auto r = call("sandbox", "POST", "/sandbox/faults", json_body);
  if (!r) return r.error();
  if (r->status / 100 != 2)
    return core::Error(core::Errc::invalid_argument, "sandbox faults: " + r->body);
  return {};
}

namespace webhooks {

std::string meta_text(const std::string& phone_number_id, const std::string& from,
                      const std::string& name, const std::string& wamid, const std::string& text,
                      std::int64_t unix_seconds) {
  json::Writer w;
  w.begin_object().field("object", "whatsapp_business_account").key("entry").begin_array();
  w.begin_object().field("id", "102290129340398").key("changes").begin_array().begin_object();
  w.field("field", "messages").key("value").begin_object();
  w.field("messaging_product", "whatsapp");
  w.key("metadata")
      .begin_object()
      .field("display_phone_number", "15550783881")
      .field("phone_number_id", phone_number_id)
      .end_object();
  w.key("contacts").begin_array().begin_object();
  w.key("profile").begin_object().field("name", name).end_object().field("wa_id", from);
  w.end_object().end_array();
  w.key("messages").begin_array().begin_object();
  w.field("from", from)
      .field("id", wamid)
      .field("timestamp", std::to_string(unix_seconds))
      .field("type", "text");
  w.key("text").begin_object().field("body", text).end_object();
  w.end_object().end_array();
  w.end_object().end_object().end_array().end_object().end_array().end_object();
  return w.take();
}

std::string meta_status(const std::string& phone_number_id, const std::string& recipient,
                        const std::string& wamid, const std::string& status,
                        std::int64_t unix_seconds) {
  json::Writer w;
  w.begin_object().field("object", "whatsapp_business_account").key("entry").begin_array();
  w.begin_object().field("id", "102290129340398").key("changes").begin_array().begin_object();
  w.field("field", "messages").key("value").begin_object();
  w.field("messaging_product", "whatsapp");
  w.key("metadata")
      .begin_object()
      .field("display_phone_number", "15550783881")
      .field("phone_number_id", phone_number_id)
      .end_object();
  w.key("statuses").begin_array().begin_object();
  w.field("id", wamid)
      .field("status", status)
      .field("timestamp", std::to_string(unix_seconds))
      .field("recipient_id", recipient);
  w.end_object().end_array();
  w.end_object().end_object().end_array().end_object().end_array().end_object();
  return w.take();
}

std::string evolution_text(const std::string& instance, const std::string& from,
                           const std::string& name, const std::string& id, const std::string& text,
                           std::int64_t unix_seconds) {
  json::Writer w;
  w.begin_object().field("event", "messages.upsert").field("instance", instance);
  w.key("data").begin_object();
  w.key("key")
      .begin_object()
      .field("remoteJid", from + "@s.whatsapp.net")
      .field("fromMe", false)
      .field("id", id)
      .end_object();
  w.field("pushName", name);
  w.key("message").begin_object().field("conversation", text).end_object();
  w.field("messageType", "conversation").field("messageTimestamp", unix_seconds);
  w.end_object();
  w.field("date_time", "2026-11-22T12:00:00.000Z")
      .field("server_url", "http://127.0.0.1")
      .end_object();
  return w.take();
}

}  // namespace webhooks
}  // namespace lia::local
