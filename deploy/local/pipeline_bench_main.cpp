// lia-bench-pipeline: many conversations through the full loop (webhook → ingestion →
// conversation → ai_orchestration → conversation → notification → provider), on a suite of
// its own. Open loop: webhooks are posted at a fixed rate whatever the suite does; the
// latency of a message is from its webhook POST to the sandbox receiving the reply.
//
//   lia-bench-pipeline --bin-dir DIR --rate 500 --seconds 20 [--chats 2000] [--threads 8]
//                      [--top N]
//   (PostgreSQL from LIA_PG_URL, an admin role; the broker is started by the bench)
//
// Besides throughput and latency it prints where the CPU went (per process, per reply),
// when the cluster loads pg_stat_statements (scripts/dev-stack's does) how many statements
// each reply cost PostgreSQL, by schema (--top N lists the N most frequent statements), and
// each process's resident memory and CPU through the run (scripts/bench/soak runs it long).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include <lia/json/json.hpp>
#include <lia/pg/pool.hpp>
#include <lia/provider_sandbox/sandbox.hpp>

#include "stack.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// Whole-machine counters from /proc/stat: busy CPU time and context switches so far.
struct MachineCounters {
  double busy_seconds = 0;
  std::uint64_t context_switches = 0;
};

MachineCounters read_machine_counters() {
  MachineCounters c;
  std::ifstream in("/proc/stat");
  std::string line;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    if (name == "cpu") {
      // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
      std::uint64_t v = 0;
      for (int i = 0; i < 8 && fields >> v; ++i) {
        if (i != 3 && i != 4) c.busy_seconds += static_cast<double>(v) / tick;
      }
    } else if (name == "ctxt") {
      fields >> c.context_switches;
    }
  }
  return c;
}

// CPU time (user and system, every thread) a process has used so far; 0 if it is gone.
double process_cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // The command, in parentheses, may hold spaces: count fields from the last ')'. utime and
  // stime are the 14th and 15th fields; the 3rd (state) is the first after it.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string skipped;
  for (int i = 3; i < 14; ++i) fields >> skipped;
  double utime = 0;
  double stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU time so far of each process the bench started or talks to. PostgreSQL counts every
// `postgres` process on the machine (the cluster is shared; its other databases sit idle).
std::map<std::string, double> cpu_by_process(const lia::local::Stack& stack) {
  std::map<std::string, double> cpu;
  for (const auto& service : lia::local::service_names()) {
    cpu[service] = process_cpu_seconds(stack.pid(service));
  }
  cpu["provider sandbox"] = process_cpu_seconds(stack.pid("sandbox"));
  cpu["dev broker"] = process_cpu_seconds(stack.pid("broker"));
  cpu["load generator"] = process_cpu_seconds(getpid());
  double postgres = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string command;
    if (std::getline(comm, command) && command == "postgres") {
      postgres += process_cpu_seconds(std::stoi(name));
    }
  }
  cpu["PostgreSQL"] = postgres;
  return cpu;
}

// "PostgreSQL 2.06 ms, conversation 0.74 ms, ... (together 5.1 ms)": each process's CPU in
// the window per reply, largest first. The kernel keeps per-process time more finely than
// /proc/stat's machine-wide ticks, so the sum may pass the machine's figure by a few per cent.
std::string cpu_shares(const std::map<std::string, double>& before,
                       const std::map<std::string, double>& after, double replies) {
  std::vector<std::pair<double, std::string>> shares;
  double together = 0;
  for (const auto& [name, seconds] : after) {
    const auto it = before.find(name);
    const double used = seconds - (it == before.end() ? 0.0 : it->second);
    together += used;
    shares.emplace_back(used, name);
  }
  std::sort(shares.rbegin(), shares.rend());
  std::string out;
  for (const auto& [used, name] : shares) {
    out += fmt::format("{}{} {:.2f} ms", out.empty() ? "" : ", ", name, used * 1000.0 / replies);
  }
  return out + fmt::format(" (together {:.2f} ms)", together * 1000.0 / replies);
}

