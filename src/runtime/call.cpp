// call() and scoped_process: how threads that are not processes talk to processes.
//
// A call is made by a short-lived waiter process, so that it can use the runtime's own tools:
// it monitors the callee (Erlang's gen_server:call does the same), sends the request, and sets a
// timer. Whichever comes first ends the call: the reply, the callee's down (the call fails at
// once with the callee's exit reason, not at the timeout), or the timer. The calling thread
// waits on a condition variable; in deterministic mode it drives the system itself instead.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "deterministic_scheduler.hpp"
#include "runtime_impl.hpp"

namespace respawn::detail {

namespace {

struct call_timeout {};
struct scoped_stop {};
struct scoped_trap_exit {
  bool on;
};

// Deterministic mode: step until `done()`, jumping the manual clock to the next timer whenever
// nothing is runnable; stop at `deadline` if given.
template <class Done>
void drive(runtime_impl& rt, Done done, std::optional<std::chrono::steady_clock::time_point> deadline) {
  while (!done()) {
    if (rt.manual->step()) continue;
    auto next = rt.timers->next_deadline();
    if (deadline && (!next || *next > *deadline)) {
      rt.timers->advance_to(*deadline);
      while (!done() && rt.manual->step()) {
      }
      return;
    }
    if (!next) return;  // nothing can ever happen any more
    rt.timers->advance_to(*next);
  }
}

class call_waiter_state final : public call_state {
 public:
  explicit call_waiter_state(runtime_impl& rt) : rt_{rt} {}

  bool ready() const override {
    std::lock_guard lock{mutex_};
    return done_;
  }

  message_ptr wait(call_error& error) override {
    if (rt_.manual != nullptr) {
      drive(rt_, [this] { return ready(); }, std::nullopt);
    } else {
      if (current_process() != nullptr) rt_.sched->before_blocking();
      std::unique_lock lock{mutex_};
      done_cv_.wait(lock, [this] { return done_; });
    }
    std::lock_guard lock{mutex_};
    error = error_;
    return std::move(reply_);
  }

  void fulfil(message_ptr reply, call_error error) {
    {
      std::lock_guard lock{mutex_};
      if (done_) return;
      done_ = true;
      reply_ = std::move(reply);
      error_ = std::move(error);
    }
    done_cv_.notify_all();
  }

 private:
  runtime_impl& rt_;
  mutable std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  message_ptr reply_;
  call_error error_;
};

class call_waiter final : public process {
 public:
  call_waiter(std::shared_ptr<call_waiter_state> state, pid callee, message* request,
              std::chrono::milliseconds timeout, std::uint64_t ref)
      : state_{std::move(state)}, callee_{callee}, request_{request}, timeout_{timeout}, ref_{ref} {}

  ~call_waiter() override {
    if (request_ != nullptr) destroy(request_);
    // Killed before an answer (the runtime is shutting down): the caller must not wait forever.
    state_->fulfil(nullptr, call_error{call_error::code::callee_exited, exit_reason::killed(), {}});
  }

  void init() override {
    monitor_ = monitor(callee_);
    message* request = request_;
    request_ = nullptr;
    request->ref_ = ref_;
    if (process_ops::send_from(*this, callee_, request) == send_result::mailbox_full) {
      // Refused: fail now rather than at the timeout (a dead callee is reported by the monitor).
      finish(nullptr, call_error{call_error::code::mailbox_full, {}, {}});
      return;
    }
    timer_ = send_after(timeout_, call_timeout{});
  }

  void handle(message& m) override {
    if (m.call_ref() == ref_) {
      keep_current_message(m);
      finish(message_ptr{&m}, call_error{});
    } else if (auto* d = m.get_if<down>(); d != nullptr && d->ref == monitor_) {
      finish(nullptr, call_error{call_error::code::callee_exited, d->reason, {}});
    } else if (m.is<call_timeout>()) {
      finish(nullptr, call_error{call_error::code::timeout, {}, {}});
    }
  }

