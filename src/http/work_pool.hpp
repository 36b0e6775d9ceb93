// work_pool: the server's handler threads. Route handlers block (an engine call waits for a
// durable commit; a store read may wait for SQLite), and a blocked Asio thread would stall every
// connection it serves, so blocking work goes here and its answer is posted back to the
// connection's strand. The queue is bounded (STYLE.md: every queue has a stated bound): when it is
// full, try_post says no and the server answers 503 at once instead of queueing without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace respawn::http {

class work_pool {
 public:
  work_pool(std::size_t threads, std::size_t queue_max);
  ~work_pool();  // stop()
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;

  // false: the queue is full, or the pool is stopping. thread-safe.
  bool try_post(std::function<void()> task);
  // Lets the running tasks finish, drops the queued ones, joins the threads. Idempotent.
  void stop();

 private:
  void run();

  const std::size_t queue_max_;
  std::mutex mutex_{};
  std::condition_variable wake_{};
  std::deque<std::function<void()>> queue_{};
  bool stopping_ = false;
  std::vector<std::thread> threads_{};
};

}  // namespace respawn::http
