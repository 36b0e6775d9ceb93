// timer_service: send_after and cancel. One ordered set of deadlines under a mutex, fired either
// by a timer thread (threaded mode) or by advance() on a manual clock (deterministic mode).
// A timer's message goes to a pid; if that process has ended by then, the send fails and the
// message is dropped, so a dead process's timers never fire into anything (a pid's generation
// guarantees a newer process in the same slot is not reached either).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "respawn/message.hpp"
#include "respawn/pid.hpp"

namespace respawn::detail {

class runtime_impl;

class timer_service {
 public:
  using clock = std::chrono::steady_clock;

  timer_service(runtime_impl& rt, bool manual);
  ~timer_service();  // drops pending timers' messages

  void start();  // threaded mode: starts the timer thread
  void stop();

  // All thread-safe.
  timer_ref add(pid to, std::chrono::milliseconds delay, message* m);
  bool cancel(timer_ref ref);
  clock::time_point now() const;
  // Manual clock: moves time and fires what is due, in deadline order.
  void advance(std::chrono::milliseconds by);
  // Manual clock: the earliest pending deadline.
  std::optional<clock::time_point> next_deadline() const;
  // Manual clock: moves time to `t` (not backwards), firing what is due.
  void advance_to(clock::time_point t);

 private:
  struct entry {
    pid to;
    message* msg;
    std::multimap<clock::time_point, std::uint64_t>::iterator at;
  };
  void fire_due();  // sends every timer whose deadline has passed
  void run();       // the timer thread

  runtime_impl& rt_;
  const bool manual_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::multimap<clock::time_point, std::uint64_t> deadlines_;
  std::unordered_map<std::uint64_t, entry> entries_;
  std::uint64_t next_id_ = 1;
  clock::time_point manual_now_{};
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace respawn::detail
