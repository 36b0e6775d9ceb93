// worker_process: the runtime process that owns one worker OS process (Erlang's port owner).
//
// It starts the worker (through the io_poller), sends it the tasks it is given, turns the
// worker's frames into task_event / task_outcome messages for each task's submitter, enforces
// each task's deadline (SIGKILL when it passes) and the heartbeat (every ready worker, idle or
// busy, is pinged each heartbeat_interval; it is killed only when a ping has had no frame at all
// since it was sent for heartbeat_timeout), and ends with the worker: its exit reason is the worker's end
// ("worker crashed with SIGSEGV", ...), so links, monitors and supervisors see an OS process
// exactly as they see any other process.
//
// Tasks are pipelined: many may sit in the worker's socket, and the worker runs them in order, so
// the first unfinished one is the one running. When the worker dies, that task gets the
// worker_died outcome and the ones behind it, which never started, go back to the pool.
//
// The head (the first unfinished task) is the one the worker runs: task_started goes to its
// submitter when a task becomes the head, before any of its events and its outcome, and never
// for a task that did not. The pool may recall tasks that wait behind a long head (recall_tasks):
// a recalled task that becomes the head before the worker's answer is in doubt (the worker may
// have started it or dropped it), so its task_started waits for that answer: `recalled` (it
// never started: handed back to the pool, nothing to the submitter) or anything else about it
// (recall_refused, an event, its result: it runs).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "io_poller.hpp"
#include "pool_messages.hpp"
#include "respawn/process.hpp"
#include "respawn/worker_pool.hpp"

namespace respawn::detail {

class worker_process final : public process {
 public:
  explicit worker_process(owner_start start);
  ~worker_process() override;

  void init() override;
  void handle(message& m) override;
  void terminate(const exit_reason& reason) override;

 private:
  using clock = std::chrono::steady_clock;

  void on_frames(std::vector<wire::frame>& frames);
  void on_result(const wire::frame& f);
  void send_tasks(std::vector<task_request>& tasks);
  void head_started();
  void begin_head();
  void head_heard(std::uint64_t id);
  void on_recall(const std::vector<std::uint64_t>& ids);
  void heartbeat();
  void kill_for(worker_exit cause, std::string detail);
  void begin_stop(exit_reason reason, bool term);
  void on_exited(int status);
  void fail_in_flight(worker_exit exit, const std::string& text, bool requeue_unstarted);
  std::deque<task_request>::iterator find_task(std::uint64_t id);
  void cancel_in_worker(std::uint64_t id, std::chrono::milliseconds kill_after);

  owner_start start_;
  io_poller* poller_ = nullptr;  // the runtime's; outlives every process
  std::shared_ptr<port> port_;
  std::deque<task_request> in_flight_;
  // Submitters that died (abandon_tasks): their tasks are never handed back to the pool, and
  // the worker is killed if one still runs after abandon_grace. By submitter, not task id: a new
  // submitter may reuse the id (a session's rebuilt process) and must not lose its task.
  std::unordered_set<respawn::pid> abandoned_;
  bool ready_ = false;
  bool exited_ = false;
  bool retiring_ = false;
  bool stopping_ = false;
  bool leaving_ = false;  // waiting for the manager's leave_ack
  exit_reason stop_reason_{};
  worker_exit cause_ = worker_exit::none;
  std::string cause_detail_;
  clock::time_point last_heard_{};
  bool ping_outstanding_ = false;  // a ping sent at ping_sent_at_ has had no frame since
  clock::time_point ping_sent_at_{};
  clock::time_point head_since_{};  // when the current head started (for the pool's dispatch)
  std::unordered_set<std::uint64_t> recalling_;  // recall frames sent, no answer yet
  bool head_deferred_ = false;  // the head is in recalling_: started or given back, not known yet
  std::unordered_set<std::uint64_t> cancel_sent_;  // a recalled one is answered cancelled
  std::uint64_t deadline_serial_ = 0;
  std::uint32_t os_pid_ = 0;
  std::string build_;
};

// The exit reason and worker_exit for a worker's wait status, given what its owner did to it.
struct worker_end {
  worker_exit exit;
  std::string text;  // "worker crashed with SIGSEGV", ...
};
worker_end describe_worker_end(int status, worker_exit cause, const std::string& cause_detail);

}  // namespace respawn::detail
