// lia-dlq-replay: re-publishes a dead-letter topic's records to the topic they came from.
#include <iostream>

#include <lia/dlq_replay/cli.hpp>

int main(int argc, char** argv) {
  lia::core::Env env;
  return lia::dlq_replay::run(std::vector<std::string>(argv + 1, argv + argc), env, std::cout,
                              std::cerr);
}
