// lia-dev-broker: the project's development Kafka broker. It runs librdkafka's mock cluster,
// which speaks the real Kafka protocol on loopback (produce, fetch, idempotent and
// transactional producers, consumer groups and offset commits), creates the catalog's
// topics, announces its bootstrap address and runs until SIGTERM/SIGINT.
//
// Limits of the mock cluster (librdkafka 2.0.2) that the suite designs around: nothing is
// kept on disk; each partition keeps only about 5 MiB (the oldest batches are dropped);
// producer retries are de-duplicated only for transactional producers; there are no
// transaction markers, so read_committed can't be tested on it; a fetch walks its
// partition's batches from the oldest, so a broker that has filled its partitions spends
// far more CPU per fetch than an empty one (scripts/bench/soak shows it).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int /*sig*/) {
  g_stop = 1;
}

struct Topic {
  std::string name;
  int partitions = 1;
};

struct Options {
  int brokers = 1;
  int default_partitions = 6;
  std::string bootstrap_file;
  std::vector<std::string> topic_files;
  std::vector<Topic> topics;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "lia-dev-broker: " << error << "\n"
            << "usage: lia-dev-broker [--brokers N] [--partitions N] [--bootstrap-file PATH]\n"
            << "                      [--topics FILE]... [--topic NAME[:PARTITIONS]]...\n"
            << "  --topics FILE   lines of 'name<TAB>partitions[<TAB>...]' (lia-catalog output)\n"
            << "  Topics not listed are created on first use with --partitions partitions.\n";
  std::exit(2);  // NOLINT(concurrency-mt-unsafe)
}

int to_int(const std::string& flag, const std::string& v, int min, int max) {
  try {
    std::size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used != v.size() || n < min || n > max) throw std::out_of_range(v);
    return n;
  } catch (const std::exception&) {
    usage(flag + " expects an integer between " + std::to_string(min) + " and " +
          std::to_string(max) + ", got '" + v + "'");
  }
}

Topic parse_topic(const std::string& spec, const std::string& origin) {
  Topic t;
  auto colon = spec.find(':');
  t.name = spec.substr(0, colon);
  if (t.name.empty()) usage("empty topic name in " + origin);
  if (colon != std::string::npos) t.partitions = to_int(origin, spec.substr(colon + 1), 1, 1000);
  return t;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--brokers") {
      o.brokers = to_int(a, value(), 1, 9);
    } else if (a == "--partitions") {
      o.default_partitions = to_int(a, value(), 1, 1000);
    } else if (a == "--bootstrap-file") {
      o.bootstrap_file = value();
    } else if (a == "--topics") {
      o.topic_files.push_back(value());
    } else if (a == "--topic") {
      o.topics.push_back(parse_topic(value(), "--topic"));
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  for (const auto& path : o.topic_files) {
    std::ifstream in(path);
    if (!in) usage("cannot read topics file " + path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string name;
      std::string parts;
      std::getline(ls, name, '\t');
      std::getline(ls, parts, '\t');
      if (!parts.empty()) name.append(":").append(parts);
      o.topics.push_back(parse_topic(name, path));
    }
  }
  return o;
}

std::string now_iso() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void log_line(const std::string& msg, const std::string& extra = {}) {
  std::cout << "{\"ts\":\"" << now_iso()
            << "\",\"level\":\"info\",\"service\":\"dev-broker\",\"msg\":\"" << msg << "\"" << extra
            << "}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // Topics a client asks for that don't exist yet are created with this many partitions.
  const std::string parts = std::to_string(opt.default_partitions);
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
    std::cerr << "lia-dev-broker: " << err << "\n";
    return 1;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::cerr << "lia-dev-broker: cannot create the librdkafka handle: " << err << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, opt.brokers);
  if (cluster == nullptr) {
    std::cerr << "lia-dev-broker: cannot start the mock cluster\n";
    rd_kafka_destroy(rk);
    return 1;
  }
  for (const auto& t : opt.topics) {
    const auto e = rd_kafka_mock_topic_create(cluster, t.name.c_str(), t.partitions, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::cerr << "lia-dev-broker: cannot create topic " << t.name << ": " << rd_kafka_err2str(e)
                << "\n";
      return 1;
    }
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (!opt.bootstrap_file.empty()) {
    const std::string tmp = opt.bootstrap_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << bootstrap << "\n";
    }
    std::rename(tmp.c_str(), opt.bootstrap_file.c_str());  // atomic: readers never see half
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  log_line("broker up", ",\"bootstrap\":\"" + bootstrap +
                            "\",\"brokers\":" + std::to_string(opt.brokers) +
                            ",\"topics\":" + std::to_string(opt.topics.size()) +
                            ",\"pid\":" + std::to_string(::getpid()));
  std::cout << "LIA_KAFKA_BOOTSTRAP=" << bootstrap << std::endl;

  while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));

  log_line("broker stopping");
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  if (!opt.bootstrap_file.empty()) std::remove(opt.bootstrap_file.c_str());
  return 0;
}
