// worker_pool: OS worker processes in the supervision tree (docs/workers.md).
//
// In C++ a segfault, an abort, heap corruption or a runaway allocation in one thread takes the
// whole process down; the only real containment is an OS process. Each `respawn worker` process
// is owned by one runtime process, a worker_process, whose exit reason is the worker's end
// ("worker crashed with SIGSEGV", "worker killed at its deadline", ...), so links, monitors and
// restart intensity apply to OS processes unchanged.
//
// The pool keeps workers started ahead of need: at least min_workers, growing toward max_workers
// while tasks wait (in its queue, or behind a long task in a worker), shrinking back when idle,
// replacing any that dies. A task goes to an idle worker first; it is sent behind a busy
// worker's running task (up to max_in_flight, so that short tasks batch into few writes) only
// while that task has run less than pipeline_stall, and the pool recalls the tasks that wait
// behind a task that turned out long as soon as a worker is idle: no task waits behind another
// while capacity is idle. Task groups share the workers fairly (max_workers_per_group) and
// interactive tasks have workers of their own above max_workers (interactive_workers). A task
// that had not started when its worker died, or that was recalled, goes back to the queue
// without costing an attempt (it gets task_started only from the worker that starts it). reload() starts new workers from the binary's file as it is now (hot code
// upgrade): idle old workers exit at once, busy ones after their tasks.
//
//   respawn::worker_pool_config cfg;            // binary: this program, mode "worker"
//   auto pool = respawn::start_worker_pool(rt, cfg);
//   rt.send(pool.manager, respawn::submit_task{{.id = 1, .kind = "sum", .args = R"({"n":10})",
//                                               .reply_to = me}});
//   // me receives respawn::task_outcome{.id = 1, .status = succeeded, .result = "55"}
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "respawn/process.hpp"
#include "respawn/supervisor.hpp"

