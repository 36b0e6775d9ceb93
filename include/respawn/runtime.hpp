// runtime: one actor system. It owns the process table, the schedulers, the registry of names
// and the timers. Everything here is thread-safe unless marked "deterministic mode only".
//
// Two modes:
//  - threaded (default): `scheduler_threads` worker threads (default: one per core) run processes;
//  - deterministic: no threads at all. The test's thread steps the system by hand (step(),
//    run_until_idle()) and moves a manual clock (advance()), so runtime tests never sleep and a
//    run is reproducible. Blocking helpers (call, scoped_process::receive) drive the system
//    themselves in this mode and, when nothing is runnable, jump the clock to the next timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "respawn/message.hpp"
#include "respawn/pid.hpp"
#include "respawn/process.hpp"
#include "respawn/result.hpp"

namespace respawn {

namespace detail {
class runtime_impl;
class call_state;
}  // namespace detail

struct runtime_config {
  unsigned scheduler_threads = 0;      // 0: one per core
  bool deterministic = false;          // see the top of this file
  std::uint32_t messages_per_turn = 64;  // a busy process yields after this many messages
  // The watchdog: a handler that runs longer than this has its process declared hung (reason
  // hung) and its scheduler thread replaced. 0 turns the watchdog off. Threaded mode only.
  std::chrono::milliseconds handler_budget{10000};
  // Supervisors log a crash report for every abnormal exit of a child (OTP's SASL reports).
  bool crash_reports = true;
  // Where crash reports and other runtime log lines go; empty: standard error. thread-safe calls.
  std::function<void(std::string_view line)> log{};
};

enum class process_state : std::uint8_t { runnable, running, waiting, exiting };
const char* to_string(process_state s) noexcept;

// A snapshot of one live process (see runtime::processes()).
struct process_info {
  respawn::pid pid;
  std::string name;  // registered name, or ""
  respawn::pid parent;
  std::uint32_t mailbox_length = 0;
  std::uint64_t messages_handled = 0;
  process_state state = process_state::runnable;
  bool trap_exit = false;
  std::vector<respawn::pid> links;
  std::vector<respawn::pid> monitors;      // processes this one monitors
  std::vector<respawn::pid> monitored_by;  // processes that monitor this one
};

// The pending reply of call_async(); get() waits for it.
template <class R>
class call_future {
 public:
  bool ready() const;
  // Waits for the reply, the callee's exit or the timeout.
  result<R> get();

 private:
  friend class runtime;
  explicit call_future(std::shared_ptr<detail::call_state> s) : state_{std::move(s)} {}
  std::shared_ptr<detail::call_state> state_;
};

class runtime {
 public:
  explicit runtime(runtime_config config = {});
  // Kills every process that is still alive, waits for them to end, stops the threads.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // --- processes ---
  // rt.spawn<P>({}, args...) constructs P(args...) and runs it; options may name, link, monitor.
  template <class P, class... Args>
  spawned spawn(const spawn_options& options, Args&&... args) {
    return spawn_process(std::make_unique<P>(std::forward<Args>(args)...), options);
  }
  // Runs an already constructed process (a child_start's result, make_worker_process's).
  spawned spawn_owned(std::unique_ptr<process> p, const spawn_options& options = {}) {
    return spawn_process(std::move(p), options);
  }
  // A process whose behaviour is a callable: void(process& self, message& m).
  template <class F>
  spawned spawn_fn(const spawn_options& options, F f) {
    return spawn_process(std::make_unique<detail::fn_process<F>>(std::move(f)), options);
  }
  template <class F>
  spawned spawn_fn(F f) {
    return spawn_fn(spawn_options{}, std::move(f));
  }

  // Sends from outside any process (the message's sender is a null pid).
  template <class T>
  send_result send(pid to, T&& value) {
    return send_message(to, detail::make_message<std::decay_t<T>>(std::forward<T>(value)));
  }
  // Erlang's exit/2 from outside any process.
  void exit(pid to, exit_reason reason);
  bool alive(pid p) const;

  // --- call: request and reply, with a timeout. A callee that dies fails the call at once. ---
  template <class R, class T>
  result<R> call(pid to, T&& request, std::chrono::milliseconds timeout) {
    return call_async<R>(to, std::forward<T>(request), timeout).get();
  }
  template <class R, class T>
  call_future<R> call_async(pid to, T&& request, std::chrono::milliseconds timeout) {
    return call_future<R>{
        start_call(to, detail::make_message<std::decay_t<T>>(std::forward<T>(request)), timeout)};
  }

  // --- registry: a name is released when its process ends ---
  // false if the name is taken, the process already has a name, or it is dead.
  bool register_name(const std::string& name, pid p);
  bool unregister_name(const std::string& name);
  pid whereis(const std::string& name) const;  // null pid if none

