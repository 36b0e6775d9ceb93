// runtime_impl: the runtime's internals, shared by its source files (never installed).
// process_ops holds what the runtime does to a process: push to its mailbox, run it for a turn
// (resume), handle runtime signals, and end it (exit) with Erlang's propagation rules.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "mailbox.hpp"
#include "process_extras.hpp"
#include "process_table.hpp"
#include "registry.hpp"
#include "respawn/runtime.hpp"
#include "scheduler.hpp"
#include "timer_service.hpp"

namespace respawn::detail {

enum class resume_outcome { waiting, yielded, exited };

// process::extras_ after the process has ended with none: nobody may make one any more.
inline process_extras* const extras_tombstone = reinterpret_cast<process_extras*>(std::uintptr_t{1});

struct process_ops {
  static push_outcome push(process& p, message* m) noexcept;
  // Runs `p` for at most `budget` messages. Only the scheduler that was handed `p` calls this.
  static resume_outcome resume(process& p, std::uint32_t budget);
  // The process's extras, made if needed; nullptr once it has ended. thread-safe
  static process_extras* extras_if_alive(process& p);
  static void exit(process& p, exit_reason reason);
  static exit_reason stop_reason(process& p);  // what stop() was given
  // The watchdog ends a process whose handler is stuck on another thread (reason hung).
  static void exit_hung(process& p);
  // The owner's side of link, unlink, monitor, demonitor (the other side gets a signal).
  // Safe from another thread too: the owner's lists are under the extras mutex.
  static void link_local(process& p, pid other);
  static void unlink_local(process& p, pid other);
  static monitor_ref monitor_local(process& p, pid other, monitor_ref ref);
  static void demonitor_local(process& p, monitor_ref ref);
  static std::uint32_t mailbox_length(const process& p) noexcept {
    // dequeued_ is read second and may count messages queued after the first read: never wrap.
    std::uint32_t length =
        p.enqueued_.load(std::memory_order_relaxed) - p.dequeued_.load(std::memory_order_relaxed);
    return static_cast<std::int32_t>(length) < 0 ? 0 : length;
  }
  static process_info info(process& p);
  static send_result send_from(process& p, pid to, message* m) { return p.send_message(to, m); }

 private:
  static message* next_message(process& p) noexcept;
  static bool try_wait(process& p) noexcept;
  static bool handle_signal(process& p, message* m);  // false: the process has ended
  static bool deliver(process& p, message* m);        // runs handle(); false: ended by exception
  static void drain_closed(process& p, const exit_reason& reason);
  // Exit signals to links, downs to monitors, demonitors, the name released.
  static void notify_exit(process& p, const exit_reason& reason);
};

// A handler that wants to keep the message it is handling (instead of the runtime destroying it
// when the handler returns) says so; the runtime then owns nothing of it. Used by call waiters
// and scoped processes, which hand messages on to waiting threads.
void keep_current_message(message& m) noexcept;
bool take_kept_message(message* m) noexcept;

// The process the current thread is running, if any (for spawn's parent and call's sender).
process* current_process() noexcept;
void set_current_process(process* p) noexcept;

class runtime_impl {
 public:
  explicit runtime_impl(runtime& owner, runtime_config config);
  ~runtime_impl();

  // Sends `m` (ownership taken) to `to` as `sender`; runtime signals bypass the mailbox bound.
  // thread-safe
  send_result send(pid to, message* m, pid sender);
  // Hands a woken process to whoever runs it: its own thread, or the scheduler. thread-safe
  void wake(process& p);
  // A process starts to end: it no longer counts as live, and sends to it fail (before any
  // exit signal or down goes out, so whoever gets those sees it dead).
  void process_exiting(pid p);
  // The last step of ending: drops the process's own pin (it may be freed right here).
  void process_ended(pid p);
  // The watchdog budget `p` was spawned with (0: the runtime's). thread-safe
  std::chrono::milliseconds handler_budget_of(pid p);
  spawned spawn(std::unique_ptr<process> p, const spawn_options& options, process* parent);
  // Erlang's exit/2: a kill is also flagged so that it overtakes a long mailbox. thread-safe
  void send_exit(pid from, pid to, exit_reason reason);
  void start();
  void shutdown();  // kill everything, wait, stop threads

  monitor_ref new_monitor_ref() noexcept {
    return monitor_ref{next_ref_.fetch_add(1, std::memory_order_relaxed)};
  }
  std::uint64_t new_call_ref() noexcept { return next_ref_.fetch_add(1, std::memory_order_relaxed); }

  runtime& owner;
  const runtime_config config;
  process_table table;
  registry names;
  std::unique_ptr<timer_service> timers;
  std::unique_ptr<scheduler> sched;
  std::atomic<std::size_t> live{0};
  std::atomic<int> dedicated_threads{0};  // see dedicated_runner::start
  // Services of higher layers (runtime::extension), destroyed by shutdown() after every process
  // has ended and the scheduler threads are joined.
  std::mutex extensions_mutex;
  std::map<const void*, std::shared_ptr<void>> extensions;
  // Deterministic mode: the manual clock's scheduler, for step() and run_until_idle().
  class deterministic_scheduler* manual = nullptr;

 private:
  std::atomic<std::uint64_t> next_ref_{1};
};

}  // namespace respawn::detail
