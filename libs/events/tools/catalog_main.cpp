// lia-catalog: prints the topic catalog compiled into lia::events, one topic per line:
//   name<TAB>partitions<TAB>cleanup<TAB>retention_ms
// (retention_ms is -1 for compacted topics). Used by scripts/dev-stack and the local stack to
// create the development broker's topics.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <lia/events/topic_catalog.hpp>

int main(int argc, char** argv) {
  if (argc > 1) {
    const bool help = std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0;
    std::fprintf(help ? stdout : stderr,
                 "usage: lia-catalog\n"
                 "Prints every Kafka topic of the LIA catalog as\n"
                 "name<TAB>partitions<TAB>cleanup<TAB>retention_ms (-1 when compacted).\n");
    return help ? 0 : 2;
  }
  try {
    const auto& catalog = lia::events::TopicCatalog::instance();
    std::string out;
    for (const auto& t : catalog.topics()) {
      out += t.name;
      out += '\t';
      out += std::to_string(t.partitions);
      out += '\t';
      out += lia::events::to_string(t.cleanup);
      out += '\t';
      out += std::to_string(t.retention_ms);
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lia-catalog: %s\n", e.what());
    return 1;
  }
}
