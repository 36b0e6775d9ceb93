// thread_scheduler: N worker threads (default: one per core) share the runnable processes.
//
// Each worker has a run queue of its own (FIFO, under a spinlock that only it and thieves take)
// and a `run_next` slot, as in Go's scheduler: the process woken by a message sent from the
// process now running goes to run_next and runs right after it, on the same core, with its
// mailbox still in cache. That keeps request/reply pairs (pingpong) and token passing (ring) on
// one thread without any cross-thread wake-up. run_next cannot be stolen, and it gives way to the
// queue after `messages_per_turn` consecutive uses so two chatty processes cannot starve the
// others. Idle workers steal half of another worker's queue, spin briefly, then sleep; a worker
// that queues stealable work wakes a sleeper only if one is sleeping and none is spinning.
// Threads that are not workers (main, timers) hand processes over through a shared injection
// queue. There is no global lock on the send path.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler.hpp"

namespace respawn::detail {

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
  thread_scheduler(unsigned threads, std::uint32_t messages_per_turn);
  ~thread_scheduler() override;

  void schedule(process* p) override;
  void before_blocking() override;
  void start() override;
  void stop() override;
  unsigned threads() const noexcept override { return static_cast<unsigned>(workers_.size()); }

 private:
  struct alignas(64) worker {
    thread_scheduler* owner = nullptr;
    unsigned index = 0;
    spinlock lock;
    std::deque<process*> queue;          // under lock
    std::atomic<std::size_t> queued{0};  // queue.size(), readable without the lock
    process* run_next = nullptr;         // this worker's thread only
    std::uint32_t run_next_streak = 0;
    std::thread thread;
  };

  void run(worker& w);
  process* find_work(worker& w);
  process* steal(worker& thief);
  process* take_injected();
  void push_local(worker& w, process* p);
  void wake_one();
  void idle(worker& w);
  bool work_visible() const noexcept;

  const std::uint32_t messages_per_turn_;
  std::vector<std::unique_ptr<worker>> workers_;

  std::mutex inject_mutex_;
  std::deque<process*> injected_;  // under inject_mutex_
  std::atomic<std::size_t> injected_count_{0};

  std::atomic<int> spinning_{0};
  std::atomic<int> sleeping_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
  int wake_tokens_ = 0;  // under sleep_mutex_
  std::atomic<bool> stopping_{false};
};

}  // namespace respawn::detail
