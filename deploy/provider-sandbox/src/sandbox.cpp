#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <lia/auth/auth.hpp>
#include <lia/core/clock.hpp>
#include <lia/core/log.hpp>
#include <lia/http/client.hpp>
#include <lia/json/json.hpp>
#include <lia/json/writer.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

namespace lia::provider_sandbox {
namespace {

using Steady = std::chrono::steady_clock;
using core::f::id;
using core::f::num;
using core::f::str;

constexpr std::size_t kMaxPendingJobs = 100'000;

struct FaultRule {
  int remaining = -1;  // -1: every matching send
  int status = 500;
  std::optional<int> retry_after;
  std::optional<std::string> code;
  std::string to;
  std::string provider;
  // A slow rule: the send is accepted as usual, its answer comes this much later.
  std::optional<std::chrono::milliseconds> delay;
  // An undelivered rule: the send is accepted as usual, and its ticks end in a failure (Meta:
  // sent, then failed with `code`; Evolution: ERROR), as when the recipient is unreachable.
  bool undeliver = false;

  bool answers_at_once() const { return !delay && !undeliver; }  // with the fault's error
};

// One message's delivery ticks, posted in order.
struct TickJob {
  std::string provider;
  std::string instance;
  std::string message_id;
  std::string to;
  std::vector<std::string> statuses;
  std::string error_code;  // Meta's code in a "failed" status
  std::size_t next = 0;
  int attempt = 0;
};

std::string now_rfc3339() {
  return core::format_rfc3339(core::SystemClock::instance().now());
}
std::int64_t now_ms() {
  return core::SystemClock::instance().now_ms();
}

http::Response meta_error(int status, int code, std::string_view message,
                          std::string_view details = {}) {
  json::Writer w;
  w.begin_object()
      .object_field("error")
      .field("message", message)
      .field("type", "OAuthException")
      .field("code", code);
  if (!details.empty()) {
    w.object_field("error_data")
        .field("messaging_product", "whatsapp")
        .field("details", details)
        .end_object();
  }
  w.field("fbtrace_id", "sandbox" + std::to_string(now_ms())).end_object().end_object();
  return http::Response::json(status, w.take());
}

http::Response evolution_error(int status, std::string_view message) {
  json::Writer w;
  w.begin_object()
      .field("status", status)
      .field("error", http::reason_phrase(status))
      .object_field("response")
      .array_field("message")
      .value(message)
      .end_array()
      .end_object()
      .end_object();
  return http::Response::json(status, w.take());
}

int default_meta_code(int status) {
  if (status == 429) return 130429;
  if (status == 401) return 190;
  if (status >= 500) return 131000;
  return 100;
}

bool same_chat(std::string_view a, std::string_view b) {
  return remote_jid(a) == remote_jid(b);
}

void write_send(json::Writer& w, const Send& s) {
  w.begin_object()
      .field("provider", s.provider)
      .field("instance", s.instance)
      .field("to", s.to)
      .field("type", s.type)
      .field("text", s.text);
  if (!s.template_name.empty()) {
    w.field("template", s.template_name).array_field("parameters");
    for (const auto& p : s.template_parameters) w.value(p);
    w.end_array();
  }
  w.field("provider_message_id", s.provider_message_id)
      .field("at", s.at)
      .field("at_ms", s.at_ms)
      .end_object();
}

void write_rule(json::Writer& w, const FaultRule& r) {
  w.begin_object();
  if (r.delay) {
    w.field("slow_next", r.remaining).field("delay_ms", r.delay->count());
  } else if (r.undeliver) {
    w.field("undeliver_next", r.remaining);
  } else if (r.remaining < 0) {
    w.field("status", r.status).field("always_fail", true);
  } else {
    w.field("status", r.status).field("fail_next", r.remaining);
  }
  w.field("retry_after", r.retry_after).field("code", r.code);
  if (!r.to.empty()) w.field("to", r.to);
  if (!r.provider.empty()) w.field("provider", r.provider);
  w.end_object();
}

}  // namespace

struct Sandbox::Impl {
  explicit Impl(Config c) : config(std::move(c)) {}

