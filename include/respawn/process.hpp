// process: the base class of every Respawn process (actor). Subclass it, keep your state in
// members, and handle one message at a time in handle(); the runtime never runs two handlers of
// the same process at once, so the state needs no locks. An exception that escapes init() or
// handle() ends this process only, with exit_reason::error(type, what()); its destructors run.
//
// The member functions below act on behalf of this process: call them only from its own init(),
// handle() or terminate() (they are not thread-safe). From other threads use respawn::runtime.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "respawn/exit_reason.hpp"
#include "respawn/message.hpp"
#include "respawn/pid.hpp"
#include "respawn/snapshot.hpp"

namespace respawn {

class runtime;
class process;

namespace detail {
class runtime_impl;
struct process_extras;
struct process_ops;
}  // namespace detail

enum class send_result : std::uint8_t {
  ok,            // in the receiver's mailbox
  noproc,        // the receiver is dead (or never existed); the message was dropped
  mailbox_full,  // the receiver's mailbox is at its bound; the message was dropped
};

struct spawn_options {
  std::string name{};               // register under this name (spawn fails if it is taken)
  bool link = false;                // link the new process to its parent (spawner)
  bool monitor = false;             // the parent monitors the new process
  bool trap_exit = false;           // start trapping exits
  std::uint32_t mailbox_bound = 0;  // 0: unbounded; else sends past the bound are refused
  // The watchdog declares the process hung when one handler runs longer than this
  // (0: runtime_config::handler_budget).
  std::chrono::milliseconds handler_budget{0};
  // Run on a thread of its own, for a process whose handlers may block or run long; the
  // watchdog leaves it alone.
  bool dedicated_thread = false;
  // Acknowledged start (OTP's proc_lib:init_ack): when set, the new process sends
  // start_ack{its pid} here once its init() has returned -- or, if init() called
  // defer_start_ack(), when it calls ack_start() (a supervisor does, once its own children have
  // started). A process whose init throws sends nothing: it exits.
  respawn::pid ack_to{};
};

// See spawn_options::ack_to.
struct start_ack {
  respawn::pid pid;
};

// What spawn returns: the new pid, and the monitor reference when spawn_options::monitor was set.
struct spawned {
  respawn::pid pid;
  monitor_ref monitor;
  operator respawn::pid() const noexcept { return pid; }  // NOLINT: a spawned *is* its pid
};

// Thrown by spawn for a request that cannot be carried out (a taken name, link without a parent).
class spawn_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class process {
 public:
  process() = default;
  virtual ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  // --- behaviour: override these ---
  // Runs in the process, before its first message.
  virtual void init() {}
  // Runs for every message, one at a time.
  virtual void handle(message& m) = 0;
  // Runs as the process ends, for any reason but killed (a kill runs no more code of yours).
  virtual void terminate(const exit_reason& /*reason*/) {}

  // --- acting as this process (owner only) ---
  respawn::pid self() const noexcept { return self_; }
  respawn::pid parent() const noexcept { return parent_; }
  respawn::runtime& system() const noexcept;

  template <class T>
  send_result send(respawn::pid to, T&& value) {
    return send_message(to, detail::make_message<std::decay_t<T>>(std::forward<T>(value)));
  }
  // Answers a call: `request` is the message handle() was given.
  template <class T>
  send_result reply(const message& request, T&& value) {
    message* m = detail::make_message<std::decay_t<T>>(std::forward<T>(value));
    m->ref_ = request.call_ref();
    return send_message(request.sender(), m);
  }

  template <class P, class... Args>
  spawned spawn(const spawn_options& options, Args&&... args) {
    return spawn_child(std::make_unique<P>(std::forward<Args>(args)...), options);
  }
  // Spawns an already constructed process (what supervisors do with a child_start's result).
  spawned spawn_owned(std::unique_ptr<process> child, const spawn_options& options) {
    return spawn_child(std::move(child), options);
  }
  // Answers a call later: keep m.sender() and m.call_ref() of the request, reply when ready.
  template <class T>
  send_result reply_to(respawn::pid caller, std::uint64_t call_ref, T&& value) {
    message* m = detail::make_message<std::decay_t<T>>(std::forward<T>(value));
    m->ref_ = call_ref;
    return send_message(caller, m);
  }
  template <class P, class... Args>
  spawned spawn_link(Args&&... args) {
    spawn_options options;
    options.link = true;
    return spawn_child(std::make_unique<P>(std::forward<Args>(args)...), options);
  }

