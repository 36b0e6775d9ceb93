// thread_scheduler: N worker threads (default: one per core) share the runnable processes, and a
// watchdog replaces any of them that a runaway handler holds.
//
// Each worker has a run queue of its own (FIFO, under a spinlock that only it and thieves take)
// and a `run_next` slot, as in Go's scheduler: the process woken by a message sent from the
// process now running goes to run_next and runs right after it, on the same core, with its
// mailbox still in cache. That keeps request/reply pairs (pingpong) and token passing (ring) on
// one thread without any cross-thread wake-up. run_next cannot be stolen, and it gives way to the
// queue after `messages_per_turn` consecutive uses so two chatty processes cannot starve the
// others. Idle workers steal half of another worker's queue, spin briefly (at most one at a time,
// for an adaptive time), then sleep; a thread that queues stealable work wakes a sleeper only if
// one is sleeping and none is spinning.
// Threads that are not workers (main, timers) hand processes over through a shared injection
// queue. There is no global lock on the send path.
//
// Watchdog (C++ cannot preempt a thread): a thread samples every worker's tick count a few times
// per budget. A worker whose current handler has run past its budget is abandoned: its process
// exits with reason `hung` (links, monitors and supervisors react as to any exit), a replacement
// worker starts at once so the number of threads able to serve never drops, and the stuck thread
// retires when (if ever) its handler returns, its sends dropped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler.hpp"

namespace respawn::detail {

class runtime_impl;

// A test-and-test-and-set lock: the run queues are held for a few instructions at a time.
class spinlock {
 public:
  void lock() noexcept;
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class thread_scheduler final : public scheduler {
 public:
  thread_scheduler(runtime_impl& rt, unsigned threads, std::uint32_t messages_per_turn,
                   std::chrono::milliseconds handler_budget);
  ~thread_scheduler() override;

  void schedule(process* p) override;
  void before_blocking() override;
  void start() override;
  void stop() override;
  // Threads able to serve (replaced ones are not counted).
  unsigned threads() const noexcept override { return threads_; }
  void handler_budget_hint(std::chrono::milliseconds budget) override;

 private:
  static constexpr unsigned max_workers = 256;

  struct alignas(64) worker {
    thread_scheduler* owner = nullptr;
    unsigned index = 0;
    worker_signals signals;
    spinlock lock;
    std::deque<process*> queue;          // under lock
    std::atomic<std::size_t> queued{0};  // queue.size(), readable without the lock
    std::atomic<process*> run_next{nullptr};  // the owner's; the watchdog takes it when abandoning
    std::uint32_t run_next_streak = 0;
    int spin_rounds = 1024;  // the owner's: how long its next idle spin lasts (adaptive, see idle())
    std::uint64_t hung_pid = 0;  // abandoned: the pid the watchdog pinned for us to unpin
    // Abandoned only: 0 while the handler is stuck, 1 once its thread claimed its retirement
    // (stop() must join it: it is still using this worker), 2 once stop() gave up on it (detached).
    std::atomic<int> exit_state{0};
    std::thread thread;
    // The watchdog's last look at this worker.
    std::uint64_t seen_handler = 0;
    std::chrono::steady_clock::time_point seen_since{};
  };

  void run(worker& w);
  void retire(worker& w);
  process* find_work(worker& w);
  process* steal(worker& thief);
  process* take_injected();
  void inject(process* p);
  void push_local(worker& w, process* p);
  void wake_one();
  void idle(worker& w);
  bool work_visible() const noexcept;
  unsigned worker_count() const noexcept { return count_.load(std::memory_order_acquire); }
  worker* add_worker();
  void watch();
  void abandon(worker& w, std::uint64_t handler);

  runtime_impl& rt_;
  const std::uint32_t messages_per_turn_;
  const std::chrono::milliseconds handler_budget_;
  // The shortest budget of any process so far (at most handler_budget_): sets how often the
  // watchdog looks, so that a process's own shorter budget is enforced in time.
  std::atomic<std::int64_t> shortest_budget_ms_;
  std::array<std::unique_ptr<worker>, max_workers> workers_;  // fixed: added to, never moved
  std::atomic<unsigned> count_{0};
  std::atomic<unsigned> threads_{0};
  std::mutex add_mutex_;  // adding a worker

  std::mutex inject_mutex_;
  std::deque<process*> injected_;  // under inject_mutex_
  std::atomic<std::size_t> injected_count_{0};

  std::atomic<int> spinning_{0};
  std::atomic<int> sleeping_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
  int wake_tokens_ = 0;  // under sleep_mutex_
  std::atomic<bool> stopping_{false};

  std::thread watchdog_;
  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_cv_;
};

}  // namespace respawn::detail
