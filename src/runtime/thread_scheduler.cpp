// thread_scheduler: see the header for the design (run_next, stealing, spin-then-sleep, watchdog).
#include "thread_scheduler.hpp"

#include "runtime_impl.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RESPAWN_CPU_RELAX() _mm_pause()
#else
#define RESPAWN_CPU_RELAX() ((void)0)
#endif

namespace respawn::detail {

namespace {
// The worker the current thread is, if any (and of which scheduler: tests run several runtimes).
thread_local void* current_worker = nullptr;
// How long an idle worker looks for work before it sleeps, in rounds of one look at every queue
// and 8 pauses (~0.22 us per round on the 2-core EPYC VM). Adaptive, per worker: a spin that found
// work doubles the next one (up to max_spin_rounds, ~230 us: long enough to catch the next message
// of a busy cross-thread exchange, where a futex wake costs tens of microseconds), a spin that
// ended in sleep halves it (down to min_spin_rounds, ~7 us). A fixed 1024 rounds burned a core
// whenever work came in trickles, e.g. the job engine's, whose workers wait on the store's writer
// thread: the schedulers then spun for a quarter to half of the CPU samples, CPU taken from that
// writer. Only one worker spins at a time (see idle()).
constexpr int max_spin_rounds = 1024;
constexpr int min_spin_rounds = 32;
}  // namespace

void spinlock::lock() noexcept {
  for (;;) {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    while (locked_.load(std::memory_order_relaxed)) RESPAWN_CPU_RELAX();
  }
}

thread_scheduler::thread_scheduler(runtime_impl& rt, unsigned threads, std::uint32_t messages_per_turn,
                                   std::chrono::milliseconds handler_budget)
    : rt_{rt},
      messages_per_turn_{messages_per_turn},
      handler_budget_{handler_budget},
      shortest_budget_ms_{handler_budget.count()} {
  if (threads == 0) threads = 1;
  if (threads > max_workers / 2) threads = max_workers / 2;  // leave room for replacements
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<worker>();
    w->owner = this;
    w->index = i;
    workers_[i] = std::move(w);
  }
  count_.store(threads, std::memory_order_release);
  threads_.store(threads, std::memory_order_relaxed);
}

thread_scheduler::~thread_scheduler() { stop(); }

void thread_scheduler::start() {
  for (unsigned i = 0; i < worker_count(); ++i) {
    worker* raw = workers_[i].get();
    raw->thread = std::thread{[this, raw] { run(*raw); }};
  }
  if (handler_budget_.count() > 0) watchdog_ = std::thread{[this] { watch(); }};
}

void thread_scheduler::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock{sleep_mutex_};
    sleep_cv_.notify_all();
  }
  {
    std::lock_guard lock{watchdog_mutex_};
    watchdog_cv_.notify_all();
  }
  if (watchdog_.joinable()) watchdog_.join();
  for (unsigned i = 0; i < worker_count(); ++i) {
    worker& w = *workers_[i];
    if (!w.thread.joinable()) continue;
    int stuck = 0;
    if (w.signals.abandoned.load(std::memory_order_acquire) &&
        w.exit_state.compare_exchange_strong(stuck, 2, std::memory_order_acq_rel)) {
      // A handler that never returned holds this thread: it cannot be joined. It touches nothing
      // of ours again unless its handler returns, which the runtime's documentation forbids
      // after the runtime is gone.
      w.thread.detach();
    } else {
      // Includes a thread whose runaway handler did return and that is still retiring: it uses
      // this worker until it ends, so it must not be detached and the worker freed under it.
      w.thread.join();
    }
  }
}

void thread_scheduler::inject(process* p) {
  {
    std::lock_guard lock{inject_mutex_};
    injected_.push_back(p);
    injected_count_.store(injected_.size(), std::memory_order_seq_cst);
  }
  // As in push_local: a spinner will see it (and pass the baton if more is queued), so wake a
  // sleeper only when nobody spins. Threads that are not workers inject often (the store's writer
  // thread hands over every completion), and each needless wake costs them a futex call.
  if (sleeping_.load(std::memory_order_seq_cst) > 0 && spinning_.load(std::memory_order_seq_cst) == 0) wake_one();
}

