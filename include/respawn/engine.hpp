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
// commit, never before. Each live job is a process that logs before it acts: its task goes to the
// pool at once and its attempt counts (`claimed`) when the pool says the task started in a worker
// (task_started), so a task still waiting for a worker when the node dies costs no attempt, while
// a job that kills its worker every time still uses up its attempts; the outcome is durable
// before the dispatcher hears of it. A job process that crashes is restarted by its supervisor
// from the job's state in the store.
//
// At start the dispatcher rebuilds every unfinished job from the store: queued jobs queue again
// (their tasks, if any, never started), jobs that were running when the node died count that
// attempt as failed and are retried (from their latest snapshot) or declared dead, failed jobs
// wait for their retry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  // Jobs running at once (sent to the pool: started in a worker, or waiting for one); 0: the
  // pool's max_workers x 2.
  std::size_t running_max = 0;
  // An attempt's worker is killed past this (unless the request has its own timeout_ms); serve's
  // --attempt-timeout. Every limit a job meets: docs/jobs.md, "Limits".
  std::chrono::milliseconds attempt_timeout{60000};
  // The clock that stamps events and times retries; empty: the system clock. The seeded
  // simulation (tests/engine/simulation.test.cpp) passes the deterministic runtime's manual clock.
  std::function<jobs::job_time()> clock{};
  // The worker pool as a child that registers as `pool_name` and answers the pool's messages
  // (submit_task -> task_event*, task_outcome; cancel_task); empty: a real worker pool made from
  // `pool`. The simulation passes a pool of simulated workers that crash and hang on a seed.
  std::function<child_spec(const std::string& pool_name)> pool_child{};
  // Session kinds (docs/sessions.md): a job of such a kind is not queued; it runs while a client
  // streams it (attach_session) and is paused and dropped from memory when none does. Empty:
  // no session kinds.
  std::function<bool(const std::string& kind)> is_session_kind{};
  // How long a session process with no client stays in memory before it stops (a client that
  // reconnects at once, or a burst of inputs to a paused session, finds it still there).
  std::chrono::milliseconds session_linger{200};
  // Cancel of a running job: the task is asked to stop; if it still runs this long after, its
  // worker is killed (the job is logged cancelled either way).
  std::chrono::milliseconds cancel_grace{5000};
  // Outputs one job may log (a batch job's `emit`s; the store refuses past its own caps, in
  // count and bytes, so keep this at or below sqlite_options::outputs_max). Past it the job's
  // further outputs are dropped, the job runs on, and the node says so once on stderr: a chatty
  // job must not turn into refused appends and a crashing job process.
  std::uint64_t outputs_max = 10'000;
  // Progress is coalesced: a job's progress reports are logged at most once per this interval,
  // the latest value winning (and the last one always logged before the attempt's next output,
  // snapshot or outcome), so that a job reporting in a tight loop costs the log a few appends a
  // second, not one per report. 0: every report is logged.
  std::chrono::milliseconds progress_interval{200};
  // A transient store failure (busy, disk full, I/O error) met by a job's write is retried by
  // the job's own process, backing off from store_retry_initial, doubling up to store_retry_max,
  // instead of crashing it (a crash would retry at once, in a storm). Disk full also pauses
  // admission (engine_errc::disk_full) until a write succeeds again; the first submission after
  // a pause of this length (doubling, up to store_retry_max) is let through as the probe.
  std::chrono::milliseconds store_retry_initial{10};
  std::chrono::milliseconds store_retry_max{2000};
  // A session job's unanswered inputs are held in memory: at most this many, and this many
  // bytes of JSON text; past either, an input is refused with "overloaded" (HTTP 429).
  std::size_t session_inputs_pending_max = 1000;
  std::size_t session_pending_bytes_max = 16 * 1024 * 1024;
};

