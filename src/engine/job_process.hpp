// job_process: one live job as a process (DESIGN.md §4: "a job's live state is an actor; it can
// always be rebuilt from the log"). It holds the job's folded state and logs before it acts:
//
//   run_attempt   -> log `claimed` -> (durable) -> send the task to the worker pool
//   task events   -> log progress / output / snapshot
//   task outcome  -> log succeeded | attempt_failed (retry_at) | dead | cancelled -> (durable)
//                 -> tell the dispatcher; wait for the retry or stop
//
// Each event is applied to the local state first (jobs::apply checks it), then appended; the
// action that depends on it runs when the store says it committed. A failed append crashes the
// process: its supervisor starts it again from the job's state in the store, which is the truth.
// A job found `running` at start (the node or this process died mid-attempt) has lost that
// attempt: it is logged as failed and retried (from the latest snapshot) or declared dead.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "engine_messages.hpp"
#include "respawn/process.hpp"

namespace respawn::engine::detail {

class job_process final : public process {
 public:
  // fresh: `start` holds the job's state as just submitted or recovered (else read the store);
  // run: the dispatcher already dispatched it: claim it at once.
  job_process(job_start start, bool fresh, bool run) : s_{std::move(start)}, fresh_{fresh}, run_{run} {}

  void init() override;
  void handle(message& m) override;

 private:
  void log(jobs::event e, std::function<void()> then);
  std::uint64_t next_sequence() const { return s_.state.last_sequence + 1; }
  void start_attempt();
  void on_outcome(const task_outcome& o);
  void fail_attempt(const std::string& error, bool was_in_queue);
  void finish(jobs::event e, bool was_in_queue);
  void schedule_retry();

  job_start s_;
  bool fresh_;
  bool run_;
  bool attempt_in_worker_ = false;  // the task was sent to the pool and has no outcome yet
  timer_ref retry_timer_{};
  std::uint64_t next_tag_ = 1;
  std::map<std::uint64_t, std::function<void()>> on_commit_;
};

}  // namespace respawn::engine::detail