void thread_scheduler::schedule(process* p) {
  auto* w = static_cast<worker*>(current_worker);
  if (w == nullptr || w->owner != this || w->signals.abandoned.load(std::memory_order_seq_cst)) {
    inject(p);
    return;
  }
  // The newest wake-up runs next on this core; the one it displaces becomes stealable.
  process* displaced = w->run_next.exchange(p, std::memory_order_seq_cst);
  if (displaced != nullptr) push_local(*w, displaced);
  // The watchdog may have abandoned this worker meanwhile: then nobody would run run_next.
  if (w->signals.abandoned.load(std::memory_order_seq_cst)) {
    if (process* q = w->run_next.exchange(nullptr, std::memory_order_seq_cst)) inject(q);
  }
}

void thread_scheduler::before_blocking() {
  // The thread is about to block inside a handler: what it would have run next must not wait
  // for it (the process it is waiting for may be that very one).
  auto* w = static_cast<worker*>(current_worker);
  if (w == nullptr || w->owner != this) return;
  if (process* p = w->run_next.exchange(nullptr, std::memory_order_seq_cst)) push_local(*w, p);
  if (w->queued.load(std::memory_order_relaxed) > 0) wake_one();
}

void thread_scheduler::push_local(worker& w, process* p) {
  {
    std::lock_guard lock{w.lock};
    w.queue.push_back(p);
    w.queued.store(w.queue.size(), std::memory_order_seq_cst);
  }
  if (sleeping_.load(std::memory_order_seq_cst) > 0 && spinning_.load(std::memory_order_seq_cst) == 0) {
    wake_one();
  }
}

void thread_scheduler::wake_one() {
  std::lock_guard lock{sleep_mutex_};
  // At most one token per worker: more cannot wake anyone more, and stale tokens made sleepers
  // return at once, spin again and repeat until they were used up.
  if (wake_tokens_ < static_cast<int>(worker_count())) ++wake_tokens_;
  sleep_cv_.notify_one();
}

bool thread_scheduler::work_visible() const noexcept {
  if (injected_count_.load(std::memory_order_seq_cst) > 0) return true;
  for (unsigned i = 0; i < worker_count(); ++i) {
    if (workers_[i]->queued.load(std::memory_order_seq_cst) > 0) return true;
  }
  return false;
}

