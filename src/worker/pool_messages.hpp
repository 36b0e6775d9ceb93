// pool_messages: what a worker_process (the owner of one worker OS process) and the pool manager
// tell each other. Internal; the public messages are in respawn/worker_pool.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io_poller.hpp"
#include "respawn/pid.hpp"
#include "respawn/worker_pool.hpp"

namespace respawn::detail {

// The owner's worker said hello: it is ready for tasks.
struct worker_ready {
  respawn::pid owner;
  std::string build;
  std::uint32_t os_pid = 0;
  std::uint64_t generation = 0;
};
// The owner finished these tasks (one message per batch of results). `head` is the task its
// worker runs now (0: none) and `head_since` when it started: the manager's dispatch sends
// nothing behind a head that has run longer than pipeline_stall (docs/workers.md).
struct worker_done {
  respawn::pid owner;
  std::vector<std::uint64_t> ids;
  std::uint64_t head = 0;
  std::chrono::steady_clock::time_point head_since{};
};
// Give back these tasks if they have not started (they wait behind a stalled head, and a worker
// is idle). The owner sends a recall frame for each; the worker's `recalled` answers come back
// as requeue_tasks (no outcome to the submitter); a task that started meanwhile just runs.
struct recall_tasks {
  std::vector<std::uint64_t> ids;
};
// The submitter `reply_to` died (the manager's monitor said so): cancel its tasks in this worker
// and kill the worker if one still runs after abandon_grace, so that the attempt is fenced off.
struct abandon_tasks {
  respawn::pid reply_to;
};
// The owner's worker died: the tasks it had not started go back to the queue, and the owner
// waits for leave_ack before it exits, so that any run_tasks the manager sent meanwhile reach a
// living process (and are handed back too) instead of being dropped with a dead mailbox.
struct requeue_tasks {
  respawn::pid owner;
  std::vector<task_request> tasks;
  bool leaving = false;
};
struct leave_ack {};
// Finish the tasks in flight, then stop the worker and exit normally.
struct retire_worker {};

// What the pool manager passes to each owner it starts (start_child's argument).
struct owner_start {
  worker_options options;
  respawn::pid manager;
  std::uint64_t generation = 0;
};

// Owner timers.
struct deadline_tick {
  std::uint64_t task;
  std::uint64_t serial;
};
struct heartbeat_tick {};
struct closed_grace_tick {};
struct term_grace_tick {};
struct start_timeout_tick {};
struct cancel_grace_tick {  // a cancelled (or abandoned) task's grace has passed
  std::uint64_t task;
};

// Pool manager timers.
struct idle_check_tick {};
struct rebalance_tick {};  // armed only while a head may become stalled with tasks behind it
struct start_retry_tick {};

}  // namespace respawn::detail