namespace respawn {

class runtime;

// Per-task limits; 0 means none.
struct task_limits {
  std::chrono::milliseconds deadline{0};  // SIGKILL when the task runs this long
  std::uint32_t memory_mb = 0;            // address space the task may add (RLIMIT_AS)
  std::uint32_t cpu_seconds = 0;          // CPU time the task may use (RLIMIT_CPU, SIGXCPU)
};

struct task_request {
  std::uint64_t id = 0;        // the submitter's; outcomes and events carry it back
  std::string kind{};
  std::string args{"{}"};      // JSON text (parsed only in the worker)
  std::uint32_t attempt = 1;
  std::string snapshot{};      // JSON text of the snapshot to restore from ("" for none)
  task_limits limits{};
  respawn::pid reply_to{};     // gets task_started, task_event and task_outcome messages
  // Fair shares (docs/workers.md): the tasks of one group (the engine's: one user's jobs) run in
  // at most worker_pool_config::max_workers_per_group workers at once. "" : no group.
  std::string group{};
  // A session's answer: it may also run in the interactive_workers kept above max_workers, so
  // that batch work never starves it.
  bool interactive = false;
};

// How a worker process ended, as its owner saw it.
enum class worker_exit : std::uint8_t {
  none,           // still running (or never started)
  exited,         // exited by itself with a code
  crashed,        // killed by a signal it raised or got (SIGSEGV, SIGABRT, ...)
  deadline,       // killed at its task's deadline
  memory_limit,   // killed over its memory limit
  cpu_limit,      // killed over its CPU-time limit (SIGXCPU)
  heartbeat,      // did not answer a ping within heartbeat_timeout; killed
  malformed,      // sent a malformed frame; killed
  closed_socket,  // closed its socket; killed
  start_failed,   // could not be started, or never said hello
  shutdown,       // stopped on request (pool shutdown, retirement, reload)
  cancelled,      // its task was cancelled (or its submitter died) and did not stop in its grace
};
const char* to_string(worker_exit e) noexcept;

enum class task_status : std::uint8_t {
  succeeded,     // result: the handler's JSON result
  failed,        // error: "TYPE: what()" of the exception the handler threw
  cancelled,     // cancelled before or while it ran
  unknown_kind,  // no kind of that name in the worker's binary
  worker_died,   // its worker died while running it: see worker_exit and error
};
const char* to_string(task_status s) noexcept;

struct task_outcome {
  std::uint64_t id = 0;
  task_status status = task_status::succeeded;
  std::string result{};  // JSON text
  std::string error{};
  worker_exit exit = worker_exit::none;  // worker_died only
  std::uint32_t os_pid = 0;              // the worker that ran it
  std::uint32_t attempt = 0;             // the request's attempt: a submitter drops stale ones
};

// Sent to reply_to once, when the task starts: its worker takes it up (the worker was idle, or the
// task before it in that worker ended). A task that never started (it waited in the pool's queue
// or behind another task in a worker when its worker or the node died) gets no task_started:
// its attempt did not begin. Always before the task's events and outcome.
struct task_started {
  std::uint64_t id = 0;
  std::uint32_t attempt = 0;
  std::uint32_t os_pid = 0;  // the worker that runs it
};

// What a running task reports before its outcome (JSON text each).
enum class task_event_type : std::uint8_t { progress, output, snapshot };
struct task_event {
  std::uint64_t id = 0;
  task_event_type type = task_event_type::progress;
  std::string value{};
  std::uint32_t attempt = 0;  // the request's attempt: a submitter drops stale ones
};

// --- messages the pool manager takes ---
struct submit_task {
  task_request task;
};
struct submit_tasks {  // many at once: one message for a batch
  std::vector<task_request> tasks;
};
struct cancel_task {  // the task ends with status cancelled (if it has not ended already)
  std::uint64_t id;
  // > 0: if the task still runs this long after the cancel (it ignores cancelled()), its worker
  // is killed (worker_exit::cancelled). 0: the cancel is only a request to the task.
  std::chrono::milliseconds kill_after{0};
};
// Attempt fencing (one attempt at a time). The pool monitors every task's reply_to: when a
// submitter dies, its queued tasks are dropped and its running ones cancelled, their workers
// killed after worker_options::abandon_grace. fence_task asks the pool to tell `reply_to`
// task_fenced{id} once no task with this id is queued or in a worker any more: a restarted
// submitter (a job process) waits for it before it runs the next attempt, so that the attempt
// its predecessor left behind is gone first.
struct fence_task {
  std::uint64_t id;
  respawn::pid reply_to;
};
struct task_fenced {
  std::uint64_t id;
};
struct reload_workers {};  // hot code upgrade: new workers from the binary's file as it is now
struct pool_stats_request {};  // call() -> pool_stats
struct pool_stats {
  std::size_t workers = 0;   // ready
  std::size_t starting = 0;
  std::size_t retiring = 0;  // old generation, finishing their tasks
  std::size_t queued = 0;    // not yet sent to any worker
  std::size_t in_flight = 0;  // sent to a worker and not done: running, or waiting in a worker
  std::uint64_t generation = 0;  // bumped by every reload
  std::uint64_t workers_started = 0;
  std::uint64_t workers_died = 0;  // ended other than on request
  std::vector<std::string> builds{};  // the build each ready worker reported in its hello
  std::size_t waiting_in_workers = 0;  // sent to a worker behind its running task, not started
  std::uint64_t tasks_recalled = 0;    // recall requests sent (a task may start before it lands)
  std::size_t busy = 0;                // ready workers with a task running
};

struct worker_options {
  std::string binary{};                    // "" : this program (/proc/self/exe's path at start)
  std::vector<std::string> args{"worker"};  // before --fd N --parent PID
  // Every ready worker, idle or busy, is pinged this often; a worker that has sent no frame at all
  // (a pong, or anything else) for heartbeat_timeout after a ping is killed (worker_exit::heartbeat).
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds heartbeat_timeout{5000};
  std::chrono::milliseconds start_timeout{10000};      // hello within this, or start_failed
  std::chrono::milliseconds term_grace{2000};          // SIGTERM, then SIGKILL after this
  std::chrono::milliseconds closed_grace{200};  // after EOF, wait this long for the exit status
  // A task whose submitter died is cancelled; its worker is killed if it still runs after this.
  std::chrono::milliseconds abandon_grace{2000};
};

struct worker_pool_config {
  std::string name{"worker_pool"};  // the manager registers under it; its supervisor as NAME.sup
  worker_options worker{};
  std::size_t min_workers = 2;
  std::size_t max_workers = 8;
  // Tasks sent ahead to one worker: batching is what makes short tasks cheap (64: ~300,000 no-op
  // tasks/s on 2 cores, 16: ~80,000, 1: ~13,000; docs/BENCHMARKS.md). Tasks go to an idle worker
  // first, then behind the least loaded worker's running task, but only while that task has run
  // less than pipeline_stall: a long task gets nothing behind it, and what already waits behind
  // it is recalled when a worker is idle (docs/workers.md).
  std::size_t max_in_flight = 64;
  std::chrono::microseconds pipeline_stall{2000};
  std::chrono::milliseconds idle_timeout{30000};  // an idle worker above min exits after this
  // Fair shares: workers one task group may occupy at once (0: no cap). The engine sets
  // max_workers - 1, so one user's jobs, endless loops included, always leave a worker to others.
  // A task of a group at its cap waits in the queue (other groups' tasks pass it; FIFO within a
  // group). With a cap, a grouped task is sent behind a running task only of its own group.
  std::size_t max_workers_per_group = 0;
  // Workers the pool may start above max_workers for interactive tasks only (session answers):
  // batch tasks never run in more than max_workers workers at once, so an interactive task
  // always finds a worker. With any, tasks are sent behind running tasks only of their own kind.
  std::size_t interactive_workers = 0;
};

struct worker_pool_handle {
  respawn::pid supervisor;  // one_for_all: the workers' dynamic supervisor, then the manager
  respawn::pid manager;     // send submit_task / cancel_task / reload_workers here
};

// Starts the pool's tree under no parent (a root); stop it with rt.exit(supervisor, shutdown).
worker_pool_handle start_worker_pool(runtime& rt, worker_pool_config config);
// The pool as a child of your own supervisor (its manager registers as config.name).
child_spec worker_pool_child_spec(std::string id, worker_pool_config config);

// One worker process owned by one runtime process, for use without a pool: run tasks on it by
// sending run_tasks; it exits with the worker's end as its reason. Its child_spec's shutdown is
// term_grace plus a second.
struct run_tasks {
  std::vector<task_request> tasks;
};
child_spec worker_child_spec(std::string id, worker_options options);
// call() a worker_process with worker_info_request -> worker_info.
struct worker_info_request {};
struct worker_info {
  std::uint32_t os_pid = 0;  // 0 until started
  std::string build{};       // "" until it said hello
  bool ready = false;
  std::size_t in_flight = 0;
};
std::unique_ptr<process> make_worker_process(worker_options options);

// Hot code upgrade on SIGHUP: while it lives, every SIGHUP this program gets sends
// reload_workers to `manager` (a signal handler writes to an eventfd; a thread of its own turns
// that into the message). One at a time per program.
class reload_on_sighup {
 public:
  reload_on_sighup(runtime& rt, respawn::pid manager);
  ~reload_on_sighup();
  reload_on_sighup(const reload_on_sighup&) = delete;
  reload_on_sighup& operator=(const reload_on_sighup&) = delete;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// The path of the running program, resolved once at start (what binary "" means).
const std::string& self_binary_path();

}  // namespace respawn
