// worker_main (private): the worker's entry point with the node's pid, which the public
// respawn::worker_main(fd, kinds) does not take. The command line passes `--parent PID` so that
// a worker whose node died before it could arm its death signal exits instead of serving no one.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "respawn/kinds.hpp"

namespace respawn::detail {

// What the node asks of a worker on its command line (`respawn worker --task-memory-mb N ...`,
// docs/workers.md); 0 means none. The task limits apply to each task that has none of its own;
// the file limits to the whole worker, from its start.
struct worker_setup {
  std::uint32_t task_memory_mb = 0;    // RLIMIT_AS a task may add (not under ASan or TSan)
  std::uint32_t task_cpu_seconds = 0;  // RLIMIT_CPU a task may use (SIGXCPU past it)
  std::uint64_t max_open_files = 0;    // RLIMIT_NOFILE
  std::uint64_t max_file_size_mb = 0;  // RLIMIT_FSIZE (a write past it fails with EFBIG)
};

// Serves `kinds` over `fd` until the node closes it; never returns (the worker ends by _exit or a
// signal). `parent_pid` 0: no parent check (the death signal is still armed).
[[noreturn]] void run_worker(int fd, pid_t parent_pid, const kind_registry& kinds, const worker_setup& setup = {});

}  // namespace respawn::detail
