// process_ops: running a process for a turn, the runtime signals, and the end of a process with
// Erlang's rules: links carry the exit reason both ways (a normal exit takes down nobody who does
// not trap exits), monitors get a `down` message, a `kill` cannot be trapped and is seen as
// `killed`, and an exception escaping a handler ends only its process with an error reason.
#include <cxxabi.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include "runtime_impl.hpp"

namespace respawn {

process::~process() {
  detail::process_extras* x = extras_.load(std::memory_order_acquire);
  if (x != nullptr && x != detail::extras_tombstone) delete x;
  // An ended process drained its mailbox; one that never ran (a failed spawn) may not have.
  while (cache_ != nullptr) {
    message* m = cache_;
    cache_ = m->next_;
    detail::destroy(m);
  }
}

}  // namespace respawn

namespace respawn::detail {

namespace {

thread_local process* current = nullptr;
thread_local message* kept = nullptr;

struct empty_signal {};

// Demangled once per exception type: demangling allocates and parses, and a crash loop (or the
// restart benchmark) would otherwise pay for it on every crash.
std::string demangle(const char* mangled) {
  static std::mutex mutex;
  static std::unordered_map<const char*, std::string> cache;  // type_info names are stable
  std::lock_guard lock{mutex};
  auto it = cache.find(mangled);
  if (it != cache.end()) return it->second;
  int status = 0;
  char* s = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = (status == 0 && s != nullptr) ? s : mangled;
  std::free(s);
  cache.emplace(mangled, out);
  return out;
}

// The reason for an exception that escaped user code; call only inside a catch block.
exit_reason reason_from_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return exit_reason::error(demangle(typeid(e).name()), e.what());
  } catch (...) {
    std::type_info* t = abi::__cxa_current_exception_type();
    return exit_reason::error(t != nullptr ? demangle(t->name()) : "unknown", "");
  }
}

template <class T>
T& value_of(message* m) {
  return static_cast<envelope<T>*>(m)->value;
}

void erase_pid(std::vector<pid>& v, pid p) {
  auto it = std::find(v.begin(), v.end(), p);
  if (it != v.end()) v.erase(it);
}

}  // namespace

void keep_current_message(message& m) noexcept { kept = &m; }
bool take_kept_message(message* m) noexcept {
  if (kept != m) return false;
  kept = nullptr;
  return true;
}

process* current_process() noexcept { return current; }

exit_reason process_ops::stop_reason(process& p) {
  process_extras* x = p.extras_.load(std::memory_order_acquire);
  if (x == nullptr || x == extras_tombstone) return exit_reason::normal();
  std::lock_guard lock{x->mutex};
  return x->stop_reason;
}
void set_current_process(process* p) noexcept { current = p; }