process* thread_scheduler::take_injected() {
  if (injected_count_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard lock{inject_mutex_};
  if (injected_.empty()) return nullptr;
  process* p = injected_.front();
  injected_.pop_front();
  injected_count_.store(injected_.size(), std::memory_order_seq_cst);
  return p;
}

process* thread_scheduler::steal(worker& thief) {
  const unsigned n = worker_count();
  for (unsigned k = 1; k < n; ++k) {
    worker& victim = *workers_[(thief.index + k) % n];
    if (victim.queued.load(std::memory_order_relaxed) == 0) continue;
    if (!victim.lock.try_lock()) continue;
    std::size_t take = (victim.queue.size() + 1) / 2;
    std::vector<process*> stolen;
    stolen.reserve(take);
    for (std::size_t i = 0; i < take; ++i) {
      stolen.push_back(victim.queue.front());
      victim.queue.pop_front();
    }
    victim.queued.store(victim.queue.size(), std::memory_order_seq_cst);
    victim.lock.unlock();
    if (stolen.empty()) continue;
    if (stolen.size() > 1) {
      std::lock_guard lock{thief.lock};
      thief.queue.insert(thief.queue.end(), stolen.begin() + 1, stolen.end());
      thief.queued.store(thief.queue.size(), std::memory_order_seq_cst);
    }
    return stolen.front();
  }
  return nullptr;
}

process* thread_scheduler::find_work(worker& w) {
  if (w.run_next.load(std::memory_order_relaxed) != nullptr) {
    process* p = w.run_next.exchange(nullptr, std::memory_order_acq_rel);
    if (p != nullptr) {
      if (++w.run_next_streak <= messages_per_turn_ || w.queued.load(std::memory_order_relaxed) == 0) return p;
      // Fairness: run_next has had its share; it queues behind the others.
      push_local(w, p);
    }
  }
  w.run_next_streak = 0;
  if (w.queued.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock{w.lock};
    if (!w.queue.empty()) {
      process* p = w.queue.front();
      w.queue.pop_front();
      w.queued.store(w.queue.size(), std::memory_order_seq_cst);
      return p;
    }
  }
  if (process* p = take_injected()) return p;
  return steal(w);
}

void thread_scheduler::idle(worker& w) {
  // At most one spinner (Go's and Tokio's rule): one thread watching the queues is enough to pick
  // up new work without a wake-up, and it wakes a sleeper when it finds some (the baton below).
  // A second spinner only takes CPU from the threads doing work. A worker that finds the slot
  // taken goes straight to the sleeping path, which re-checks for work after announcing itself.
  int expected = 0;
  if (spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
    for (int round = 0; round < w.spin_rounds; ++round) {
      if (work_visible() || stopping_.load(std::memory_order_relaxed)) {
        w.spin_rounds = std::min(max_spin_rounds, w.spin_rounds * 2);
        // The spinner that finds work passes the baton, so queued work never waits on a sleeper.
        if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1 && sleeping_.load(std::memory_order_seq_cst) > 0) {
          wake_one();
        }
        return;
      }
      for (int i = 0; i < 8; ++i) RESPAWN_CPU_RELAX();
    }
    w.spin_rounds = std::max(min_spin_rounds, w.spin_rounds / 2);
    spinning_.fetch_sub(1, std::memory_order_seq_cst);
  }
  sleeping_.fetch_add(1, std::memory_order_seq_cst);
  if (!work_visible() && !stopping_.load(std::memory_order_seq_cst)) {
    std::unique_lock lock{sleep_mutex_};
    sleep_cv_.wait(lock, [&] { return wake_tokens_ > 0 || stopping_.load(std::memory_order_relaxed); });
    if (wake_tokens_ > 0) --wake_tokens_;
  }
  sleeping_.fetch_sub(1, std::memory_order_seq_cst);
}

void thread_scheduler::run(worker& w) {
  current_worker = &w;
  // Without a watchdog nobody reads the signals: skip their cost (a CAS per message).
  if (handler_budget_.count() > 0) current_signals = &w.signals;
  while (!stopping_.load(std::memory_order_relaxed)) {
    process* p = find_work(w);
    if (p == nullptr) {
      idle(w);
      continue;
    }
    w.signals.running.store(pack_pid(p->self().index, p->self().generation), std::memory_order_relaxed);
    resume_outcome outcome = process_ops::resume(*p, messages_per_turn_);
    w.signals.running.store(0, std::memory_order_relaxed);
    if (w.signals.abandoned.load(std::memory_order_acquire)) {
      // Retire, unless stop() has already detached this thread (then touch nothing more).
      int stuck = 0;
      if (w.exit_state.compare_exchange_strong(stuck, 1, std::memory_order_acq_rel)) retire(w);
      break;
    }
    if (outcome == resume_outcome::yielded) push_local(w, p);
  }
  current_worker = nullptr;
  current_signals = nullptr;
}

void thread_scheduler::retire(worker& w) {
  // The runaway handler returned at last. Its process already ended (as `hung`); drop the pin
  // the watchdog took for us, and hand anything still queued here to the other workers.
  if (w.hung_pid != 0) rt_.table.unpin(static_cast<std::uint32_t>(w.hung_pid));
  if (process* p = w.run_next.exchange(nullptr, std::memory_order_seq_cst)) inject(p);
  std::deque<process*> left;
  {
    std::lock_guard lock{w.lock};
    left.swap(w.queue);
    w.queued.store(0, std::memory_order_seq_cst);
  }
  for (process* p : left) inject(p);
}

