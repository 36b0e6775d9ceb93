// worker_spawn: starts one `respawn worker` OS process: a socketpair (the child's end becomes its
// fd 3), posix_spawn of the binary with `ARGS... --fd 3 --parent NODE_PID`, a clean signal mask
// and default dispositions in the child, and a pidfd for it (waited on and signalled through,
// so a recycled pid can never be hit). Every descriptor is close-on-exec on the node's side, so
// workers do not inherit each other's sockets, and every descriptor above 3 is closed in the child
// all the same (posix_spawn_file_actions_addclosefrom_np): a worker holds 0, 1, 2 and its socket,
// nothing else. Its environment is not the node's but worker_environment(): only the variables
// named in worker_environment_names that the node has. Called on the io_poller's thread (see
// there why).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace respawn::detail {

// What a worker's environment may hold (docs/workers.md): where programs are (PATH), the home and
// temporary directories, the locale and time zone, and the sanitizers' options (so that a
// sanitized build's workers report as the node does). Nothing else of the node's reaches a job.
inline constexpr const char* worker_environment_names[] = {
    "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"};

// "NAME=value" for each of worker_environment_names the calling process has.
std::vector<std::string> worker_environment();

struct spawned_process {
  pid_t pid = 0;
  int pidfd = -1;
  int sock = -1;  // the node's end, non-blocking, close-on-exec
};

// Throws std::system_error (with the binary's path in the message) if it cannot be started.
spawned_process spawn_process(const std::string& binary, const std::vector<std::string>& args);

}  // namespace respawn::detail
