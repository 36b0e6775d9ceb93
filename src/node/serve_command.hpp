// serve_command: `respawn serve`, the job server in one command (issue 6; docs/serve.md):
// the SQLite store, the users, the engine (manager + worker pool) and the HTTP API in one node
// process, under heart (heart.hpp) unless --no-heart.
#pragma once

#include "respawn/kinds.hpp"

namespace respawn::node {

// argv[0] is "serve". Returns the exit code: 0 after a drain, 64 usage, 78 configuration.
int serve_command(int argc, char** argv, const kind_registry& kinds);

}  // namespace respawn::node
