// worker_spawn: starts one `respawn worker` OS process: a socketpair (the child's end becomes its
// fd 3), posix_spawn of the binary with `ARGS... --fd 3 --parent NODE_PID`, a clean signal mask
// and default dispositions in the child, and a pidfd for it (waited on and signalled through,
// so a recycled pid can never be hit). Every descriptor is close-on-exec on the node's side, so
// workers do not inherit each other's sockets. Called on the io_poller's thread (see there why).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace respawn::detail {

struct spawned_process {
  pid_t pid = 0;
  int pidfd = -1;
  int sock = -1;  // the node's end, non-blocking, close-on-exec
};

// Throws std::system_error (with the binary's path in the message) if it cannot be started.
spawned_process spawn_process(const std::string& binary, const std::vector<std::string>& args);

}  // namespace respawn::detail
