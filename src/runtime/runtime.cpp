// runtime and runtime_impl: spawning, sending, exit signals, shutdown, and the process member
// functions that act on the runtime. The hot path is runtime_impl::send: pin the slot, push onto
// the mailbox (one CAS), schedule if the push ended a wait, unpin. No lock anywhere on it.
#include <cstdio>
#include <thread>

#include <utility>

#include "dedicated_runner.hpp"
#include "deterministic_scheduler.hpp"
#include "runtime_impl.hpp"
#include "thread_scheduler.hpp"

namespace respawn::detail {

runtime_impl::runtime_impl(runtime& o, runtime_config c) : owner{o}, config{c} {
  if (config.messages_per_turn == 0) {
    throw std::invalid_argument{"runtime_config::messages_per_turn must be at least 1"};
  }
  timers = std::make_unique<timer_service>(*this, config.deterministic);
  if (config.deterministic) {
    auto s = std::make_unique<deterministic_scheduler>();
    manual = s.get();
    sched = std::move(s);
  } else {
    unsigned n = config.scheduler_threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    sched = std::make_unique<thread_scheduler>(*this, n, config.messages_per_turn, config.handler_budget);
  }
}

runtime_impl::~runtime_impl() = default;

void runtime_impl::start() {
  sched->start();
  timers->start();
}

send_result runtime_impl::send(pid to, message* m, pid sender) {
  m->sender_ = sender;
  if (current_thread_abandoned()) {  // a runaway handler's late sends go nowhere
    destroy(m);
    return send_result::noproc;
  }
  process* p = table.pin(to);
  if (p == nullptr) {
    destroy(m);
    return send_result::noproc;
  }
  push_outcome outcome = process_ops::push(*p, m);
  if (outcome == push_outcome::woke) wake(*p);
  table.unpin(to.index);
  switch (outcome) {
    case push_outcome::queued:
    case push_outcome::woke:
      return send_result::ok;
    case push_outcome::closed:
      destroy(m);
      return send_result::noproc;
    case push_outcome::full:
      destroy(m);
      return send_result::mailbox_full;
  }
  return send_result::ok;
}

void runtime_impl::wake(process& p) {
  if (p.dedicated_) {
    p.extras_.load(std::memory_order_acquire)->dedicated->wake();
  } else {
    sched->schedule(&p);
  }
}

std::chrono::milliseconds runtime_impl::handler_budget_of(pid id) {
  std::chrono::milliseconds budget{0};
  if (process* p = table.pin(id)) {
    process_extras* x = p->extras_.load(std::memory_order_acquire);
    if (x != nullptr && x != extras_tombstone) {
      std::lock_guard lock{x->mutex};
      budget = x->handler_budget;
    }
    table.unpin(id.index);
  }
  return budget;
}

void runtime_impl::send_exit(pid from, pid to, exit_reason reason) {
  if (reason.is(exit_reason::kind::kill)) {
    // Flag it too: the process checks the flag before each message, so a kill overtakes a long
    // mailbox. The signal itself wakes the process if it is waiting.
    if (process* p = table.pin(to)) {
      p->kill_requested_.store(true, std::memory_order_relaxed);
      table.unpin(to.index);
    }
  }
  send(to, make_message<respawn::exit_signal, signal_kind::exit>(respawn::exit_signal{from, std::move(reason), {}}), from);
}

spawned runtime_impl::spawn(std::unique_ptr<process> owned, const spawn_options& options, process* parent) {
  if ((options.link || options.monitor) && parent == nullptr) {
    throw spawn_error{"spawn_options: link and monitor need a parent; spawn from inside a process"};
  }
  process& p = *owned;
  p.rt_ = this;
  p.mailbox_bound_ = options.mailbox_bound;
  p.trap_exit_.store(options.trap_exit, std::memory_order_relaxed);
  p.parent_ = parent != nullptr ? parent->self_ : pid{};
  pid id = table.insert(owned.release());
  p.self_ = id;
  live.fetch_add(1, std::memory_order_relaxed);

  if (!options.name.empty() && !names.add(options.name, id, table)) {
    // It never ran: end it quietly; nobody can have linked to it yet.
    pid holder = names.whereis(options.name);
    p.inbox_.store(inbox_closed, std::memory_order_relaxed);
    live.fetch_sub(1, std::memory_order_relaxed);
    table.retire(id.index);
    throw spawn_error{"spawn: the name '" + options.name + "' is already registered" +
                      (holder ? " to " + holder.to_string() : std::string{})};
  }
  spawned result{id, monitor_ref{}};
  if (options.handler_budget.count() > 0 || options.dedicated_thread) {
    process_extras* x = process_ops::extras_if_alive(p);
    std::lock_guard lock{x->mutex};
    x->handler_budget = options.handler_budget;
    if (options.dedicated_thread && manual == nullptr) {
      x->dedicated = dedicated_runner::start(p, config.messages_per_turn, dedicated_threads);
      p.dedicated_ = true;
    }
  }
  if (options.ack_to) {
    process_extras* x = process_ops::extras_if_alive(p);
    std::lock_guard lock{x->mutex};
    x->ack_to = options.ack_to;
  }
  if (options.handler_budget.count() > 0) sched->handler_budget_hint(options.handler_budget);
  if (options.link) {
    {
      process_extras* x = process_ops::extras_if_alive(p);
      std::lock_guard lock{x->mutex};
      x->links.push_back(parent->self_);
    }
    process_extras* px = process_ops::extras_if_alive(*parent);
    std::lock_guard lock{px->mutex};
    px->links.push_back(id);
  }
  if (options.monitor) {
    result.monitor = new_monitor_ref();
    {
      process_extras* x = process_ops::extras_if_alive(p);
      std::lock_guard lock{x->mutex};
      x->monitored_by.emplace_back(result.monitor, parent->self_);
    }
    process_extras* px = process_ops::extras_if_alive(*parent);
    std::lock_guard lock{px->mutex};
    px->monitors.emplace_back(result.monitor, id);
  }
  // The inbox starts empty but not waiting: this is the process's first wake-up.
  wake(p);
  return result;
}

void runtime_impl::process_exiting(pid p) {
  live.fetch_sub(1, std::memory_order_acq_rel);
  table.mark_dying(p.index);
}

void runtime_impl::process_ended(pid p) { table.unpin(p.index); }

void runtime_impl::shutdown() {
  // Kill whatever is left, wait for it to end, then stop the threads. Killed processes run no
  // more user code, but a dying process's links may still be starting new ones; repeat.
  for (;;) {
    std::uint32_t high = table.high_water();
    for (std::uint32_t i = 0; i < high; ++i) {
      pid p = table.live_pid_at(i);
      if (p) send_exit(pid{}, p, exit_reason::kill());
    }
    if (manual != nullptr) {
      while (manual->step()) {
      }
    } else {
      for (int spins = 0; spins < 1000 && live.load(std::memory_order_acquire) > 0; ++spins) {
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
      }
    }
    if (live.load(std::memory_order_acquire) == 0) break;
  }
  // A dedicated thread may still be freeing its process (its last pin) after the count dropped.
  while (dedicated_threads.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  timers->stop();
  sched->stop();
  // Last: a service may have threads that send into the runtime until it is destroyed (the
  // worker layer's poller); every process is gone by now, so such sends find nobody.
  std::map<const void*, std::shared_ptr<void>> services;
  {
    std::lock_guard lock{extensions_mutex};
    services.swap(extensions);
  }
  services.clear();
}

}  // namespace respawn::detail

namespace respawn {

using detail::runtime_impl;

runtime::runtime(runtime_config config) : impl_{std::make_unique<runtime_impl>(*this, config)} {
  impl_->start();
}

runtime::~runtime() { impl_->shutdown(); }

spawned runtime::spawn_process(std::unique_ptr<process> p, const spawn_options& options) {
  return impl_->spawn(std::move(p), options, nullptr);
}

send_result runtime::send_message(pid to, message* m) { return impl_->send(to, m, pid{}); }

void runtime::exit(pid to, exit_reason reason) { impl_->send_exit(pid{}, to, std::move(reason)); }

bool runtime::alive(pid p) const { return impl_->table.alive(p); }

std::shared_ptr<void> runtime::extension(const void* key, const std::function<std::shared_ptr<void>()>& make) {
  std::lock_guard lock{impl_->extensions_mutex};
  auto& slot = impl_->extensions[key];
  if (!slot) slot = make();
  return slot;
}

const runtime_config& runtime::config() const noexcept { return impl_->config; }

void runtime::log(std::string_view line) const {
  if (impl_->config.log) {
    impl_->config.log(line);
    return;
  }
  std::string out{line};
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stderr);  // one write: lines from threads do not interleave
}

bool runtime::register_name(const std::string& name, pid p) { return impl_->names.add(name, p, impl_->table); }
bool runtime::unregister_name(const std::string& name) { return impl_->names.remove(name, impl_->table); }
pid runtime::whereis(const std::string& name) const { return impl_->names.whereis(name); }

timer_ref runtime::send_after_message(pid to, std::chrono::milliseconds delay, message* m) {
  return impl_->timers->add(to, delay, m);
}
bool runtime::cancel_timer(timer_ref ref) { return impl_->timers->cancel(ref); }

std::size_t runtime::process_count() const noexcept { return impl_->live.load(std::memory_order_acquire); }
unsigned runtime::scheduler_threads() const noexcept { return impl_->sched->threads(); }
bool runtime::deterministic() const noexcept { return impl_->config.deterministic; }
std::chrono::steady_clock::time_point runtime::now() const { return impl_->timers->now(); }

static detail::deterministic_scheduler& manual_of(runtime_impl& impl, const char* what) {
  if (impl.manual == nullptr) {
    throw std::logic_error{std::string{"runtime::"} + what + " is for deterministic mode only"};
  }
  return *impl.manual;
}

bool runtime::step() { return manual_of(*impl_, "step").step(); }

std::size_t runtime::run_until_idle() {
  auto& m = manual_of(*impl_, "run_until_idle");
  std::size_t n = 0;
  while (m.step()) ++n;
  return n;
}

void runtime::advance(std::chrono::milliseconds by) {
  manual_of(*impl_, "advance");
  impl_->timers->advance(by);
}

// --- process member functions that need the runtime ---

runtime& process::system() const noexcept { return rt_->owner; }

send_result process::send_message(pid to, message* m) { return rt_->send(to, m, self_); }

spawned process::spawn_child(std::unique_ptr<process> child, const spawn_options& options) {
  return rt_->spawn(std::move(child), options, this);
}

void process::link(pid other) { detail::process_ops::link_local(*this, other); }
void process::unlink(pid other) { detail::process_ops::unlink_local(*this, other); }

monitor_ref process::monitor(pid other) {
  return detail::process_ops::monitor_local(*this, other, rt_->new_monitor_ref());
}
void process::demonitor(monitor_ref ref) { detail::process_ops::demonitor_local(*this, ref); }

void process::stop(exit_reason reason) {
  stop_requested_ = true;
  if (reason.is_normal()) return;  // the default: no extras needed (most processes end this way)
  if (detail::process_extras* x = detail::process_ops::extras_if_alive(*this)) {
    std::lock_guard lock{x->mutex};
    x->stop_reason = std::move(reason);
  }
}

void process::exit(pid to, exit_reason reason) { rt_->send_exit(self_, to, std::move(reason)); }

void process::defer_start_ack() {
  detail::process_extras* x = extras_.load(std::memory_order_acquire);
  if (x == nullptr || x == detail::extras_tombstone) return;  // spawned without ack_to: nothing to defer
  std::lock_guard lock{x->mutex};
  x->ack_deferred = true;
}

void process::ack_start() {
  detail::process_extras* x = extras_.load(std::memory_order_acquire);
  if (x == nullptr || x == detail::extras_tombstone) return;
  pid to;
  {
    std::lock_guard lock{x->mutex};
    to = std::exchange(x->ack_to, pid{});  // once
  }
  if (to) send(to, start_ack{self_});
}

timer_ref process::send_after_message(std::chrono::milliseconds delay, message* m) {
  return rt_->timers->add(self_, delay, m);
}

bool process::cancel_timer(timer_ref ref) { return rt_->timers->cancel(ref); }

void process::save_snapshot_value(snapshot s) {
  if (detail::process_extras* x = detail::process_ops::extras_if_alive(*this)) {
    std::lock_guard lock{x->mutex};
    x->latest = std::move(s);
  }
}

}  // namespace respawn
