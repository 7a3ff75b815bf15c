// lia-demo: starts the whole suite on the local defaults and plays a scripted conversation
// in Portuguese through it, printing a readable timeline; the suite stays up afterwards.
//
//   lia-demo up   --state-dir DIR --bin-dir DIR   (uses LIA_PG_URL and LIA_KAFKA_BOOTSTRAP)
//   lia-demo down --state-dir DIR
//
// Every LIA_* variable in its environment is passed to the services, so pointing
// LIA_META_GRAPH_URL or LIA_EVOLUTION_URL elsewhere sends the replies there.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lia/core/log.hpp>
#include <lia/json/writer.hpp>

#include "stack.hpp"
#include "tap.hpp"

extern char** environ;  // NOLINT

namespace {

using namespace std::chrono_literals;
using lia::local::Stack;

const std::string kPnid = "106540352242922";

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Maria's number for this run: a new one each run (a São Paulo mobile, 11 9 8xxx-xxxx, its
// last seven digits from the clock), since a conversation is surveyed at most once while its
// last survey is open (24 h): a second run on her first number would end without a survey.
std::string customer_of_this_run() {
  return fmt::format("551198{:07}", now_s() % 10'000'000);
}

std::string arg(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return {};
}

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "lia-demo: " << msg << "\n";
  std::exit(1);  // NOLINT(concurrency-mt-unsafe)
}

// Whether something on this machine already listens on 127.0.0.1:`port` (the suite's fixed
// ports: a service that cannot bind would fail the start with a less telling message).
bool port_taken(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  // As the services bind: a previous run's connections in TIME_WAIT hold no port, a listener
  // does.
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  const bool taken = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0;
  ::close(fd);
  return taken;
}

// Is `pid` still one of the suite's processes (lia-*)? After a reboot the pids file names
// whatever took those numbers since.
bool ours(int pid) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return !ec && exe.filename().string().rfind("lia-", 0) == 0;
}

// The local stack's secrets: their random size in bytes (hex: twice as many characters),
// whether a value given in the environment is saved for the next runs too (the suite's own
// are; a provider's real credentials are not), and whether the database keeps the first one
// (conversation creates the admin once, with the password of the first run: a later value
// could not log in, so the saved one stays and the given one is refused with a warning).
struct SecretSetting {
  const char* name;
  int bytes;
  bool save_given;
  bool database_keeps;
};
constexpr std::array<SecretSetting, 6> kSecrets{{{"LIA_META_APP_SECRET", 16, false, false},
                                                 {"LIA_META_VERIFY_TOKEN", 8, false, false},
                                                 {"LIA_META_ACCESS_TOKEN", 16, false, false},
                                                 {"LIA_EVOLUTION_APIKEY", 16, false, false},
                                                 {"LIA_JWT_SECRET", 24, true, false},
                                                 {"LIA_ADMIN_PASSWORD", 8, true, true}}};

std::string random_hex(int bytes) {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xFFU);
  return out;
}

// Writes `text` to `path`, readable and writable by the owner only (0600), even if the file
// was there before with wider rights.
bool write_private(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::fchmod(fd, 0600) == 0;
  for (std::size_t done = 0; ok && done < text.size();) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0 && ok;
}

// The pids launched while the suite starts, for the signal handler below (which may only
// read atomics and call kill).
std::array<std::atomic<int>, 16> launched{};
std::atomic<std::size_t> launched_count{0};

void remember_launched(int pid) {
  const auto i = launched_count.fetch_add(1);
  if (i < launched.size()) launched[i].store(pid);
}