// Resident memory of a process now, in KiB (VmRSS); 0 if it is gone.
std::int64_t resident_kib(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Each process's resident memory and CPU at a few moments of the run: a memory growth that
// goes on (a leak, a map never pruned) rather than one that levels off (pools and buffers
// filling), and a process whose CPU for the same load climbs as the run goes on.
class RunSamples {
 public:
  explicit RunSamples(const lia::local::Stack& stack) : stack_(stack) {
    for (const auto& service : lia::local::service_names()) {
      pids_.emplace_back(service, stack.pid(service));
    }
    pids_.emplace_back("dev broker", stack.pid("broker"));
    pids_.emplace_back("provider sandbox", stack.pid("sandbox"));
  }

  // Returns the CPU time so far of each process (cpu_by_process), as kept.
  std::map<std::string, double> take(std::string label) {
    Sample sample{std::move(label), {}, cpu_by_process(stack_), Clock::now()};
    sample.kib.reserve(pids_.size());
    for (const auto& entry : pids_) sample.kib.push_back(resident_kib(entry.second));
    auto cpu = sample.cpu;
    std::lock_guard lock(mu_);
    samples_.push_back(std::move(sample));
    return cpu;
  }

  // "conversation 31.2 → 35.0 → 35.4 (+4.2)" a line per process, then each process's CPU
  // between the samples in ms a second, "dev broker 40 → 95 → 160".
  std::string table() const {
    std::lock_guard lock(mu_);
    if (samples_.size() < 2) return "";
    std::string labels;
    for (const auto& sample : samples_) labels += (labels.empty() ? "" : " → ") + sample.label;
    std::string out = "pipeline: resident memory (MiB) at " + labels + ":\n";
    for (std::size_t p = 0; p < pids_.size(); ++p) {
      std::string row;
      for (const auto& sample : samples_) {
        row += fmt::format("{}{:.1f}", row.empty() ? "" : " → ",
                           static_cast<double>(sample.kib[p]) / 1024.0);
      }
      const auto growth = samples_.back().kib[p] - samples_.front().kib[p];
      out += fmt::format("pipeline:   {:<17} {} ({:+.1f})\n", pids_[p].first, row,
                         static_cast<double>(growth) / 1024.0);
    }
    out += "pipeline: CPU (ms a second) between those moments:\n";
    for (const auto& [name, first] : samples_.front().cpu) {
      std::string row;
      for (std::size_t i = 1; i < samples_.size(); ++i) {
        const double wall =
            std::chrono::duration<double>(samples_[i].at - samples_[i - 1].at).count();
        const double used = samples_[i].cpu.at(name) - samples_[i - 1].cpu.at(name);
        row += row.empty() ? "" : " → ";
        // Less than before: some of its processes ended (PostgreSQL's backends), taking
        // their CPU time with them.
        row += used < 0 ? std::string("n/a")
                        : fmt::format("{:.0f}", wall > 0 ? used * 1000.0 / wall : 0.0);
      }
      out += fmt::format("pipeline:   {:<17} {}\n", name, row);
    }
    return out + "pipeline:   (n/a: some of its processes ended in between)\n";
  }

 private:
  struct Sample {
    std::string label;
    std::vector<std::int64_t> kib;  // by pids_
    std::map<std::string, double> cpu;
    Clock::time_point at;
  };

  const lia::local::Stack& stack_;
  std::vector<std::pair<std::string, int>> pids_;
  mutable std::mutex mu_;
  std::vector<Sample> samples_;
};

// Statement counts of the stack's database, from pg_stat_statements.
class StatementCounts {
 public:
  explicit StatementCounts(const std::string& url) {
    auto pool = lia::pg::Pool::create({.url = url, .size = 1});
    if (!pool) {
      unavailable_ = pool.error().describe();
      return;
    }
    pool_ = std::move(*pool);
    if (auto r = pool_->exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); !r) {
      unavailable_ = r.error().message();
    } else if (auto loaded = pool_->exec("SELECT count(*) FROM pg_stat_statements"); !loaded) {
      unavailable_ =
          "pg_stat_statements is not loaded by this cluster (scripts/dev-stack "
          "loads it from its next start)";
    }
  }

  void reset() {
    if (!unavailable_.empty()) return;
    if (auto r = pool_->exec(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = "
            "current_database()), 0)");
        !r) {
      unavailable_ = r.error().message();
    }
  }

  // Statements per reply by the schema they name (advisory locks name none).
  std::string per_reply(double replies, int top) const {
    if (!unavailable_.empty())
      return "pipeline: PostgreSQL statements: unknown (" + unavailable_ + ")\n";
    const std::string mine =
        "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
        "current_database()) AND query NOT LIKE '%pg_stat_statements%' ";
    auto by_schema = pool_->exec(
        "SELECT coalesce(substring(query from "
        "'\"?(conversation|ai|notification|engagement|collections|ingestion)\"?\\.'), 'no "
        "schema'), "
        "sum(calls)::bigint " +
        mine + "GROUP BY 1 ORDER BY 2 DESC");
    if (!by_schema) return "pipeline: PostgreSQL statements: " + by_schema.error().message() + "\n";
    std::int64_t total = 0;
    std::string parts;
    for (const auto& row : *by_schema) {
      const auto calls = row.get<std::int64_t>(1);
      total += calls;
      if (static_cast<double>(calls) / replies < 0.05) continue;  // the idle services' pollers
      parts += fmt::format("{}{} {:.1f}", parts.empty() ? "" : ", ", row.get<std::string>(0),
                           static_cast<double>(calls) / replies);
    }
    std::string out = fmt::format(
        "pipeline: PostgreSQL statements per reply, every service, posting and draining: {:.1f} "
        "({})\n",
        static_cast<double>(total) / replies, parts);
    if (top <= 0) return out;
    auto rows = pool_->exec(
        "SELECT calls, mean_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 120) " + mine +
            "ORDER BY calls DESC LIMIT $1",
        top);
    if (!rows) return out + "pipeline: " + rows.error().message() + "\n";
    for (const auto& row : *rows) {
      out += fmt::format("  {:6.2f} per reply, {:5.0f} µs each: {}\n",
                         static_cast<double>(row.get<std::int64_t>(0)) / replies,
                         row.get<double>(1) * 1000.0, row.get<std::string>(2));
    }
    return out;
  }

 private:
  std::shared_ptr<lia::pg::Pool> pool_;
  std::string unavailable_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string bin_dir = arg(argc, argv, "--bin-dir", "");
  const int rate = std::stoi(arg(argc, argv, "--rate", "500"));
  const int seconds = std::stoi(arg(argc, argv, "--seconds", "20"));
  const int chats = std::stoi(arg(argc, argv, "--chats", "2000"));
  const int threads = std::stoi(arg(argc, argv, "--threads", "8"));
  const int top = std::stoi(arg(argc, argv, "--top", "0"));
  const char* pg = std::getenv("LIA_PG_URL");  // NOLINT(concurrency-mt-unsafe)
  if (bin_dir.empty() || pg == nullptr || rate <= 0 || seconds <= 0 || chats <= 0 || threads <= 0) {
    std::cerr << "usage: LIA_PG_URL=... lia-bench-pipeline --bin-dir DIR [--rate N] [--seconds N] "
                 "[--chats N] [--threads N] [--top N]\n";
    return 2;
  }

  lia::local::StackOptions o;
  o.bin_dir = bin_dir;
  o.pg_admin_url = pg;
  o.env["LIA_PG_POOL_SIZE"] = "16";
  o.service_env["sandbox"] = {{"LIA_SANDBOX_WEBHOOK_URL", ""},
                              {"LIA_SANDBOX_MAX_RECORDED", "1000000"}};
  o.service_env["notification"] = {{"LIA_NOTIFY_RATE_PER_NUMBER", "1000"}};
  std::cerr << "bench: starting the suite...\n";
  auto started = lia::local::Stack::start(o);
  if (!started) {
    std::cerr << "bench: " << started.error().describe() << "\n";
    return 1;
  }
  auto& stack = **started;
  const std::string url = stack.url("ingestion") + "/webhooks/meta";
  const std::string secret = stack.secrets().meta_app_secret;

  // Warm-up: one message per chat of a small set, so consumer groups are joined.
  std::cerr << "bench: warming up...\n";
  {
    lia::http::Client client;
    for (int i = 0; i < 20; ++i) {
      const auto body = lia::local::webhooks::meta_text(
          "106540352242922", fmt::format("55119{:08}", 90000000 + i), "Warm",
          fmt::format("wamid.warm-{}", i), "Olá", wall_ms() / 1000);
      lia::http::ClientRequest req{
          "POST",
          url,
          {{"X-Hub-Signature-256", lia::provider_sandbox::meta_signature(secret, body)}},
          body};
      (void)client.request(req);
    }
    const auto deadline = Clock::now() + 60s;
    bool answered = false;
    while (!answered && Clock::now() < deadline) {
      auto s = stack.sandbox_sends();
      answered = s && s->size() >= 20;
      if (!answered) std::this_thread::sleep_for(200ms);
    }
    if (!answered) {
      stack.keep_work_dir();
      std::cerr << "bench: the suite did not answer the 20 warm-up messages within 60 s; its logs "
                   "are in "
                << stack.work_dir() << "/logs\n";
      return 3;
    }
    (void)stack.call("sandbox", "DELETE", "/sandbox/sends");
  }

  StatementCounts statements(stack.pg_url());
  statements.reset();

  // Open-loop load: message k goes at t0 + k/rate, from chat k % chats.
  const int total = rate * seconds;
  std::vector<std::int64_t> posted_ms(static_cast<std::size_t>(total), 0);
  std::vector<std::string> chat_of(static_cast<std::size_t>(total));
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const auto t0 = Clock::now() + 100ms;
  std::cerr << fmt::format("bench: {} messages at {}/s over {} s from {} chats\n", total, rate,
                           seconds, chats);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      lia::http::Client client;
      while (true) {
        const int k = next.fetch_add(1);
        if (k >= total) return;
        std::this_thread::sleep_until(
            t0 + std::chrono::microseconds(static_cast<std::int64_t>(k) * 1'000'000 / rate));
        const std::string chat = fmt::format("55119{:08}", k % chats);
        const auto body = lia::local::webhooks::meta_text("106540352242922", chat, "Cliente",
                                                          fmt::format("wamid.bench-{}", k),
                                                          "Olá, tudo bem?", wall_ms() / 1000);
        lia::http::ClientRequest req{
            "POST",
            url,
            {{"X-Hub-Signature-256", lia::provider_sandbox::meta_signature(secret, body)}},
            body};
        posted_ms[static_cast<std::size_t>(k)] = wall_ms();
        chat_of[static_cast<std::size_t>(k)] = chat;
        auto r = client.request(req);
        if (!r || r->status != 200) failures.fetch_add(1);
      }
    });
  }
  const MachineCounters before = read_machine_counters();
  // Resident memory and CPU after the warm-up, at each quarter of the posting, and once drained.
  RunSamples samples(stack);
  const auto cpu_before = samples.take("start");
  std::atomic<bool> posted{false};
  std::thread sampler([&] {
    for (int quarter = 1; quarter <= 3; ++quarter) {
      const auto at =
          t0 + std::chrono::milliseconds(static_cast<std::int64_t>(seconds) * 250 * quarter);
      while (!posted.load() && Clock::now() < at) std::this_thread::sleep_for(100ms);
      if (posted.load()) return;
      samples.take(fmt::format("{}%", quarter * 25));
    }
  });
  for (auto& w : workers) w.join();
  posted.store(true);
  sampler.join();
  const double post_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // What the replies sent while posting cost the machine (the load generator included).
  const MachineCounters after = read_machine_counters();
  const auto cpu_after = samples.take("posted");
  const auto sent_while_posting = stack.sandbox_sends();
  const double window_sends =
      sent_while_posting ? static_cast<double>(sent_while_posting->size()) : 0.0;

  // Wait for the replies to drain (up to 120 s past the last post).
  std::cerr << "bench: waiting for the replies...\n";
  std::vector<lia::local::SandboxSend> sends;
  const auto drain_deadline = Clock::now() + 120s;
  std::size_t last = 0;
  auto last_change = Clock::now();
  while (Clock::now() < drain_deadline) {
    auto s = stack.sandbox_sends();
    if (s) sends = std::move(*s);
    if (static_cast<int>(sends.size()) >= total - failures.load()) break;
    if (sends.size() != last) {
      last = sends.size();
      last_change = Clock::now();
    } else if (Clock::now() - last_change > 20s) {
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  samples.take("drained");
  // The k-th send to a chat answers the k-th post from it.
  auto r = stack.call("sandbox", "GET", "/sandbox/sends");
  std::map<std::string, std::vector<std::int64_t>> send_times;
  if (r) {
    auto doc = lia::json::parse(r->body);
    if (doc && doc->IsObject() && doc->HasMember("sends")) {
      for (const auto& s : (*doc)["sends"].GetArray()) {
        send_times[s["to"].GetString()].push_back(s["at_ms"].GetInt64());
      }
    }
  }
  std::map<std::string, std::size_t> seen;
  std::vector<double> latencies;
  std::int64_t first_post = posted_ms.empty() ? 0 : posted_ms.front();
  std::int64_t last_send = first_post;
  for (int k = 0; k < total; ++k) {
    const auto& chat = chat_of[static_cast<std::size_t>(k)];
    auto& times = send_times[chat];
    const auto i = seen[chat]++;
    if (i < times.size()) {
      latencies.push_back(static_cast<double>(times[i] - posted_ms[static_cast<std::size_t>(k)]));
      last_send = std::max(last_send, times[i]);
    }
  }
  const double span = static_cast<double>(last_send - first_post) / 1000.0;
  std::cout << fmt::format(
      "pipeline: offered {} msg/s for {} s ({} messages, posting took {:.1f} s, {} webhook "
      "failures)\n"
      "pipeline: {} replies sent; throughput {:.0f} msg/s (first webhook to last send: {:.1f} s)\n"
      "pipeline: latency webhook in → provider send: p50 {:.0f} ms, p90 {:.0f} ms, p99 {:.0f} ms, "
      "max {:.0f} ms\n"
      "pipeline: cost while posting (whole machine, load generator included): {:.2f} ms of "
      "CPU and {:.0f} context switches per reply sent ({:.0f} replies in {:.1f} s)\n",
      rate, seconds, total, post_seconds, failures.load(), latencies.size(),
      span > 0 ? static_cast<double>(latencies.size()) / span : 0.0, span,
      percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99),
      latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end()),
      window_sends > 0 ? (after.busy_seconds - before.busy_seconds) * 1000.0 / window_sends : 0.0,
      window_sends > 0
          ? static_cast<double>(after.context_switches - before.context_switches) / window_sends
          : 0.0,
      window_sends, post_seconds);
  if (window_sends > 0) {
    std::cout << "pipeline: CPU per reply by process, while posting: "
              << cpu_shares(cpu_before, cpu_after, window_sends) << "\n";
  }
  if (!latencies.empty())
    std::cout << statements.per_reply(static_cast<double>(latencies.size()), top);
  std::cout << samples.table();
  const bool complete = latencies.size() == static_cast<std::size_t>(total);
  if (!complete) {
    stack.keep_work_dir();
    std::cerr << "bench: not every message was answered; the suite's logs are in "
              << stack.work_dir() << "/logs\n";
  }
  stack.stop();
  return complete ? 0 : 3;
}