// What went wrong with a request to the engine (one enum per domain, STYLE.md). The HTTP layer
// maps each to its answer with a switch (src/http/api_routes.cpp).
enum class engine_errc : std::uint8_t {
  none,                  // no error
  invalid_request,       // the submission is empty or malformed
  overloaded,            // admission: held_max or held_per_user_max reached; try again later
  idempotency_conflict,  // the key names a job with a different request
  disk_full,             // the store's disk is full: admission is paused until a write succeeds
  unavailable,           // the store is busy or closing, or failed (I/O): try again later
};
const char* to_string(engine_errc code) noexcept;

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
  engine_errc error_code = engine_errc::none;
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
  std::size_t sessions = 0;     // session jobs in memory (attached, or lingering)
};

// --- session jobs (docs/sessions.md) ---
// Each session job in memory is one process, started by the dispatcher from the log when a
// client first needs it and stopping by itself when no client has streamed it for
// session_linger. Talk to it through call_session (which finds or starts it) or keep a stream
// attached with session_attachment.

// dispatcher -> respawn::pid: the process of session job `id`, started from the log if it is
// not in memory. The caller must know the job exists and is a session job (the HTTP layer
// checked the job's owner and kind); a process started for anything else answers every request
// with an error.
struct locate_session {
  jobs::job_id id = 0;
};
// session process -> session_reply
struct session_request {
  enum class op : std::uint8_t {
    attach,  // `watcher` streams the job: it runs (claimed or resumed) while a watcher lives
    input,   // log input `seq` (idempotent by seq: the same seq with the same data is a duplicate)
    cancel,  // log `cancelled`
  };
  op what = op::attach;
  respawn::pid watcher{};          // attach
  std::uint64_t seq = 0;           // input: > 0
  nlohmann::json data{};           // input
  bool end = false;                // input: the last one; the session succeeds once it is answered
};
struct session_reply {
  bool ok = false;
  // not_found, not_a_session_job, job_finished, input_conflict, input_after_end, overloaded
  // (too many unanswered inputs: engine_config::session_inputs_pending_max), unavailable,
  // io_error
  std::string error_code{};
  std::string error{};
  bool duplicate = false;  // input: this seq was logged before, with the same data
  jobs::job_status status = jobs::job_status::queued;  // after the request
};

// Finds (or starts) session job `id`'s process through `dispatcher` and sends it `request`;
// when the process ends in between (it lingered out, or crashed), asks again: the next one is
// rebuilt from the log, and idempotent requests make the retry safe. Thread-safe; never throws.
session_reply call_session(runtime& rt, respawn::pid dispatcher, jobs::job_id id, const session_request& request,
                           std::chrono::milliseconds timeout);

// A client's stream attached to a session job: while this object lives, the job runs (docs/
// sessions.md). It is a process the session monitors; it watches the session's process in turn
// and attaches again when that one ended (a crash, a manager restart), so that a stream that
// stays open keeps its session running. Destroying it detaches.
class session_attachment {
 public:
  // Attaches; `reply` says how it went (nullptr when it failed).
  static std::unique_ptr<session_attachment> open(runtime& rt, std::function<respawn::pid()> dispatcher,
                                                  jobs::job_id id, std::chrono::milliseconds timeout,
                                                  session_reply& reply);
  ~session_attachment();
  session_attachment(const session_attachment&) = delete;
  session_attachment& operator=(const session_attachment&) = delete;

  // Attaches again if the session's process has ended since; call it from time to time (each
  // poll of the stream). Not thread-safe: one caller at a time. false: could not re-attach.
  bool keep();
  // How many times it attached (1 after open; +1 per re-attach by keep).
  std::uint64_t attaches() const noexcept;

 private:
  struct state;
  explicit session_attachment(std::unique_ptr<state> s);
  std::unique_ptr<state> s_;
};

// The engine's tree as a child of your supervisor, or as a root.
child_spec engine_child_spec(std::string id, engine_config config, std::shared_ptr<store::job_store> store);
struct engine_handle {
  respawn::pid supervisor;
  respawn::pid dispatcher;
};
engine_handle start_engine(runtime& rt, engine_config config, std::shared_ptr<store::job_store> store);

}  // namespace respawn::engine
