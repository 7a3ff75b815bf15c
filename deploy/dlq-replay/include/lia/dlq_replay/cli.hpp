#pragma once
// lia-dlq-replay: the command line of lia::kafka::replay_dead_letters (see README.md).

#include <iosfwd>
#include <string>
#include <vector>

#include <lia/core/config.hpp>

namespace lia::dlq_replay {

// args: the arguments after the program name. Exit status: 0 done, 1 the replay failed (what
// was replayed before the failure is committed), 2 a usage or settings problem.
int run(const std::vector<std::string>& args, core::Env& env, std::ostream& out, std::ostream& err);

}  // namespace lia::dlq_replay
