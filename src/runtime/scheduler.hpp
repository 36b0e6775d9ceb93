// scheduler: what runs runnable processes. Two implementations: thread_scheduler (worker threads,
// one per core by default) and deterministic_scheduler (no threads; a test steps it).
// A process is handed to schedule() exactly once per wake-up: the sender whose message ended the
// process's wait (see mailbox.hpp), or spawn for a new process. That is what guarantees that
// no process ever runs on two threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace respawn {
class process;
}

namespace respawn::detail {

// What a scheduler thread shows the watchdog, and how the two agree on who owns a stuck
// handler. `handler` is (handler count << 1 | 1) while a handler runs, (count << 1) between
// handlers. The thread sets it with a plain store on entry and leaves with a CAS; the watchdog
// abandons the thread with a CAS from the value it saw standing still to `handler_abandoned`.
// Exactly one CAS wins, so either the handler returned in time and nothing happens, or it did
// not and its thread will never touch its process again (one uncontended CAS per message).
inline constexpr std::uint64_t handler_abandoned = ~std::uint64_t{0};

struct worker_signals {
  std::atomic<std::uint64_t> handler{0};
  std::atomic<std::uint64_t> running{0};  // the pid being run, packed; 0 when none
  std::atomic<bool> abandoned{false};     // mirror of handler == handler_abandoned, cheap to test
  std::uint64_t count = 0;                // the owning thread's handler count
};
inline thread_local worker_signals* current_signals = nullptr;

// A handler starts on this thread.
inline void handler_enter() noexcept {
  if (worker_signals* s = current_signals) {
    ++s->count;
    // release: the watchdog that abandons this handler (its CAS reads this value) then sees the
    // process as this thread left it (exit_hung reads its mailbox cache). Free on x86.
    s->handler.store((s->count << 1) | 1, std::memory_order_release);
  }
}
// A handler returned (or threw). false: the watchdog abandoned this thread meanwhile; the
// process was ended as hung and must not be touched again.
inline bool handler_exit() noexcept {
  if (worker_signals* s = current_signals) {
    std::uint64_t running = (s->count << 1) | 1;
    return s->handler.compare_exchange_strong(running, s->count << 1, std::memory_order_acq_rel,
                                              std::memory_order_acquire);
  }
  return true;
}

// True when the current thread was replaced by the watchdog: whatever it sends is dropped.
inline bool current_thread_abandoned() noexcept {
  worker_signals* s = current_signals;
  return s != nullptr && s->abandoned.load(std::memory_order_relaxed);
}

inline std::uint64_t pack_pid(std::uint32_t index, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | index;
}

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
  // A process was spawned with a handler budget of its own: the watchdog must look at least
  // that often. thread-safe
  virtual void handler_budget_hint(std::chrono::milliseconds /*budget*/) {}
};

}  // namespace respawn::detail