  Config config;
  std::string server_url;

  mutable std::mutex mu;
  std::deque<Send> sends;
  std::deque<RequestLog> requests;
  Counts counts;
  std::vector<FaultRule> faults;

  // Webhook ticks, by due time.
  std::mutex tick_mu;
  std::condition_variable tick_cv;
  std::multimap<Steady::time_point, TickJob> queue;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::atomic<std::uint64_t> posted{0}, failed{0}, dropped{0}, pending{0};
  http::Client client;

  void log_request(std::string provider, std::string instance, std::string to, int status) {
    std::lock_guard lock(mu);
    ++counts.requests;
    requests.push_back(
        {std::move(provider), std::move(instance), std::move(to), status, now_rfc3339(), now_ms()});
    while (requests.size() > config.max_recorded) requests.pop_front();
  }

  // The fault for this send, if a rule matches (and uses up one of its failures).
  std::optional<FaultRule> take_fault(std::string_view provider, std::string_view to) {
    std::lock_guard lock(mu);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!it->provider.empty() && it->provider != provider) continue;
      if (!it->to.empty() && !same_chat(it->to, to)) continue;
      FaultRule hit = *it;
      if (it->remaining > 0 && --it->remaining == 0) faults.erase(it);
      ++counts.faulted;
      return hit;
    }
    return std::nullopt;
  }

  void accept(const Send& s, std::vector<std::string> statuses, std::string error_code = {}) {
    {
      std::lock_guard lock(mu);
      ++counts.accepted;
      sends.push_back(s);
      while (sends.size() > config.max_recorded) sends.pop_front();
    }
    if (config.webhook_url.empty()) return;
    TickJob job{s.provider, s.instance,          s.provider_message_id,
                s.to,       std::move(statuses), std::move(error_code)};
    std::lock_guard lock(tick_mu);
    if (stopping) return;
    if (queue.size() >= kMaxPendingJobs) {
      ++dropped;
      return;
    }
    pending += job.statuses.size();
    queue.emplace(Steady::now() + config.tick_delay, std::move(job));
    tick_cv.notify_one();
  }

  // ---- webhook posting -------------------------------------------------------------------

  bool post(const TickJob& job) {
    const std::string& status = job.statuses[job.next];
    http::ClientRequest req;
    req.method = "POST";
    req.timeout = std::chrono::seconds{5};
    req.headers.add("Content-Type", "application/json");
    if (job.provider == "meta") {
      req.url = config.webhook_url + config.meta_webhook_path;
      req.body = meta_status_webhook(job.instance, job.message_id, job.to, status, now_ms() / 1000,
                                     job.error_code);
      if (!config.meta_app_secret.empty()) {
        req.headers.add("X-Hub-Signature-256", meta_signature(config.meta_app_secret, req.body));
      }
    } else {
      req.url = config.webhook_url + config.evolution_webhook_path;
      std::string server;
      {
        std::lock_guard lock(mu);
        server = server_url;
      }
      req.body = evolution_update_webhook(job.instance, job.message_id, remote_jid(job.to), status,
                                          now_rfc3339(), config.evolution_apikey, server);
      if (!config.evolution_apikey.empty()) req.headers.add("apikey", config.evolution_apikey);
    }
    auto res = client.request(req);
    if (res.ok() && res->status >= 200 && res->status < 300) return true;
    core::log().warn(
        "webhook post failed",
        {id("provider", job.provider), id("status", status), num("attempt", job.attempt + 1),
         str("error", res.ok() ? fmt::format("HTTP {}", res->status) : res.error().describe())});
    return false;
  }

  void work() {
    std::unique_lock lock(tick_mu);
    while (!stopping) {
      if (queue.empty()) {
        tick_cv.wait(lock);
        continue;
      }
      auto it = queue.begin();
      // A copy: wait_until keeps reading its deadline while the lock is released, and another
      // worker may take (and free) this job meanwhile (ASan caught that in the e2e tests).
      const Steady::time_point due = it->first;
      if (due > Steady::now()) {
        tick_cv.wait_until(lock, due);
        continue;
      }
      TickJob job = std::move(it->second);
      queue.erase(it);
      lock.unlock();
      const bool ok = post(job);
      lock.lock();
      if (ok) {
        ++posted;
        --pending;
        ++job.next;
        job.attempt = 0;
        if (job.next < job.statuses.size())
          queue.emplace(Steady::now() + config.tick_delay, std::move(job));
        continue;
      }
      ++job.attempt;
      if (job.attempt >= config.webhook_attempts) {
        ++failed;
        --pending;
        ++job.next;  // give this tick up; the later ones still follow
        job.attempt = 0;
        if (job.next < job.statuses.size())
          queue.emplace(Steady::now() + config.tick_delay, std::move(job));
        continue;
      }
      auto wait = config.webhook_backoff;
      for (int i = 1; i < job.attempt && wait < std::chrono::seconds{10}; ++i) wait *= 2;
      wait = std::min<std::chrono::milliseconds>(wait, std::chrono::seconds{10});
      queue.emplace(Steady::now() + wait, std::move(job));
    }
  }

  void start_workers() {
    if (config.webhook_url.empty()) return;
    for (int i = 0; i < std::max(1, config.webhook_threads); ++i)
      workers.emplace_back([this] { work(); });
  }

  void stop() {
    {
      std::lock_guard lock(tick_mu);
      if (stopping && workers.empty()) return;
      stopping = true;
      pending = 0;
      queue.clear();
    }
    tick_cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }

  // ---- the provider APIs -------------------------------------------------------------------

  http::Response meta_send(const http::Request& req) {
    const std::string instance = req.param("phone_number_id") ? *req.param("phone_number_id") : "";
    // `to` for the request log, read leniently before anything is checked.
    std::string to;
    auto doc = json::parse(req.body);
    std::optional<json::Obj> root;
    if (doc) {
      if (auto r = json::Obj::root(*doc); r) root = *r;
    }
    if (root) {
      if (auto t = root->opt_str("to"); t.ok() && *t) to = std::string(**t);
    }
    auto answer = [&](http::Response res) {
      log_request("meta", instance, to, res.status);
      return res;
    };
    if (!config.meta_token.empty()) {
      const auto* h = req.header("Authorization");
      if (h == nullptr || !auth::constant_time_equal(*h, "Bearer " + config.meta_token)) {
        reject();
        return answer(
            meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token"));
      }
    }
    if (!root) {
      reject();
      return answer(meta_error(400, 100, "(#100) The request body is not a JSON object"));
    }
    auto product = root->opt_str("messaging_product");
    if (!product.ok() || !*product || **product != "whatsapp") {
      reject();
      return answer(meta_error(400, 100, "(#100) The parameter messaging_product is required."));
    }
    if (to.empty()) {
      reject();
      return answer(meta_error(400, 100, "(#100) The parameter to is required."));
    }
    auto type = root->opt_str("type");
    const std::string kind = type.ok() && *type ? std::string(**type) : "text";
    Send s{.provider = "meta", .instance = instance, .to = to, .type = kind};
    if (kind == "text") {
      auto text = root->opt_obj("text");
      std::optional<std::string_view> body;
      if (text.ok() && *text) {
        if (auto b = (*text)->opt_str("body"); b.ok() && *b) body = **b;
      }
      if (!body || body->empty()) {
        reject();
        return answer(meta_error(400, 100, "(#100) The parameter text['body'] is required."));
      }
      s.text = std::string(*body);
    } else if (kind == "template") {
      auto t = root->opt_obj("template");
      if (!t.ok() || !*t) {
        reject();
        return answer(meta_error(400, 100, "(#100) The parameter template is required."));
      }
      auto name = (*t)->opt_str("name");
      auto lang = (*t)->opt_obj("language");
      if (!name.ok() || !*name || (*name)->empty() || !lang.ok() || !*lang) {
        reject();
        return answer(
            meta_error(400, 100, "(#100) template['name'] and template['language'] are required."));
      }
      s.template_name = std::string(**name);
      if (auto comps = (*t)->opt_arr("components"); comps.ok() && *comps) {
        for (const auto& c : (*comps)->value().GetArray()) {
          if (!c.IsObject() || !c.HasMember("parameters") || !c["parameters"].IsArray()) continue;
          for (const auto& p : c["parameters"].GetArray()) {
            if (p.IsObject() && p.HasMember("text") && p["text"].IsString()) {
              s.template_parameters.emplace_back(json::view(p["text"]));
            }
          }
        }
      }
    } else {
      reject();
      return answer(meta_error(400, 100, "(#100) The sandbox accepts type text or template."));
    }
    const auto fault = take_fault("meta", to);
    if (fault && fault->answers_at_once()) return answer(fault_response("meta", *fault));

    s.provider_message_id = new_meta_message_id();
    s.at = now_rfc3339();
    s.at_ms = now_ms();
    std::string wa_id;
    for (char c : to) {
      if (c == '@') break;
      if (c >= '0' && c <= '9') wa_id += c;
    }
    json::Writer w;
    w.begin_object()
        .field("messaging_product", "whatsapp")
        .array_field("contacts")
        .begin_object()
        .field("input", to)
        .field("wa_id", wa_id)
        .end_object()
        .end_array()
        .array_field("messages")
        .begin_object()
        .field("id", s.provider_message_id);
    if (kind == "template") w.field("message_status", "accepted");
    w.end_object().end_array().end_object();
    if (fault && fault->undeliver) {
      accept(s, {"sent", "failed"}, fault->code.value_or("131026"));
    } else {
      accept(s, {"sent", "delivered", "read"});
    }
    if (fault && fault->delay) std::this_thread::sleep_for(*fault->delay);
    return answer(http::Response::json(200, w.take()));
  }

  http::Response evolution_send(const http::Request& req) {
    const std::string instance = req.param("instance") ? *req.param("instance") : "";
    std::string to;
    std::string text;
    auto doc = json::parse(req.body);
    std::optional<json::Obj> root;
    if (doc) {
      if (auto r = json::Obj::root(*doc); r) root = *r;
    }
    if (root) {
      if (auto n = root->opt_str("number"); n.ok() && *n) to = std::string(**n);
      if (auto t = root->opt_str("text"); t.ok() && *t) text = std::string(**t);
    }
    auto answer = [&](http::Response res) {
      log_request("evolution", instance, to, res.status);
      return res;
    };
    if (!config.evolution_apikey.empty()) {
      const auto* h = req.header("apikey");
      if (h == nullptr || !auth::constant_time_equal(*h, config.evolution_apikey)) {
        reject();
        json::Writer w;
        w.begin_object()
            .field("status", 401)
            .field("error", "Unauthorized")
            .object_field("response")
            .field("message", "Unauthorized")
            .end_object()
            .end_object();
        return answer(http::Response::json(401, w.take()));
      }
    }
    if (!root) {
      reject();
      return answer(evolution_error(400, "the request body is not a JSON object"));
    }
    if (to.empty()) {
      reject();
      return answer(evolution_error(400, "number is required"));
    }
    if (text.empty()) {
      reject();
      return answer(evolution_error(400, "text is required"));
    }
    const auto fault = take_fault("evolution", to);
    if (fault && fault->answers_at_once()) return answer(fault_response("evolution", *fault));

    Send s{.provider = "evolution", .instance = instance, .to = to, .type = "text", .text = text};
    s.provider_message_id = new_evolution_message_id();
    s.at = now_rfc3339();
    s.at_ms = now_ms();
    json::Writer w;
    w.begin_object()
        .object_field("key")
        .field("remoteJid", remote_jid(to))
        .field("fromMe", true)
        .field("id", s.provider_message_id)
        .end_object()
        .field("pushName", "")
        .field("status", "PENDING")
        .object_field("message")
        .field("conversation", text)
        .end_object()
        .field("messageType", "conversation")
        .field("messageTimestamp", s.at_ms / 1000)
        .field("instanceId", instance)
        .field("source", "unknown")
        .end_object();
    accept(s, fault && fault->undeliver ? std::vector<std::string>{"ERROR"}
                                        : std::vector<std::string>{"DELIVERY_ACK", "READ"});
    if (fault && fault->delay) std::this_thread::sleep_for(*fault->delay);
    return answer(http::Response::json(201, w.take()));
  }

  void reject() {
    std::lock_guard lock(mu);
    ++counts.rejected;
  }

  static http::Response fault_response(std::string_view provider, const FaultRule& f) {
    http::Response res;
    if (provider == "meta") {
      int code = default_meta_code(f.status);
      if (f.code) {
        try {
          code = std::stoi(*f.code);
        } catch (const std::exception&) {
        }
      }
      res = meta_error(f.status, code, fmt::format("(#{}) Sandbox fault", code),
                       "injected by the provider sandbox");
    } else {
      res = evolution_error(f.status, "sandbox fault");
    }
    if (f.retry_after) res.headers.set("Retry-After", std::to_string(*f.retry_after));
    return res;
  }

  // ---- control API ---------------------------------------------------------------------------

  std::string sends_json(const http::Request& req) const {
    const auto filter = [&](std::string_view name) -> std::string {
      const auto* v = req.query_param(name);
      return v != nullptr ? *v : std::string{};
    };
    const std::string provider = filter("provider"), instance = filter("instance"),
                      to = filter("to");
    const auto keep = [&](const auto& x) {
      return (provider.empty() || x.provider == provider) &&
             (instance.empty() || x.instance == instance) && (to.empty() || same_chat(x.to, to));
    };
    const Counts c = snapshot_counts();
    json::Writer w;
    w.begin_object()
        .object_field("counts")
        .field("requests", c.requests)
        .field("accepted", c.accepted)
        .field("faulted", c.faulted)
        .field("rejected", c.rejected)
        .field("webhooks_posted", c.webhooks_posted)
        .field("webhooks_failed", c.webhooks_failed)
        .field("webhooks_dropped", c.webhooks_dropped)
        .field("webhooks_pending", c.webhooks_pending)
        .end_object();
    std::lock_guard lock(mu);
    w.array_field("sends");
    for (const auto& s : sends) {
      if (keep(s)) write_send(w, s);
    }
    w.end_array().array_field("requests");
    for (const auto& r : requests) {
      if (!keep(r)) continue;
      w.begin_object()
          .field("provider", r.provider)
          .field("instance", r.instance)
          .field("to", r.to)
          .field("status", r.status)
          .field("at", r.at)
          .field("at_ms", r.at_ms)
          .end_object();
    }
    w.end_array().end_object();
    return w.take();
  }

  Counts snapshot_counts() const {
    Counts c;
    {
      std::lock_guard lock(mu);
      c = counts;
    }
    c.webhooks_posted = posted.load();
    c.webhooks_failed = failed.load();
    c.webhooks_dropped = dropped.load();
    c.webhooks_pending = pending.load();
    return c;
  }

  std::string faults_json() const {
    json::Writer w;
    w.begin_object().array_field("faults");
    std::lock_guard lock(mu);
    for (const auto& r : faults) write_rule(w, r);
    w.end_array().end_object();
    return w.take();
  }

  core::Status apply_faults(std::string_view body) {
    const auto bad = [](std::string m) {
      return core::Error(core::Errc::invalid_argument, std::move(m));
    };
    auto doc = json::parse(body);
    if (!doc) return bad(doc.error().message());
    auto root = json::Obj::root(*doc);
    if (!root) return bad("the body must be a JSON object");
    auto clear = root->opt_boolean("clear");
    if (!clear) return bad(clear.error().message());
    if (clear->value_or(false)) {
      std::lock_guard lock(mu);
      faults.clear();
      return core::ok();
    }
    FaultRule rule;
    auto slow = root->opt_i64("slow_next");
    if (!slow) return bad(slow.error().message());
    auto delay = root->opt_i64("delay_ms");
    if (!delay) return bad(delay.error().message());
    if (*slow || *delay) {
      if (!*slow || **slow < 1 || **slow > 1'000'000 || !*delay || **delay < 1 ||
          **delay > 60'000) {
        return bad("expected \"slow_next\" (1..1000000) with \"delay_ms\" (1..60000)");
      }
      rule.remaining = static_cast<int>(**slow);
      rule.delay = std::chrono::milliseconds{**delay};
    }
    auto undeliver = root->opt_i64("undeliver_next");
    if (!undeliver) return bad(undeliver.error().message());
    if (*undeliver) {
      if (**undeliver < 1 || **undeliver > 1'000'000)
        return bad("expected \"undeliver_next\" (1..1000000)");
      if (rule.delay) return bad("\"undeliver_next\" goes without \"slow_next\"");
      rule.remaining = static_cast<int>(**undeliver);
      rule.undeliver = true;
    }
    auto status = root->opt_i64("status");
    if (!status) return bad(status.error().message());
    rule.status = static_cast<int>(status->value_or(500));
    if (rule.status < 400 || rule.status > 599)
      return bad("field 'status' must be between 400 and 599");
    auto next = root->opt_i64("fail_next");
    if (!next) return bad(next.error().message());
    auto always = root->opt_boolean("always_fail");
    if (!always) return bad(always.error().message());
    if (rule.delay || rule.undeliver) {
      if (*next || always->value_or(false)) {
        return bad(rule.delay ? "\"slow_next\" goes without \"fail_next\" or \"always_fail\""
                              : "\"undeliver_next\" goes without \"fail_next\" or \"always_fail\"");
      }
    } else if (always->value_or(false)) {
      rule.remaining = -1;
    } else if (next->value_or(0) >= 1 && next->value_or(0) <= 1'000'000) {
      rule.remaining = static_cast<int>(**next);
    } else {
      return bad("expected \"fail_next\" (1..1000000), \"always_fail\": true or \"clear\": true");
    }
    auto retry_after = root->opt_i64("retry_after");
    if (!retry_after) return bad(retry_after.error().message());
    if (*retry_after) {
      if (**retry_after < 0 || **retry_after > 86400)
        return bad("field 'retry_after' must be 0..86400 seconds");
      rule.retry_after = static_cast<int>(**retry_after);
    }
    if (const auto* code = root->get("code"); code != nullptr && !code->IsNull()) {
      if (code->IsString()) {
        rule.code = std::string(json::view(*code));
      } else if (code->IsInt64()) {
        rule.code = std::to_string(code->GetInt64());
      } else {
        return bad("field 'code' must be a string or an integer");
      }
    }
    auto to = root->opt_str("to");
    if (!to) return bad(to.error().message());
    if (*to) rule.to = std::string(**to);
    auto provider = root->opt_str("provider");
    if (!provider) return bad(provider.error().message());
    if (*provider) {
      if (**provider != "meta" && **provider != "evolution")
        return bad("field 'provider' must be meta or evolution");
      rule.provider = std::string(**provider);
    }
    std::lock_guard lock(mu);
    faults.push_back(std::move(rule));
    return core::ok();
  }
};

