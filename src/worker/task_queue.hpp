// task_queue: the tasks a worker has been sent and not yet finished, shared by the reader thread
// (which pushes tasks and handles cancels) and the executor (which runs them one at a time, in
// the order they came).
//
// A cancel finds its task in one of two places, and both are decided under one lock so that a
// task can never be between them: still queued, it is dropped and answered `cancelled` at once
// (it never runs); running, its cancelled flag is set and the handler sees cancelled(). A cancel
// for a task we no longer hold is ignored: its result is already on the way. A recall (the pool
// moves a task that waits here behind a long one to an idle worker) takes a task only while it
// is still queued, under the same lock: a task is either given back or run, never both.
//
// Bound: the node keeps a bounded number of tasks in flight per worker (its pipeline window), so
// this queue never holds more than that. A node that sends more than max_queued is broken, and
// the worker treats that as a protocol error rather than grow without limit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "frame.hpp"

namespace respawn::detail {

struct queued_task {
  std::uint64_t id = 0;
  wire::task_frame task{};
};

class task_queue {
 public:
  static constexpr std::size_t max_queued = 65'536;

  // thread-safe (reader). False if the queue is full (the node broke its window).
  bool push(queued_task task) {
    {
      std::lock_guard lock{mutex_};
      if (queued_.size() >= max_queued) return false;
      queued_.push_back(std::move(task));
    }
    ready_.notify_one();
    return true;
  }

  enum class cancel_outcome { dropped_from_queue, flagged_running, unknown };

  // thread-safe (reader). Drops a queued task or flags the running one.
  cancel_outcome cancel(std::uint64_t id) {
    std::lock_guard lock{mutex_};
    if (running_ && running_id_ == id) {
      cancelled_.store(true, std::memory_order_relaxed);
      return cancel_outcome::flagged_running;
    }
    for (auto it = queued_.begin(); it != queued_.end(); ++it) {
      if (it->id == id) {
        queued_.erase(it);
        return cancel_outcome::dropped_from_queue;
      }
    }
    return cancel_outcome::unknown;
  }

  // thread-safe (reader). A recall: drops the task if it is still queued (true); false if it
  // runs, has ended or was never here (the node then gets recall_refused, or its result).
  bool recall(std::uint64_t id) {
    std::lock_guard lock{mutex_};
    for (auto it = queued_.begin(); it != queued_.end(); ++it) {
      if (it->id == id) {
        queued_.erase(it);
        return true;
      }
    }
    return false;
  }

  // Executor only. Waits for the next task and marks it running (its cancelled flag cleared).
  queued_task pop() {
    std::unique_lock lock{mutex_};
    ready_.wait(lock, [&] { return !queued_.empty(); });
    queued_task next = std::move(queued_.front());
    queued_.pop_front();
    running_ = true;
    running_id_ = next.id;
    cancelled_.store(false, std::memory_order_relaxed);
    return next;
  }

  // Executor only: the running task's result has been posted.
  void finished() {
    std::lock_guard lock{mutex_};
    running_ = false;
  }

  // thread-safe. Set by the reader while the running task runs; read by its task_context.
  const std::atomic<bool>& cancelled_flag() const noexcept { return cancelled_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<queued_task> queued_;  // guarded by mutex_
  bool running_ = false;            // guarded by mutex_
  std::uint64_t running_id_ = 0;    // guarded by mutex_
  std::atomic<bool> cancelled_{false};
};

}  // namespace respawn::detail