process_extras* process_ops::extras_if_alive(process& p) {
  process_extras* x = p.extras_.load(std::memory_order_acquire);
  if (x == extras_tombstone) return nullptr;
  if (x != nullptr) return x;
  auto* fresh = new process_extras;
  if (p.extras_.compare_exchange_strong(x, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return x == extras_tombstone ? nullptr : x;
}

push_outcome process_ops::push(process& p, message* m) noexcept {
  if (p.mailbox_bound_ != 0 && m->vtable_->signal == signal_kind::user) {
    std::uint32_t length = p.enqueued_.fetch_add(1, std::memory_order_relaxed) -
                           p.dequeued_.load(std::memory_order_relaxed);
    // dequeued_ may already count messages of senders that came after this fetch_add (queued and
    // handled meanwhile): a "negative" length is an empty mailbox, not a full one.
    if (static_cast<std::int32_t>(length) >= 0 && length >= p.mailbox_bound_) {
      p.enqueued_.fetch_sub(1, std::memory_order_relaxed);
      return push_outcome::full;
    }
  } else {
    p.enqueued_.fetch_add(1, std::memory_order_relaxed);
  }
  message* head = p.inbox_.load(std::memory_order_relaxed);
  for (;;) {
    if (head == inbox_closed) return push_outcome::closed;
    m->next_ = head == inbox_blocked ? nullptr : head;
    // acq_rel, not just release: the sender that ends a wait must see everything the process
    // wrote before it went waiting, since the thread it hands the process to relies on that.
    if (p.inbox_.compare_exchange_weak(head, m, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return head == inbox_blocked ? push_outcome::woke : push_outcome::queued;
    }
  }
}

message* process_ops::next_message(process& p) noexcept {
  if (p.cache_ == nullptr) {
    if (p.inbox_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    message* stack = p.inbox_.exchange(nullptr, std::memory_order_acquire);
    // Reverse the LIFO stack into send order.
    message* fifo = nullptr;
    while (stack != nullptr) {
      message* next = stack->next_;
      stack->next_ = fifo;
      fifo = stack;
      stack = next;
    }
    p.cache_ = fifo;
    if (fifo == nullptr) return nullptr;
  }
  message* m = p.cache_;
  p.cache_ = m->next_;
  return m;
}

bool process_ops::try_wait(process& p) noexcept {
  // The state is set first: once the CAS succeeds another thread may already be running `p`.
  p.state_.store(static_cast<std::uint8_t>(process_state::waiting), std::memory_order_relaxed);
  message* expected = nullptr;
  if (p.inbox_.compare_exchange_strong(expected, inbox_blocked, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
    return true;
  }
  p.state_.store(static_cast<std::uint8_t>(process_state::running), std::memory_order_relaxed);
  return false;
}

resume_outcome process_ops::resume(process& p, std::uint32_t budget) {
  set_current_process(&p);
  p.state_.store(static_cast<std::uint8_t>(process_state::running), std::memory_order_relaxed);
  std::uint32_t handled = 0;
  if (!p.started_) {
    p.started_ = true;
    handler_enter();
    try {
      p.init();
    } catch (...) {
      if (!handler_exit()) return resume_outcome::exited;  // declared hung meanwhile
      exit(p, reason_from_current_exception());
      return resume_outcome::exited;
    }
    if (!handler_exit()) return resume_outcome::exited;
    if (p.stop_requested_) {
      exit(p, stop_reason(p));
      return resume_outcome::exited;
    }
    // Acknowledged start: init returned; say so unless init deferred it (spawn_options::ack_to).
    if (process_extras* x = p.extras_.load(std::memory_order_acquire); x != nullptr && x != extras_tombstone) {
      bool now;
      {
        std::lock_guard lock{x->mutex};
        now = x->ack_to && !x->ack_deferred;
      }
      if (now) p.ack_start();
    }
    ++handled;
  }
  for (;;) {
    if (p.kill_requested_.load(std::memory_order_relaxed)) {
      exit(p, exit_reason::killed());
      return resume_outcome::exited;
    }
    // Out of budget (or asked to yield): yield if there is more to do, so others progress;
    // else fall through to wait.
    if (p.yield_requested_) {
      p.yield_requested_ = false;
      handled = budget;
    }
    if (handled >= budget && (p.cache_ != nullptr || p.inbox_.load(std::memory_order_relaxed) != nullptr)) {
      p.state_.store(static_cast<std::uint8_t>(process_state::runnable), std::memory_order_relaxed);
      set_current_process(nullptr);
      return resume_outcome::yielded;
    }
    message* m = next_message(p);
    if (m == nullptr) {
      if (try_wait(p)) {
        set_current_process(nullptr);
        return resume_outcome::waiting;
      }
      continue;
    }
    p.dequeued_.store(p.dequeued_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bool alive;
    if (m->vtable_->signal == signal_kind::user) {
      alive = deliver(p, m);
      ++handled;
    } else {
      alive = handle_signal(p, m);
    }
    if (!alive) return resume_outcome::exited;
    if (p.stop_requested_) {
      exit(p, stop_reason(p));
      return resume_outcome::exited;
    }
  }
}

bool process_ops::deliver(process& p, message* m) {
  handler_enter();
  try {
    p.handle(*m);
  } catch (...) {
    exit_reason reason = reason_from_current_exception();
    if (!take_kept_message(m)) destroy(m);
    if (!handler_exit()) return false;  // declared hung meanwhile: the process has ended
    exit(p, std::move(reason));
    return false;
  }
  if (!take_kept_message(m)) destroy(m);
  if (!handler_exit()) return false;
  p.handled_.store(p.handled_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

bool process_ops::handle_signal(process& p, message* m) {
  switch (m->vtable_->signal) {
    case signal_kind::exit: {
      exit_signal& s = value_of<exit_signal>(m);
      if (s.reason.is(exit_reason::kind::kill)) {
        destroy(m);
        exit(p, exit_reason::killed());
        return false;
      }
      if (p.trap_exit_) {
        m->vtable_ = &vtable_of<exit_signal>;
        return deliver(p, m);
      }
      if (s.reason.is_normal() && s.from != p.self_) {
        destroy(m);
        return true;
      }
      exit_reason reason = s.reason;
      destroy(m);
      exit(p, std::move(reason));
      return false;
    }
    case signal_kind::link_exit: {
      exit_signal& s = value_of<exit_signal>(m);
      bool linked = false;
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        auto it = std::find(x->links.begin(), x->links.end(), s.from);
        if (it != x->links.end()) {
          x->links.erase(it);
          linked = true;
        }
      }
      // Unlinked since (unlink is synchronous in Erlang's sense): the signal no longer applies.
      if (!linked) {
        destroy(m);
        return true;
      }
      if (p.trap_exit_) {
        m->vtable_ = &vtable_of<exit_signal>;
        return deliver(p, m);
      }
      if (s.reason.is_normal()) {
        destroy(m);
        return true;
      }
      exit_reason reason = s.reason;
      destroy(m);
      exit(p, std::move(reason));
      return false;
    }
    case signal_kind::link: {
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        if (std::find(x->links.begin(), x->links.end(), m->sender_) == x->links.end()) {
          x->links.push_back(m->sender_);
        }
      }
      destroy(m);
      return true;
    }
    case signal_kind::unlink: {
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        erase_pid(x->links, m->sender_);
      }
      destroy(m);
      return true;
    }
    case signal_kind::monitor: {
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        x->monitored_by.emplace_back(value_of<monitor_ref>(m), m->sender_);
      }
      destroy(m);
      return true;
    }
    case signal_kind::demonitor: {
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        monitor_ref ref = value_of<monitor_ref>(m);
        auto& v = x->monitored_by;
        v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& e) { return e.first == ref; }), v.end());
      }
      destroy(m);
      return true;
    }
    case signal_kind::down: {
      bool active = false;
      if (process_extras* x = extras_if_alive(p)) {
        std::lock_guard lock{x->mutex};
        monitor_ref ref = value_of<down>(m).ref;
        auto& v = x->monitors;
        auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.first == ref; });
        if (it != v.end()) {
          v.erase(it);
          active = true;
        }
      }
      if (!active) {  // demonitored: flushed
        destroy(m);
        return true;
      }
      m->vtable_ = &vtable_of<down>;
      return deliver(p, m);
    }
    case signal_kind::user:
      break;
  }
  assert(false && "user message in handle_signal");
  std::abort();
}