Config Config::read(core::Env& env) {
  Config c;
  c.meta_token = env.credential("LIA_SANDBOX_META_TOKEN", std::string{});
  c.evolution_apikey = env.credential("LIA_SANDBOX_EVOLUTION_APIKEY", std::string{});
  if (env.optional("LIA_SANDBOX_WEBHOOK_URL"))
    c.webhook_url = env.url("LIA_SANDBOX_WEBHOOK_URL", std::nullopt);
  const auto path = [&](const std::string& name, const std::string& fallback) {
    auto p = env.string(name, fallback);
    return p.front() == '/' ? p : "/" + p;  // never empty: an empty variable counts as unset
  };
  c.meta_webhook_path = path("LIA_SANDBOX_META_WEBHOOK_PATH", c.meta_webhook_path);
  c.evolution_webhook_path = path("LIA_SANDBOX_EVOLUTION_WEBHOOK_PATH", c.evolution_webhook_path);
  c.meta_app_secret = env.credential("LIA_SANDBOX_META_APP_SECRET", std::string{});
  c.tick_delay = env.millis("LIA_SANDBOX_TICK_DELAY_MS", c.tick_delay, std::chrono::milliseconds{0},
                            std::chrono::milliseconds{600000});
  c.webhook_attempts = static_cast<int>(env.integer("LIA_SANDBOX_WEBHOOK_ATTEMPTS", 5, 1, 100));
  c.webhook_backoff = env.millis("LIA_SANDBOX_WEBHOOK_BACKOFF_MS", c.webhook_backoff,
                                 std::chrono::milliseconds{1}, std::chrono::milliseconds{60000});
  c.webhook_threads = static_cast<int>(env.integer("LIA_SANDBOX_WEBHOOK_THREADS", 2, 1, 64));
  c.max_recorded =
      static_cast<std::size_t>(env.integer("LIA_SANDBOX_MAX_RECORDED", 100000, 1, 10'000'000));
  return c;
}