thread_scheduler::worker* thread_scheduler::add_worker() {
  std::lock_guard lock{add_mutex_};
  unsigned n = count_.load(std::memory_order_relaxed);
  if (n == max_workers) return nullptr;
  auto w = std::make_unique<worker>();
  w->owner = this;
  w->index = n;
  worker* raw = w.get();
  workers_[n] = std::move(w);
  count_.store(n + 1, std::memory_order_release);
  raw->thread = std::thread{[this, raw] { run(*raw); }};
  return raw;
}

void thread_scheduler::handler_budget_hint(std::chrono::milliseconds budget) {
  const std::int64_t ms = budget.count();
  std::int64_t seen = shortest_budget_ms_.load(std::memory_order_relaxed);
  while (ms > 0 && ms < seen) {
    if (shortest_budget_ms_.compare_exchange_weak(seen, ms, std::memory_order_relaxed)) {
      std::lock_guard lock{watchdog_mutex_};  // the watchdog may be asleep for the old interval
      watchdog_cv_.notify_all();
      return;
    }
  }
}

void thread_scheduler::watch() {
  std::unique_lock lock{watchdog_mutex_};
  while (!stopping_.load(std::memory_order_relaxed)) {
    // Look a few times per budget: a runaway handler is caught between 1 and 1.25 budgets. The
    // shortest budget counts, or a process's own shorter budget would wait for the runtime's.
    auto shortest = std::chrono::milliseconds{shortest_budget_ms_.load(std::memory_order_relaxed)};
    auto interval = std::max(std::chrono::milliseconds{1}, shortest / 4);
    watchdog_cv_.wait_for(lock, interval);
    if (stopping_.load(std::memory_order_relaxed)) break;
    auto now = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < worker_count(); ++i) {
      worker& w = *workers_[i];
      if (w.signals.abandoned.load(std::memory_order_relaxed)) continue;
      std::uint64_t handler = w.signals.handler.load(std::memory_order_relaxed);
      if ((handler & 1) == 0 || handler != w.seen_handler) {  // idle, or a new handler since
        w.seen_handler = handler;
        w.seen_since = now;
        continue;
      }
      std::uint64_t running = w.signals.running.load(std::memory_order_relaxed);
      pid p{static_cast<std::uint32_t>(running), static_cast<std::uint32_t>(running >> 32)};
      auto budget = handler_budget_;
      if (auto own = rt_.handler_budget_of(p); own.count() > 0) budget = own;
      if (now - w.seen_since >= budget) abandon(w, handler);
    }
  }
}

void thread_scheduler::abandon(worker& w, std::uint64_t handler) {
  // Claim the handler: fails if it has returned since we looked (then nothing happens).
  if (!w.signals.handler.compare_exchange_strong(handler, handler_abandoned, std::memory_order_acq_rel)) return;
  // The thread is frozen inside a handler of the process it is running, so `running` is stable
  // and the process alive (it can only end on that thread, or here).
  std::uint64_t running = w.signals.running.load(std::memory_order_acquire);
  pid id{static_cast<std::uint32_t>(running), static_cast<std::uint32_t>(running >> 32)};
  process* p = rt_.table.pin(id);  // held until the stuck thread returns (retire unpins)
  if (p != nullptr) w.hung_pid = running;
  w.signals.abandoned.store(true, std::memory_order_seq_cst);
  threads_.fetch_sub(1, std::memory_order_relaxed);
  if (process* next = w.run_next.exchange(nullptr, std::memory_order_seq_cst)) inject(next);
  if (add_worker() != nullptr) threads_.fetch_add(1, std::memory_order_relaxed);
  auto budget = rt_.handler_budget_of(id);
  if (budget.count() == 0) budget = handler_budget_;
  rt_.owner.log("watchdog: " + id.to_string() + " ran one handler for more than " + std::to_string(budget.count()) +
                " ms; it exits with reason hung and a new scheduler thread takes its place");
  if (p != nullptr) process_ops::exit_hung(*p);
  wake_one();  // the stuck thread's own queue is stealable: have someone take it
}

}  // namespace respawn::detail