void process_ops::drain_closed(process& p, const exit_reason& reason) {
  message* stack = p.inbox_.exchange(inbox_closed, std::memory_order_acq_rel);
  // Whatever is left: the cache, then the stack. A link or monitor request that reached the
  // process while it was alive is answered with its exit reason, as if it had been handled just
  // before the end (signals between two processes stay in order, even when a kill overtakes
  // them: A that monitors B and then kills B sees `down killed`, not `noproc`). Sends that come
  // later fail at the sender, which turns them into noproc itself.
  auto drain = [&](message* list) {
    while (list != nullptr) {
      message* m = list;
      list = m->next_;
      if (m->vtable_->signal == signal_kind::link) {
        p.rt_->send(m->sender_, make_message<exit_signal, signal_kind::link_exit>(
                                    exit_signal{p.self_, reason, {}}),
                    p.self_);
      } else if (m->vtable_->signal == signal_kind::monitor) {
        p.rt_->send(m->sender_, make_message<down, signal_kind::down>(
                                    down{value_of<monitor_ref>(m), p.self_, reason}),
                    p.self_);
      }
      destroy(m);
    }
  };
  message* cache = p.cache_;
  p.cache_ = nullptr;
  drain(cache);
  drain(stack);
}

void process_ops::exit(process& p, exit_reason reason) {
  if (reason.is(exit_reason::kind::kill)) reason = exit_reason::killed();
  p.state_.store(static_cast<std::uint8_t>(process_state::exiting), std::memory_order_relaxed);
  if (!reason.is(exit_reason::kind::killed)) {
    try {
      p.terminate(reason);
    } catch (...) {
      // terminate() may not change the reason the process is already ending with.
    }
  }
  p.rt_->process_exiting(p.self_);
  drain_closed(p, reason);
  notify_exit(p, reason);
  set_current_process(nullptr);
  p.rt_->process_ended(p.self_);
}

