#include <charconv>
#include <ostream>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

#include <lia/core/log.hpp>
#include <lia/dlq_replay/cli.hpp>
#include <lia/kafka/kafka.hpp>
#include <lia/kafka/replay.hpp>

namespace lia::dlq_replay {
namespace {

constexpr const char* kName = "lia-dlq-replay";

void usage(std::ostream& out) {
  out << "usage: lia-dlq-replay [--list] [--max N] [--timeout-ms N] <topic>.dlq\n\n"
         "Re-publishes the records of a dead-letter topic to the topic they came from, as they\n"
         "are (key, value, headers, the lia.dlq.* ones included) plus lia.replayed_from,\n"
         "once each: its place is the consumer group lia-replay.<topic>.dlq, committed after\n"
         "the broker acknowledged each copy. It takes the records there when it starts and\n"
         "exits. Fix what dead-lettered them first; consumers drop events they already have.\n\n"
         "  --list          show them (no key, no value: they hold personal data), change nothing\n"
         "  --max N         at most N records this run\n"
         "  --timeout-ms N  give up after N ms (default 60000)\n\n"
         "Settings (environment): LIA_KAFKA_BOOTSTRAP (default 127.0.0.1:9092),\n"
         "LIA_KAFKA_PROPERTIES, LIA_KAFKA_SECRET_PROPERTIES (as the services), LIA_LOG_LEVEL.\n"
         "Exit status: 0 done, 1 the replay failed (what it replayed before is committed),\n"
         "2 a usage or settings problem.\n";
}

bool positive(const std::string& text, std::int64_t max, std::int64_t& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && out >= 1 && out <= max;
}

std::string line(const kafka::DeadLetterInfo& d) {
  const auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  return fmt::format(
      "partition {} offset {}: {} {} from {} partition {} offset {}, {} attempt(s), at {}, "
      "retryable {}: {}{}",
      d.partition, d.offset, or_dash(d.event_type), or_dash(d.event_id), or_dash(d.origin_topic),
      or_dash(d.origin_partition), or_dash(d.origin_offset), or_dash(d.attempts), or_dash(d.at),
      or_dash(d.retryable), or_dash(d.error),
      d.value_at_origin.empty()
          ? ""
          : fmt::format(" (kept without its value, {} bytes, read from its origin)",
                        d.value_at_origin));
}

}  // namespace

int run(const std::vector<std::string>& args, core::Env& env, std::ostream& out,
        std::ostream& err) {
  kafka::ReplayOptions o;
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      usage(out);
      return 0;
    }
    if (a == "--list") {
      o.list_only = true;
    } else if (a == "--max" || a == "--timeout-ms") {
      std::int64_t n = 0;
      if (i + 1 >= args.size() || !positive(args[i + 1], 1'000'000'000, n)) {
        problems.push_back(a + " needs a whole number from 1");
      } else if (a == "--max") {
        o.max = static_cast<std::size_t>(n);
      } else {
        o.timeout = std::chrono::milliseconds{n};
      }
      ++i;
    } else if (a.starts_with("-")) {
      problems.push_back("unknown option " + a);
    } else if (o.dlq_topic.empty()) {
      o.dlq_topic = a;
    } else {
      problems.push_back("one topic at a time (got '" + o.dlq_topic + "' and '" + a + "')");
    }
  }
  if (o.dlq_topic.empty()) {
    problems.emplace_back("which dead-letter topic? (<topic>.dlq)");
  } else if (!kafka::DeadLetter::origin_of(o.dlq_topic)) {
    problems.push_back("'" + o.dlq_topic + "' is not a dead-letter topic (<topic>.dlq)");
  }
  o.bootstrap = env.string("LIA_KAFKA_BOOTSTRAP", "127.0.0.1:9092");
  o.properties = kafka::properties_from_env(env);
  const auto level = env.one_of("LIA_LOG_LEVEL", "warn", {"debug", "info", "warn", "error"});
  for (const auto& p : env.problems()) problems.push_back(p);
  if (!problems.empty()) {
    for (const auto& p : problems) err << kName << ": " << p << "\n";
    err << "(" << kName << " --help shows the usage)\n";
    return 2;
  }
  core::Logger::Options lo;
  lo.service = "dlq-replay";
  lo.level = core::parse_level(level);
  // Log lines (librdkafka's connection trouble, say) go to stderr: stdout is the report. One
  // write(2) a line, from whichever thread logs.
  lo.sink = [](std::string_view l) {
    std::string line(l);
    line += '\n';
    (void)!::write(STDERR_FILENO, line.data(), line.size());
  };
  core::set_log(core::Logger(lo));

  auto report = kafka::replay_dead_letters(o, [&](const kafka::DeadLetterInfo& d) {
    out << (o.list_only ? "" : "replaying ") << line(d) << "\n";
  });
  if (!report) {
    err << kName << ": " << report.error().describe() << "\n";
    return 1;
  }
  if (o.list_only) {
    out << fmt::format("{}: {} dead letter(s) in {} not replayed yet{}\n", kName, report->seen,
                       o.dlq_topic,
                       report->left > 0 ? fmt::format(" ({} more not shown)", report->left) : "");
  } else {
    const std::string origin = kafka::DeadLetter::origin_of(o.dlq_topic).value_or("");
    out << fmt::format(
        "{}: replayed {} dead letter(s) of {} to {}{}\n", kName, report->replayed, o.dlq_topic,
        origin, report->left > 0 ? fmt::format(" ({} left for the next run)", report->left) : "");
  }
  return 0;
}

}  // namespace lia::dlq_replay
