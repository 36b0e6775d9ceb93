// engine: the job engine, the manager's supervision tree (DESIGN.md §4, issue 5). It stands on
// the store (the durable event log, src/store), the domain (fold, retry policy, fair queue,
// src/jobs) and the worker pool (worker OS processes, src/worker):
//
//   engine supervisor (rest_for_one)
//    ├─ NAME.pool     the worker pool (its own tree)
//    ├─ NAME.jobs     dynamic_supervisor: one process per live job (transient)
//    └─ NAME          the dispatcher: admission, the fair queue, recovery at start
//
// Submission follows seed 000's order: the store allocates the id, the job is stored (its
// `submitted` event is durable), then the dispatcher is told; the caller's reply comes after the
// commit, never before. Each live job is a process that logs before it acts: `claimed` is
// durable before the task goes to a worker (so a job that kills its worker every time still uses
// up its attempts), and the outcome is durable before the dispatcher hears of it. A job process
// that crashes is restarted by its supervisor from the job's state in the store.
//
// At start the dispatcher rebuilds every unfinished job from the store: queued jobs queue again,
// jobs that were running when the node died count that attempt as failed and are retried (from
// their latest snapshot) or declared dead, failed jobs wait for their retry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "respawn/jobs/fair_queue.hpp"
#include "respawn/jobs/job.hpp"
#include "respawn/jobs/job_state.hpp"
#include "respawn/jobs/retry_policy.hpp"
#include "respawn/supervisor.hpp"
#include "respawn/worker_pool.hpp"

namespace respawn::store {
class job_store;
}

namespace respawn::engine {

struct engine_config {
  std::string name{"jobs"};
  worker_pool_config pool{};
  jobs::fair_queue_limits queue{};
  jobs::retry_policy retry{};
  // Jobs running at once (claimed and sent to a worker); 0: the pool's max_workers x 2.
  std::size_t running_max = 0;
  std::chrono::milliseconds attempt_timeout{60000};  // a worker is killed past this (unless the
                                                      // request has its own timeout_ms)
  // The clock that stamps events and times retries; empty: the system clock. The seeded
  // simulation (tests/engine/simulation.test.cpp) passes the deterministic runtime's manual clock.
  std::function<jobs::job_time()> clock{};
  // The worker pool as a child that registers as `pool_name` and answers the pool's messages
  // (submit_task -> task_event*, task_outcome; cancel_task); empty: a real worker pool made from
  // `pool`. The simulation passes a pool of simulated workers that crash and hang on a seed.
  std::function<child_spec(const std::string& pool_name)> pool_child{};
};

// --- requests the dispatcher (registered as NAME) answers with call() ---

// -> submit_reply. Stored in one transaction; replies once durable.
struct submit_jobs {
  std::vector<jobs::job_request> requests;
};
struct submitted_job {
  jobs::job_id id = 0;
  bool existing = false;  // the idempotency key named a job stored before
};
struct submit_reply {
  bool ok = false;
  std::string error_code{};  // "overloaded", "idempotency_conflict", "invalid_request", "io_error", ...
  std::string error{};
  std::vector<submitted_job> jobs{};
};

// -> bool (false: no such live job; a final job cannot be cancelled)
struct cancel_job {
  jobs::job_id id = 0;
};

// Subscribes `watcher` to job_finished notes: one per job that reaches a final state (durably),
// from now on. For benchmarks and tests; the HTTP layer streams the log instead.
struct watch_finals {
  respawn::pid watcher;
};
struct job_finished {
  jobs::job_id id = 0;
  jobs::job_status status = jobs::job_status::succeeded;
};

// -> bool. Draining: from now on no queued job starts (they stay queued, in the log, for the
// next start); running attempts go on. Poll engine_stats::running to see them end.
struct pause_dispatch {};

// -> engine_stats
struct engine_stats_request {};
struct engine_stats {
  std::size_t live = 0;     // job processes
  std::size_t queued = 0;
  std::size_t running = 0;
  std::uint64_t recovered = 0;  // jobs rebuilt from the store at start
  bool ready = false;           // recovery finished
  bool paused = false;          // pause_dispatch: no job starts
};

// The engine's tree as a child of your supervisor, or as a root.
child_spec engine_child_spec(std::string id, engine_config config, std::shared_ptr<store::job_store> store);
struct engine_handle {
  respawn::pid supervisor;
  respawn::pid dispatcher;
};
engine_handle start_engine(runtime& rt, engine_config config, std::shared_ptr<store::job_store> store);

}  // namespace respawn::engine
