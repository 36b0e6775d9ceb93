// scheduler: what runs runnable processes. Two implementations: thread_scheduler (worker threads,
// one per core by default) and deterministic_scheduler (no threads; a test steps it).
// A process is handed to schedule() exactly once per wake-up: the sender whose message ended the
// process's wait (see mailbox.hpp), or spawn for a new process. That is what guarantees that
// no process ever runs on two threads at once.
#pragma once

#include <cstdint>

namespace respawn {
class process;
}

namespace respawn::detail {

class scheduler {
 public:
  virtual ~scheduler() = default;
  // Makes `p` runnable. thread-safe
  virtual void schedule(process* p) = 0;
  // The calling thread, a worker running a handler, is about to block (a call() from inside a
  // process): hand what it would run next to other workers.
  virtual void before_blocking() {}
  // Called once the runtime is fully built.
  virtual void start() = 0;
  // Stops the worker threads (after every process has ended).
  virtual void stop() = 0;
  virtual unsigned threads() const noexcept = 0;
};

}  // namespace respawn::detail