void process_ops::notify_exit(process& p, const exit_reason& reason) {
  runtime_impl& rt = *p.rt_;
  process_extras* x = p.extras_.load(std::memory_order_acquire);
  if (x == nullptr && p.extras_.compare_exchange_strong(x, extras_tombstone, std::memory_order_acq_rel)) {
    x = nullptr;  // nothing was ever linked, monitored or named
  }
  if (x != nullptr) {
    std::vector<pid> links;
    std::vector<std::pair<monitor_ref, pid>> monitors, monitored_by;
    std::string name;
    snapshot latest;
    {
      std::lock_guard lock{x->mutex};
      x->exiting = true;
      latest = std::move(x->latest);
      links.swap(x->links);
      monitors.swap(x->monitors);
      monitored_by.swap(x->monitored_by);
      name.swap(x->name);
    }
    if (!name.empty()) rt.names.release(name, p.self_);
    for (pid l : links) {
      exit_signal signal{p.self_, reason, l == p.parent_ ? latest : snapshot{}};
      rt.send(l, make_message<exit_signal, signal_kind::link_exit>(std::move(signal)), p.self_);
    }
    for (auto& [ref, watcher] : monitored_by) {
      rt.send(watcher, make_message<down, signal_kind::down>(down{ref, p.self_, reason}), p.self_);
    }
    for (auto& [ref, target] : monitors) {
      rt.send(target, make_message<monitor_ref, signal_kind::demonitor>(ref), p.self_);
    }
  }
}

void process_ops::exit_hung(process& p) {
  // Runs on the watchdog's thread while the owner's thread is stuck in a handler, which will
  // never touch `p` again (handler_exit() fails for it). So: no terminate(), and the FIFO cache
  // stays where it is (the process's destructor frees it); everything else is a normal exit.
  p.state_.store(static_cast<std::uint8_t>(process_state::exiting), std::memory_order_relaxed);
  p.rt_->process_exiting(p.self_);
  message* cache = p.cache_;
  p.cache_ = nullptr;
  drain_closed(p, exit_reason::hung());
  p.cache_ = cache;
  notify_exit(p, exit_reason::hung());
  p.rt_->process_ended(p.self_);
}

void process_ops::link_local(process& p, pid other) {
  if (other == p.self_) return;
  process_extras* x = extras_if_alive(p);
  if (x == nullptr) return;
  {
    std::lock_guard lock{x->mutex};
    if (std::find(x->links.begin(), x->links.end(), other) != x->links.end()) return;
    x->links.push_back(other);
  }
  runtime_impl& rt = *p.rt_;
  if (rt.send(other, make_message<empty_signal, signal_kind::link>(), p.self_) != send_result::ok) {
    // Linking to a dead process: as if it had sent an exit signal noproc (Erlang's link/1).
    rt.send(p.self_, make_message<exit_signal, signal_kind::link_exit>(exit_signal{other, exit_reason::noproc(), {}}),
            other);
  }
}

void process_ops::unlink_local(process& p, pid other) {
  process_extras* x = extras_if_alive(p);
  if (x == nullptr) return;
  {
    std::lock_guard lock{x->mutex};
    auto it = std::find(x->links.begin(), x->links.end(), other);
    if (it == x->links.end()) return;
    x->links.erase(it);
  }
  p.rt_->send(other, make_message<empty_signal, signal_kind::unlink>(), p.self_);
}

monitor_ref process_ops::monitor_local(process& p, pid other, monitor_ref ref) {
  process_extras* x = extras_if_alive(p);
  if (x == nullptr) return ref;
  {
    std::lock_guard lock{x->mutex};
    x->monitors.emplace_back(ref, other);
  }
  runtime_impl& rt = *p.rt_;
  if (rt.send(other, make_message<monitor_ref, signal_kind::monitor>(ref), p.self_) != send_result::ok) {
    rt.send(p.self_, make_message<down, signal_kind::down>(down{ref, other, exit_reason::noproc()}), other);
  }
  return ref;
}

void process_ops::demonitor_local(process& p, monitor_ref ref) {
  process_extras* x = extras_if_alive(p);
  if (x == nullptr) return;
  pid target;
  {
    std::lock_guard lock{x->mutex};
    auto& v = x->monitors;
    auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.first == ref; });
    if (it == v.end()) return;
    target = it->second;
    v.erase(it);
  }
  p.rt_->send(target, make_message<monitor_ref, signal_kind::demonitor>(ref), p.self_);
}

}  // namespace respawn::detail
