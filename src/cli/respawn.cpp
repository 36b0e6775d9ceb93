// respawn: the node's binary. It is also its own worker (`respawn worker`), because the node
// starts workers by exec'ing its own file: the kinds a worker can run are exactly the kinds this
// file registers, and a rebuilt binary is a new version of both (hot code upgrade reloads it).
// A program with kinds of its own does the same with its registry (docs/job-kinds.md).
//
// The server's commands (serve, user) and the client's (submit, watch, jobs, cancel, input) are
// dispatched here, above the worker layer's respawn::main (run, kinds, worker, version, help).
#include <string_view>

#include "respawn/client.hpp"
#include "respawn/kinds.hpp"
#include "respawn/users.hpp"
#include "serve_command.hpp"

int main(int argc, char** argv) {
  const auto kinds = respawn::builtin_kinds();
  if (argc > 1) {
    std::string_view command = argv[1];
    if (command == "serve") return respawn::node::serve_command(argc - 1, argv + 1, kinds);
    if (command == "user") return respawn::users::user_command(argc - 1, argv + 1);
    if (command == "submit" || command == "watch" || command == "jobs" || command == "cancel" ||
        command == "input") {
      return respawn::client::client_command(argc - 1, argv + 1);
    }
  }
  return respawn::main(argc, argv, kinds);
}