Sandbox::Sandbox(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {
  impl_->start_workers();
}

Sandbox::~Sandbox() {
  stop();
}

void Sandbox::stop() {
  impl_->stop();
}

void Sandbox::set_server_url(std::string url) {
  std::lock_guard lock(impl_->mu);
  impl_->server_url = std::move(url);
}

void Sandbox::install(http::Router& router) {
  Impl* impl = impl_.get();
  router.add("POST", "/{version}/{phone_number_id}/messages",
             [impl](const http::Request& req) { return impl->meta_send(req); });
  router.add("POST", "/{phone_number_id}/messages",
             [impl](const http::Request& req) { return impl->meta_send(req); });
  router.add("POST", "/message/sendText/{instance}",
             [impl](const http::Request& req) { return impl->evolution_send(req); });
  router.add("GET", "/sandbox/sends", [impl](const http::Request& req) {
    return http::Response::json(200, impl->sends_json(req));
  });
  router.add("DELETE", "/sandbox/sends", [this](const http::Request&) {
    reset();
    return http::Response::json(200, R"({"reset":true})");
  });
  router.add("GET", "/sandbox/faults", [impl](const http::Request&) {
    return http::Response::json(200, impl->faults_json());
  });
  router.add("POST", "/sandbox/faults", [impl](const http::Request& req) {
    if (auto st = impl->apply_faults(req.body); !st.ok()) {
      return http::json_error(400, "invalid_argument", st.error().message());
    }
    return http::Response::json(200, impl->faults_json());
  });
}

std::vector<Send> Sandbox::sends() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->sends.begin(), impl_->sends.end()};
}

std::vector<RequestLog> Sandbox::requests() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->requests.begin(), impl_->requests.end()};
}

Counts Sandbox::counts() const {
  return impl_->snapshot_counts();
}

void Sandbox::reset() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->sends.clear();
    impl_->requests.clear();
    impl_->counts = Counts{};
  }
  impl_->posted = 0;
  impl_->failed = 0;
  impl_->dropped = 0;
}

core::Status Sandbox::apply_faults(std::string_view json) {
  return impl_->apply_faults(json);
}

}  // namespace lia::provider_sandbox
