// Child process for the pg crash-safety tests. Reads LIA_PG_URL (and LIA_KAFKA_BOOTSTRAP)
// from the environment.
//
//   pg_test_helper migrate <schema> <dir>     runs the folder's migrations; prints applied=N
//   pg_test_helper relay ...                  see helper_kafka.cpp
//   pg_test_helper consume ...                see helper_kafka.cpp

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <lia/pg/migrate.hpp>

int relay_main(const std::vector<std::string>& args);
int consume_main(const std::vector<std::string>& args);

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): single-threaded here
  if (v == nullptr) {
    std::cerr << name << " is not set\n";
    std::exit(2);  // NOLINT(concurrency-mt-unsafe)
  }
  return v;
}

int migrate_main(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::cerr << "usage: pg_test_helper migrate <schema> <dir>\n";
    return 2;
  }
  auto ms = lia::pg::load_migrations(args[1]);
  if (!ms) {
    std::cerr << ms.error().describe() << "\n";
    return 1;
  }
  lia::pg::Migrator m(env("LIA_PG_URL"), args[0], "svc", *ms);
  auto r = m.up();
  if (!r) {
    std::cerr << r.error().describe() << "\n";
    return 1;
  }
  std::cout << "applied=" << *r << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: pg_test_helper migrate|relay|consume ...\n";
    return 2;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "migrate") return migrate_main(args);
  if (cmd == "relay") return relay_main(args);
  if (cmd == "consume") return consume_main(args);
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