// Ctrl-C (or SIGTERM, SIGHUP) during the start: the processes launched so far run in
// sessions of their own and would outlive us; they are stopped first.
extern "C" void stop_launched(int sig) {
  for (auto& p : launched) {
    const int pid = p.load();
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  ::_exit(128 + sig);
}

// The settings `scripts/run --stop` needs to find this suite: the local stack's folder when
// LIA_DEV_DIR moved it (else the stop would look in .dev/ and find nothing to stop).
// (Read at the start, before any thread, as the other settings here.)
std::string stop_prefix() {
  const char* dev = std::getenv("LIA_DEV_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (dev == nullptr || *dev == '\0') return {};
  std::string quoted = "'";
  for (const char c : std::string_view(dev))
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return "LIA_DEV_DIR=" + quoted + "' ";
}

int down(const std::string& state_dir) {
  std::ifstream in(state_dir + "/pids");
  std::string name;
  int pid = 0;
  int stopped = 0;
  std::vector<int> pids;
  while (in >> name >> pid) {
    if (pid > 0 && ours(pid) && ::kill(pid, SIGTERM) == 0) {
      pids.push_back(pid);
      ++stopped;
    }
  }
  for (int i = 0; i < 100; ++i) {
    bool any = false;
    for (int p : pids) any = any || ::kill(p, 0) == 0;
    if (!any) break;
    std::this_thread::sleep_for(100ms);
  }
  for (int p : pids) {
    if (ours(p)) ::kill(p, SIGKILL);
  }
  std::remove((state_dir + "/pids").c_str());
  std::cout << "lia-demo: stopped " << stopped << " processes\n";
  return 0;
}

class Narrator {
 public:
  explicit Narrator(lia::local::EventTap& tap) : t0_(std::chrono::steady_clock::now()) {
    tap.on_event([this](const lia::local::Seen& s) {
      if (s.type == "lia.contact.upserted" || s.type == "lia.user.upserted") return;
      std::lock_guard lock(mu_);
      std::cout << fmt::format("  +{:7.3f}s  {}\n",
                               std::chrono::duration<double>(s.at - t0_).count(),
                               lia::local::describe(s))
                << std::flush;
    });
  }
  void say(const std::string& line) {
    std::lock_guard lock(mu_);
    std::cout << "\n" << line << "\n" << std::flush;
  }

 private:
  std::mutex mu_;
  std::chrono::steady_clock::time_point t0_;
};

// Waits until `n` events of `type` were seen (and prints a note when it times out).
bool wait_for(lia::local::EventTap& tap, const std::string& type, std::size_t n,
              std::chrono::seconds timeout = 30s) {
  const bool ok = tap.wait(
      [&](const std::vector<lia::local::Seen>& all) {
        return static_cast<std::size_t>(std::count_if(
                   all.begin(), all.end(), [&](const auto& s) { return s.type == type; })) >= n;
      },
      timeout);
  if (!ok) {
    std::cout << "  (still waiting for " << type << " after " << timeout.count()
              << " s; moving on)\n";
  }
  return ok;
}

void customer_says(Stack& stack, Narrator& n, const std::string& customer, int seq,
                   const std::string& text) {
  n.say(fmt::format("Customer (WhatsApp): \"{}\"", text));
  auto st = stack.post_meta(lia::local::webhooks::meta_text(
      kPnid, customer, "Maria Oliveira", fmt::format("wamid.demo-{}-{}", now_s(), seq), text,
      now_s()));
  if (!st || *st != 200) die("ingestion did not accept the webhook");
}

int up(int argc, char** argv) {
  // The timeline is the output; the Kafka client's own info lines would only clutter it.
  lia::core::Logger::Options lo;
  lo.service = "lia-demo";
  lo.level = lia::core::Level::warn;
  lia::core::set_log(lia::core::Logger(lo));
  const std::string state_dir = arg(argc, argv, "--state-dir");
  const std::string bin_dir = arg(argc, argv, "--bin-dir");
  if (state_dir.empty() || bin_dir.empty()) die("usage: lia-demo up --state-dir DIR --bin-dir DIR");
  const char* pg = std::getenv("LIA_PG_URL");              // NOLINT(concurrency-mt-unsafe)
  const char* kafka = std::getenv("LIA_KAFKA_BOOTSTRAP");  // NOLINT(concurrency-mt-unsafe)
  if (pg == nullptr || kafka == nullptr)
    die("LIA_PG_URL and LIA_KAFKA_BOOTSTRAP must be set (scripts/dev-stack env)");
  const std::string stop_with = stop_prefix();
  down(state_dir);  // a previous run's suite, if any

  lia::local::StackOptions o;
  o.bin_dir = bin_dir;
  o.pg_admin_url = pg;
  o.database = "lia";
  o.kafka_bootstrap = kafka;
  o.work_dir = state_dir;
  o.detach = true;
  o.ports = {{"ingestion", 8080},        {"conversation", 8081}, {"ai_orchestration", 8082},
             {"nps_gamification", 8083}, {"collections", 8084},  {"notification", 8085},
             {"sandbox", 8090}};
  for (const auto& [name, port] : o.ports) {
    if (port_taken(port)) {
      die(fmt::format(
          "port {} ({}) is in use by another program on this machine (`ss -ltnp 'sport = :{}'` "
          "names it): the suite's ports are 8080-8085 and 8090. Stop that program and run "
          "scripts/run again; `scripts/run --stop` stops PostgreSQL and the broker meanwhile",
          port, name, port));
    }
  }
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (kv.rfind("LIA_", 0) == 0 && eq != std::string::npos && kv.rfind("LIA_DEV_", 0) != 0 &&
        kv.rfind("LIA_BUILD_", 0) != 0 && kv.rfind("LIA_HTTP_PORT", 0) != 0) {
      o.env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  // The database outlives a run, so do the secrets (the admin exists with its first password).
  // They are made and saved (readable by the owner only) before anything starts, so a start
  // cut short never leaves an admin whose password nobody kept. A provider's credentials
  // given in the environment are used, not saved.
  const std::string secrets_file = state_dir + "/secrets.env";
  std::map<std::string, std::string> saved;
  {
    std::ifstream in(secrets_file);
    std::string line;
    while (std::getline(in, line)) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) saved[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  std::string to_save;
  for (const auto& s : kSecrets) {
    auto it = saved.find(s.name);
    if (auto given = o.env.find(s.name); given != o.env.end()) {
      if (s.database_keeps && it != saved.end() && it->second != given->second) {
        fmt::print(stderr,
                   "lia-demo: {} is ignored: the local database's admin keeps the password of "
                   "the first run, saved in {} (stop the suite and remove its database to "
                   "choose another)\n",
                   s.name, secrets_file);
        given->second = it->second;
      }
      if (s.save_given) to_save += std::string(s.name) + "=" + given->second + "\n";
      continue;
    }
    const std::string value = it != saved.end() ? it->second : random_hex(s.bytes);
    o.env[s.name] = value;
    to_save += std::string(s.name) + "=" + value + "\n";
  }
  if (!write_private(secrets_file, to_save)) die("cannot write " + secrets_file);

  // Each process is recorded as it is launched: `scripts/run --stop` (and the next run) can
  // stop whatever a cut-short start left, and Ctrl-C during the start stops it at once.
  const std::string pids_file = state_dir + "/pids";
  std::remove(pids_file.c_str());
  o.on_launch = [pids_file](const std::string& name, int pid) {
    std::ofstream(pids_file, std::ios::app) << name << " " << pid << "\n" << std::flush;
    remember_launched(pid);
  };
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, stop_launched);
  std::cout << "Starting the suite: migrations, six services and the provider sandbox...\n"
            << std::flush;
  auto started = Stack::start(o);  // a failed start stops what it launched
  if (!started) {
    std::remove(pids_file.c_str());
    die(started.error().describe());
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);  // the suite stays up
  auto& stack = **started;
  // An agent of the support department to hand over to (already there on a re-run).
  auto admin = stack.login("admin", stack.secrets().admin_password);
  if (!admin) die("admin login failed: " + admin.error().describe());
  const std::string agent_password = "Suporte-" + stack.secrets().admin_password;
  {
    lia::json::Writer w;
    w.begin_object()
        .field("username", "ana")
        .field("password", agent_password)
        .field("full_name", "Ana Souza");
    w.field("role", "AGENT")
        .key("departments")
        .begin_array()
        .value("support")
        .value("general")
        .end_array()
        .end_object();
    auto r = stack.call("conversation", "POST", "/api/users", w.take(), *admin);
    if (!r || (r->status != 201 && r->status != 409)) die("cannot create the demo agent");
  }
  auto tap = lia::local::EventTap::start(kafka, true);
  if (!tap) die(tap.error().describe());
  Narrator n(**tap);

  n.say("=== A customer writes on WhatsApp (Meta Cloud API webhooks, signed) ===");
  auto before = [&](const std::string& type) {
    return (*tap)->count([&](const auto& s) { return s.type == type; });
  };
  const auto sent0 = before("lia.notification.message.sent");
  const std::string customer = customer_of_this_run();
  customer_says(stack, n, customer, 1, "Olá, boa tarde!");
  wait_for(**tap, "lia.notification.message.sent", sent0 + 1);
  std::this_thread::sleep_for(1500ms);  // let the delivery ticks arrive
  customer_says(stack, n, customer, 2, "Minha internet caiu desde ontem, estou sem conexão!");
  wait_for(**tap, "lia.notification.message.sent", sent0 + 2);
  std::this_thread::sleep_for(1000ms);
  const auto handoffs0 = before("lia.conversation.assigned");
  customer_says(stack, n, customer, 3,
                "Já reiniciei o modem e nada. Quero falar com um atendente.");
  wait_for(**tap, "lia.conversation.assigned", handoffs0 + 1);

  n.say("=== Ana, an agent of the support department, takes over (REST API with JWT) ===");
  auto ana = stack.login("ana", agent_password);
  if (!ana) {
    die("agent login failed (a previous run's agent has another password? run scripts/run --stop "
        "and delete .dev): " +
        ana.error().describe());
  }
  std::string conversation;
  for (const auto& s : (*tap)->snapshot()) {
    if (s.type == "lia.conversation.transferred" && s.field("chat_id") == customer)
      conversation = s.field("conversation_id");
  }
  lia::json::Writer reply;
  reply.begin_object()
      .field("text",
             "Oi Maria, aqui é do suporte. Identifiquei uma falha na sua região e já normalizei "
             "sua conexão.")
      .end_object();
  auto r = stack.call("conversation", "POST", "/api/conversations/" + conversation + "/messages",
                      reply.take(), *ana);
  n.say(fmt::format("Ana replies (HTTP {})", r ? r->status : 0));
  std::this_thread::sleep_for(1500ms);
  auto res = stack.call("conversation", "POST", "/api/conversations/" + conversation + "/resolve",
                        "{}", *ana);
  n.say(fmt::format("Ana resolves the conversation (HTTP {})", res ? res->status : 0));
  wait_for(**tap, "lia.engagement.survey.sent", 1);
  std::this_thread::sleep_for(1000ms);
  const auto scores0 = before("lia.engagement.score.recorded");
  customer_says(stack, n, customer, 4, "10");
  wait_for(**tap, "lia.engagement.score.recorded", scores0 + 1);
  std::this_thread::sleep_for(1500ms);
  tap->reset();

  const auto& sec = stack.secrets();
  std::cout << fmt::format(
      R"(
The suite is up and stays up:
  ingestion (webhooks)   {}     conversation (agents API) {}
  ai_orchestration       {}     nps_gamification          {}
  collections            {}     notification              {}
  provider sandbox       {}  (GET /sandbox/sends shows what was "sent" to WhatsApp)
  logs                   {}/logs/
  admin login            admin / {}

Send your own message (Evolution API webhook):
  curl -s -X POST {}/webhooks/evolution/messages-upsert -H 'apikey: {}' -H 'Content-Type: application/json' \
    -d '{{"event":"messages.upsert","instance":"lia-demo","data":{{"key":{{"remoteJid":"5511999990000@s.whatsapp.net","fromMe":false,"id":"MSG-'$RANDOM'"}},"pushName":"Você","message":{{"conversation":"Quero contratar fibra"}},"messageType":"conversation","messageTimestamp":'$(date +%s)'}}}}'
Or a Meta webhook, signed with the app secret:
  body='{}'
  sig=$(printf %s "$body" | openssl dgst -sha256 -hmac '{}' | cut -d' ' -f2)
  curl -s -X POST {}/webhooks/meta -H "X-Hub-Signature-256: sha256=$sig" -H 'Content-Type: application/json' -d "$body"
Watch the replies:  curl -s {}/sandbox/sends
Stop everything:    {}scripts/run --stop
)",
      stack.url("ingestion"), stack.url("conversation"), stack.url("ai_orchestration"),
      stack.url("nps_gamification"), stack.url("collections"), stack.url("notification"),
      stack.url("sandbox"), state_dir, sec.admin_password, stack.url("ingestion"),
      sec.evolution_apikey,
      // A new message id each time ('$RANDOM' closes and reopens the shell's quotes).
      lia::local::webhooks::meta_text(kPnid, "5511999990001", "Você", "wamid.MINE-'$RANDOM'",
                                      "Minha internet caiu", now_s()),
      sec.meta_app_secret, stack.url("ingestion"), stack.url("sandbox"), stop_with);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "up") return up(argc, argv);
  if (mode == "down") {
    const std::string state_dir = arg(argc, argv, "--state-dir");
    if (state_dir.empty()) die("usage: lia-demo down --state-dir DIR");
    return down(state_dir);
  }
  die("usage: lia-demo up|down --state-dir DIR [--bin-dir DIR]");
}
