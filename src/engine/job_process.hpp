// job_process: one live job as a process (DESIGN.md §4: "a job's live state is an actor; it can
// always be rebuilt from the log"). It holds the job's folded state and logs before it acts:
//
//   run_attempt   -> send the task to the worker pool (attempt = attempts + 1)
//   task_started  -> log `claimed`: the attempt counts once its task runs in a worker
//   task events   -> log progress / output / snapshot
//   task outcome  -> log succeeded | attempt_failed (retry_at) | dead | cancelled -> (durable)
//                 -> tell the dispatcher; wait for the retry or stop
//
// Each event is applied to the local state first (jobs::apply checks it), then appended; the
// action that depends on it runs when the store says it committed. A transient store failure
// (busy, disk full, I/O error) is retried here with exponential backoff: the failed append and
// every one after it are sent again, in order, once the earlier sends have all been answered
// (a restart would only write again at once, a crash storm that takes the engine's tree down).
// Any other failed append crashes the process: its supervisor starts it again from the job's
// state in the store, which is the truth.
// A job found `running` at start (the node or this process died mid-attempt) has lost that
// attempt: it is logged as failed and retried (from the latest snapshot) or declared dead. A job
// found `queued` simply runs again: its task, if it had been sent, never started (no `claimed`),
// so no attempt was used. Either way a process that is not the job's first (a restart, or a
// recovery by a new dispatcher while the pool lived on) waits for the pool's task_fenced
// (fence_task) before it submits: its predecessor's task may still be in the pool, and one
// attempt at a time is the rule. A task the pool gives back unstarted (worker_died, e.g. a
// stopping pool) costs nothing: the job stays queued and returns to the dispatcher's queue.
// Outcomes and events carry their attempt number; a stale one is dropped.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "engine_messages.hpp"
#include "respawn/process.hpp"

namespace respawn::engine::detail {

class job_process final : public process {
 public:
  // fresh: `start` holds the job's state as just submitted or recovered (else read the store);
  // run: the dispatcher already dispatched it: claim it at once.
  job_process(job_start start, bool fresh, bool run)
      : s_{std::move(start)}, fresh_{fresh}, run_{run}, fence_before_run_{!fresh || s_.recovered} {}

  void init() override;
  void handle(message& m) override;

 private:
  bool load();   // reads the job from the store; false: a transient failure, retried later
  void begin();  // acts on the state it has: fence, claim, tell the dispatcher, retry, stop
  void log(jobs::event e, std::function<void()> then);
  std::uint64_t next_sequence() const { return s_.state.last_sequence + 1; }
  void start_attempt();
  void on_started(const task_started& st);
  void on_outcome(const task_outcome& o);
  void log_progress(nlohmann::json value);
  void flush_progress();
  void fail_attempt(const std::string& error, bool was_in_queue);
  void finish(jobs::event e, bool was_in_queue);
  void schedule_retry();
  void send_append(const jobs::event& e, std::uint64_t tag);
  void on_append_done(const append_done& done);
  void resend_appends();

  job_start s_;
  bool fresh_;
  bool run_;
  bool attempt_in_worker_ = false;  // the task was sent to the pool and has no outcome yet
  bool attempt_started_ = false;    // ... and it started in a worker (task_started: `claimed`)
  std::uint32_t attempt_in_pool_ = 0;  // the attempt number it was sent with
  bool fence_before_run_;           // fence before the first submit: a predecessor may have one
  bool fenced_ = true;              // no task of an earlier incarnation can still run
  bool outputs_dropped_ = false;    // engine_config::outputs_max reached (said once on stderr)
  bool claim_waiting_ = false;      // asked to run before the fence came back
  timer_ref retry_timer_{};
  // Progress coalescing (engine_config::progress_interval): the latest report not yet logged,
  // when the last one was, and the timer that logs the pending one.
  std::optional<nlohmann::json> pending_progress_{};
  std::chrono::steady_clock::time_point progress_logged_at_{};
  timer_ref progress_timer_{};
  std::uint64_t next_tag_ = 1;
  std::map<std::uint64_t, std::function<void()>> on_commit_;
  // Appends not yet committed, in order (what a store retry sends again), and how many sends
  // the store has not answered yet.
  struct unconfirmed {
    std::uint64_t tag;
    jobs::event event;
  };
  std::deque<unconfirmed> unconfirmed_;
  std::size_t in_store_ = 0;
  bool store_retrying_ = false;  // a transient failure: sends wait for the retry timer
  bool store_failed_ = false;    // failed since the last success: the next success is news
  std::chrono::milliseconds store_backoff_{0};
};

}  // namespace respawn::engine::detail
