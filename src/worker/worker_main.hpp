// worker_main (private): the worker's entry point with the node's pid, which the public
// respawn::worker_main(fd, kinds) does not take. The command line passes `--parent PID` so that
// a worker whose node died before it could arm its death signal exits instead of serving no one.
#pragma once

#include <sys/types.h>

#include "respawn/kinds.hpp"

namespace respawn::detail {

// Serves `kinds` over `fd` until the node closes it; never returns (the worker ends by _exit or a
// signal). `parent_pid` 0: no parent check (the death signal is still armed).
[[noreturn]] void run_worker(int fd, pid_t parent_pid, const kind_registry& kinds);

}  // namespace respawn::detail