  // Links are bidirectional: if either process ends abnormally, the other gets an exit signal.
  void link(respawn::pid other);
  void unlink(respawn::pid other);
  // A monitor is one-way: when `other` ends, this process gets a `down` message.
  monitor_ref monitor(respawn::pid other);
  // After demonitor, no `down` for `ref` is delivered (it is flushed if already queued).
  void demonitor(monitor_ref ref);

  // With trap_exit, exit signals (but kill) arrive as `exit_signal` messages instead of ending
  // this process.
  void trap_exit(bool on) noexcept { trap_exit_.store(on, std::memory_order_relaxed); }
  bool trapping_exits() const noexcept { return trap_exit_.load(std::memory_order_relaxed); }

  // Acknowledged start (spawn_options::ack_to): called in init(), holds the acknowledgement
  // back until ack_start(). Both do nothing for a process spawned without ack_to.
  void defer_start_ack();
  void ack_start();

  // Ends this turn once the current handler returns: the process goes to the back of the run
  // queue (if it has mail) so that others run first (Erlang's erlang:yield/0).
  void yield() noexcept { yield_requested_ = true; }
  // Ends this process with `reason` once the current handler returns.
  void stop(exit_reason reason = exit_reason::normal());
  // Sends an exit signal to another process (Erlang's exit/2).
  void exit(respawn::pid to, exit_reason reason);

  // Sends `value` to this process after `delay`. The timer dies with the process.
  template <class T>
  timer_ref send_after(std::chrono::milliseconds delay, T&& value) {
    return send_after_message(delay, detail::make_message<std::decay_t<T>>(std::forward<T>(value)));
  }
  bool cancel_timer(timer_ref ref);

  // Hands the runtime a recovery snapshot of this process's state; the latest one is given to
  // the start function of the replacement if this process crashes under a supervisor.
  template <class T>
  void save_snapshot(T state) {
    save_snapshot_value(snapshot::of(std::move(state)));
  }
  void save_snapshot_value(snapshot s);

 private:
  friend struct detail::process_ops;
  friend class detail::runtime_impl;

  send_result send_message(respawn::pid to, message* m);
  spawned spawn_child(std::unique_ptr<process> child, const spawn_options& options);
  timer_ref send_after_message(std::chrono::milliseconds delay, message* m);

  // Mailbox: a lock-free LIFO stack that senders push onto with one CAS (two sentinel values
  // mean "waiting, schedule me" and "closed"), and a FIFO cache the owner drains in order.
  std::atomic<message*> inbox_{nullptr};
  message* cache_ = nullptr;
  std::atomic<std::uint32_t> enqueued_{0};  // senders add; wraps, compared by difference
  std::atomic<std::uint32_t> dequeued_{0};  // owner only writes
  std::uint32_t mailbox_bound_ = 0;
  std::atomic<std::uint8_t> state_{0};     // detail::process_state
  std::atomic<bool> kill_requested_{false};
  std::atomic<bool> trap_exit_{false};  // atomic only so that introspection may read it
  bool started_ = false;
  bool stop_requested_ = false;
  bool yield_requested_ = false;
  bool dedicated_ = false;  // runs on its own thread (extras hold the runner)
  respawn::pid self_{};
  respawn::pid parent_{};
  std::atomic<std::uint64_t> handled_{0};  // owner only writes
  detail::runtime_impl* rt_ = nullptr;
  std::atomic<detail::process_extras*> extras_{nullptr};  // links, monitors, name: made on first use
};

namespace detail {
// A process whose behaviour is a callable: void(process& self, message& m).
template <class F>
class fn_process final : public process {
 public:
  explicit fn_process(F f) : f_{std::move(f)} {}
  void handle(message& m) override { f_(static_cast<process&>(*this), m); }

 private:
  F f_;
};
}  // namespace detail

}  // namespace respawn
