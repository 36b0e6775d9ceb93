// thread_scheduler: see the header for the design (run_next, stealing, spin-then-sleep).
#include "thread_scheduler.hpp"

#include "runtime_impl.hpp"

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
// How long an idle worker looks for work before it sleeps: long enough to catch the next message
// of a busy exchange (a futex wake costs microseconds), short enough not to burn an idle core.
constexpr int spin_rounds = 1024;
}  // namespace

void spinlock::lock() noexcept {
  for (;;) {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    while (locked_.load(std::memory_order_relaxed)) RESPAWN_CPU_RELAX();
  }
}

thread_scheduler::thread_scheduler(unsigned threads, std::uint32_t messages_per_turn)
    : messages_per_turn_{messages_per_turn} {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<worker>();
    w->owner = this;
    w->index = i;
    workers_.push_back(std::move(w));
  }
}

thread_scheduler::~thread_scheduler() { stop(); }

void thread_scheduler::start() {
  for (auto& w : workers_) {
    worker* raw = w.get();
    w->thread = std::thread{[this, raw] { run(*raw); }};
  }
}

void thread_scheduler::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock{sleep_mutex_};
    sleep_cv_.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void thread_scheduler::schedule(process* p) {
  auto* w = static_cast<worker*>(current_worker);
  if (w != nullptr && w->owner == this) {
    // The newest wake-up runs next on this core; the one it displaces becomes stealable.
    if (w->run_next != nullptr) push_local(*w, w->run_next);
    w->run_next = p;
    return;
  }
  {
    std::lock_guard lock{inject_mutex_};
    injected_.push_back(p);
    injected_count_.store(injected_.size(), std::memory_order_seq_cst);
  }
  if (sleeping_.load(std::memory_order_seq_cst) > 0) wake_one();
}

void thread_scheduler::before_blocking() {
  // The thread is about to block inside a handler: what it would have run next must not wait
  // for it (the process it is waiting for may be that very one).
  auto* w = static_cast<worker*>(current_worker);
  if (w == nullptr || w->owner != this) return;
  if (w->run_next != nullptr) {
    push_local(*w, w->run_next);
    w->run_next = nullptr;
  }
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
  if (wake_tokens_ < static_cast<int>(workers_.size())) ++wake_tokens_;
  sleep_cv_.notify_one();
}

bool thread_scheduler::work_visible() const noexcept {
  if (injected_count_.load(std::memory_order_seq_cst) > 0) return true;
  for (const auto& w : workers_) {
    if (w->queued.load(std::memory_order_seq_cst) > 0) return true;
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
  const std::size_t n = workers_.size();
  for (std::size_t k = 1; k < n; ++k) {
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
  if (w.run_next != nullptr) {
    if (++w.run_next_streak <= messages_per_turn_ || w.queued.load(std::memory_order_relaxed) == 0) {
      process* p = w.run_next;
      w.run_next = nullptr;
      return p;
    }
    // Fairness: run_next has had its share; it queues behind the others.
    push_local(w, w.run_next);
    w.run_next = nullptr;
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
  spinning_.fetch_add(1, std::memory_order_seq_cst);
  for (int round = 0; round < spin_rounds; ++round) {
    if (work_visible() || stopping_.load(std::memory_order_relaxed)) {
      // The last spinner to find work passes the baton, so queued work never waits on a sleeper.
      if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1 && sleeping_.load(std::memory_order_seq_cst) > 0) {
        wake_one();
      }
      return;
    }
    for (int i = 0; i < 8; ++i) RESPAWN_CPU_RELAX();
  }
  (void)w;
  spinning_.fetch_sub(1, std::memory_order_seq_cst);
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
  while (!stopping_.load(std::memory_order_relaxed)) {
    process* p = find_work(w);
    if (p == nullptr) {
      idle(w);
      continue;
    }
    if (process_ops::resume(*p, messages_per_turn_) == resume_outcome::yielded) push_local(w, p);
  }
  current_worker = nullptr;
}

}  // namespace respawn::detail