 private:
  void finish(message_ptr reply, call_error error) {
    demonitor(monitor_);
    cancel_timer(timer_);
    state_->fulfil(std::move(reply), std::move(error));
    stop();
  }

  std::shared_ptr<call_waiter_state> state_;
  pid callee_;
  message* request_;
  std::chrono::milliseconds timeout_;
  std::uint64_t ref_;
  monitor_ref monitor_;
  timer_ref timer_;
};

}  // namespace

// The inbox a scoped_process's thread reads.
struct scoped_inbox_impl {
  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<message_ptr> messages;
};

}  // namespace respawn::detail

namespace respawn {

struct scoped_inbox : detail::scoped_inbox_impl {};

namespace {
class scoped_proxy final : public process {
 public:
  explicit scoped_proxy(std::shared_ptr<scoped_inbox> inbox) : inbox_{std::move(inbox)} {}
  void handle(message& m) override {
    if (m.is<detail::scoped_stop>()) {
      stop();
      return;
    }
    if (auto* t = m.get_if<detail::scoped_trap_exit>()) {
      trap_exit(t->on);
      return;
    }
    detail::keep_current_message(m);
    {
      std::lock_guard lock{inbox_->mutex};
      inbox_->messages.emplace_back(&m);
    }
    inbox_->arrived.notify_all();
  }

 private:
  std::shared_ptr<scoped_inbox> inbox_;
};
}  // namespace

std::shared_ptr<detail::call_state> runtime::start_call(pid to, message* request, std::chrono::milliseconds timeout) {
  auto state = std::make_shared<detail::call_waiter_state>(*impl_);
  impl_->spawn(std::make_unique<detail::call_waiter>(state, to, request, timeout, impl_->new_call_ref()),
               spawn_options{}, nullptr);
  return state;
}

scoped_process::scoped_process(runtime& rt) : rt_{rt}, inbox_{std::make_shared<scoped_inbox>()} {
  self_ = rt.spawn<scoped_proxy>(spawn_options{}, inbox_).pid;
  // Held for our lifetime: the proxy's memory stays valid even if it is killed.
  proxy_ = rt.impl().table.pin(self_);
}

scoped_process::~scoped_process() {
  rt_.send(self_, detail::scoped_stop{});
  if (proxy_ != nullptr) rt_.impl().table.unpin(self_.index);
}

send_result scoped_process::send_raw(pid to, message* m) { return rt_.impl().send(to, m, self_); }

message_ptr scoped_process::receive(std::chrono::milliseconds timeout) {
  auto has_message = [this] {
    std::lock_guard lock{inbox_->mutex};
    return !inbox_->messages.empty();
  };
  detail::runtime_impl& rt = rt_.impl();
  if (rt.manual != nullptr) {
    detail::drive(rt, has_message, rt.timers->now() + timeout);
  }
  std::unique_lock lock{inbox_->mutex};
  if (rt.manual == nullptr) {
    inbox_->arrived.wait_for(lock, timeout, [this] { return !inbox_->messages.empty(); });
  }
  if (inbox_->messages.empty()) return nullptr;
  message_ptr m = std::move(inbox_->messages.front());
  inbox_->messages.pop_front();
  return m;
}

monitor_ref scoped_process::monitor(pid other) {
  if (proxy_ == nullptr) return monitor_ref{};
  return detail::process_ops::monitor_local(*proxy_, other, rt_.impl().new_monitor_ref());
}

void scoped_process::demonitor(monitor_ref ref) {
  if (proxy_ != nullptr) detail::process_ops::demonitor_local(*proxy_, ref);
}

void scoped_process::link(pid other) {
  if (proxy_ != nullptr) detail::process_ops::link_local(*proxy_, other);
}

void scoped_process::trap_exit(bool on) { rt_.send(self_, detail::scoped_trap_exit{on}); }

}  // namespace respawn
