// run_command: `respawn run KIND [--arg k=v ...]`: starts a runtime and a worker pool of this
// very binary, runs one task and prints its outcome (docs/workers.md). Declared apart from
// command_line.cpp so that the command-line dispatch does not pull in the node side.
#pragma once

#include "respawn/kinds.hpp"

namespace respawn::detail {

// argv[0] is "run"; returns the process exit code (0 when the task succeeded).
int run_command(int argc, char** argv, const kind_registry& kinds);

}  // namespace respawn::detail