  // --- timers ---
  template <class T>
  timer_ref send_after(pid to, std::chrono::milliseconds delay, T&& value) {
    return send_after_message(to, delay, detail::make_message<std::decay_t<T>>(std::forward<T>(value)));
  }
  // true if the timer was pending (its message will never be sent).
  bool cancel_timer(timer_ref ref);

  // --- introspection ---
  std::vector<process_info> processes() const;
  std::optional<process_info> info(pid p) const;
  std::size_t process_count() const noexcept;
  unsigned scheduler_threads() const noexcept;
  bool deterministic() const noexcept;

  // --- deterministic mode only ---
  // Runs one runnable process for one message (or its init). false if nothing was runnable.
  bool step();
  // Steps until nothing is runnable; returns the number of steps.
  std::size_t run_until_idle();
  // Moves the manual clock forward, firing due timers (their messages become deliverable).
  void advance(std::chrono::milliseconds by);
  // Injects an exit signal, as if exit(pid, reason) were called (same as exit()).
  void inject_exit(pid to, exit_reason reason) { exit(to, std::move(reason)); }
  // Time on the runtime's clock (manual in deterministic mode, steady otherwise).
  std::chrono::steady_clock::time_point now() const;

  // Writes one line to the configured log (runtime_config::log). thread-safe
  // A runtime-wide service of a higher layer (the worker layer's I/O poller), made by `make` on
  // first use for `key` and kept until the runtime is destroyed: after every process has ended
  // and the scheduler threads are joined, so a service's own threads may send into the runtime
  // for as long as it exists. Thread-safe.
  std::shared_ptr<void> extension(const void* key, const std::function<std::shared_ptr<void>()>& make);
  template <class T>
  T& extension(const std::function<std::shared_ptr<T>()>& make) {
    static const char key = 0;
    return *static_cast<T*>(extension(&key, [&] { return std::shared_ptr<void>{make()}; }).get());
  }

  void log(std::string_view line) const;
  const runtime_config& config() const noexcept;

  detail::runtime_impl& impl() noexcept { return *impl_; }

 private:
  spawned spawn_process(std::unique_ptr<process> p, const spawn_options& options);
  send_result send_message(pid to, message* m);
  timer_ref send_after_message(pid to, std::chrono::milliseconds delay, message* m);
  std::shared_ptr<detail::call_state> start_call(pid to, message* request, std::chrono::milliseconds timeout);

  std::unique_ptr<detail::runtime_impl> impl_;
};

namespace detail {
// The shared state of one call(): filled by the runtime, read by call_future.
class call_state {
 public:
  virtual ~call_state() = default;
  virtual bool ready() const = 0;
  // Waits (driving the system in deterministic mode); then either a reply or an error.
  virtual message_ptr wait(call_error& error) = 0;
};
}  // namespace detail

template <class R>
bool call_future<R>::ready() const {
  return state_->ready();
}

template <class R>
result<R> call_future<R>::get() {
  call_error error;
  message_ptr reply = state_->wait(error);
  if (!reply) return error;
  if (R* value = reply->get_if<R>()) return std::move(*value);
  error.what = call_error::code::bad_reply;
  error.reply_type = reply->type_name();
  return error;
}

struct scoped_inbox;

// A process owned by a thread that is not a process (a test, main()): it has a pid, can be sent
// to, link and monitor, and its thread takes messages out with receive(). CAF's scoped_actor.
class scoped_process {
 public:
  explicit scoped_process(runtime& rt);
  // Ends the process (reason normal).
  ~scoped_process();
  scoped_process(const scoped_process&) = delete;
  scoped_process& operator=(const scoped_process&) = delete;

  pid self() const noexcept { return self_; }

  template <class T>
  send_result send(pid to, T&& value) {
    message* m = detail::make_message<std::decay_t<T>>(std::forward<T>(value));
    m->sender_ = self_;
    return send_raw(to, m);
  }
  // The next message, or none once `timeout` has passed.
  message_ptr receive(std::chrono::milliseconds timeout);
  // The next message of type T, skipping (and dropping) any others; none after `timeout`.
  template <class T>
  std::optional<T> receive(std::chrono::milliseconds timeout);

  monitor_ref monitor(pid other);
  void demonitor(monitor_ref ref);
  void link(pid other);
  void trap_exit(bool on);

 private:
  send_result send_raw(pid to, message* m);
  runtime& rt_;
  pid self_;
  process* proxy_ = nullptr;  // pinned for our lifetime
  std::shared_ptr<scoped_inbox> inbox_;
};

template <class T>
std::optional<T> scoped_process::receive(std::chrono::milliseconds timeout) {
  auto deadline = rt_.now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - rt_.now());
    if (left.count() < 0) left = std::chrono::milliseconds{0};
    message_ptr m = receive(left);
    if (!m) return std::nullopt;
    if (T* v = m->get_if<T>()) return std::move(*v);
  }
}

}  // namespace respawn
