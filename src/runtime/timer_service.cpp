// timer_service: see the header. Messages are sent outside the mutex, so a send that wakes a
// process (or, in deterministic mode, anything it does) never runs under the timer lock.
#include "timer_service.hpp"

#include <vector>

#include "runtime_impl.hpp"

namespace respawn::detail {

timer_service::timer_service(runtime_impl& rt, bool manual) : rt_{rt}, manual_{manual} {}

timer_service::~timer_service() {
  stop();
  for (auto& [id, e] : entries_) destroy(e.msg);
}

void timer_service::start() {
  if (!manual_) thread_ = std::thread{[this] { run(); }};
}

void timer_service::stop() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

timer_service::clock::time_point timer_service::now() const {
  if (!manual_) return clock::now();
  std::lock_guard lock{mutex_};
  return manual_now_;
}

timer_ref timer_service::add(pid to, std::chrono::milliseconds delay, message* m) {
  if (delay.count() < 0) delay = std::chrono::milliseconds{0};
  std::uint64_t id;
  bool earliest;
  {
    std::lock_guard lock{mutex_};
    id = next_id_++;
    auto deadline = (manual_ ? manual_now_ : clock::now()) + delay;
    auto at = deadlines_.emplace(deadline, id);
    entries_.emplace(id, entry{to, m, at});
    earliest = at == deadlines_.begin();
  }
  if (earliest && !manual_) changed_.notify_one();
  return timer_ref{id};
}

bool timer_service::cancel(timer_ref ref) {
  message* m = nullptr;
  {
    std::lock_guard lock{mutex_};
    auto it = entries_.find(ref.value);
    if (it == entries_.end()) return false;
    deadlines_.erase(it->second.at);
    m = it->second.msg;
    entries_.erase(it);
  }
  destroy(m);
  return true;
}

void timer_service::fire_due() {
  std::vector<entry> due;
  {
    std::lock_guard lock{mutex_};
    auto now = manual_ ? manual_now_ : clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto it = entries_.find(deadlines_.begin()->second);
      due.push_back(it->second);
      entries_.erase(it);
      deadlines_.erase(deadlines_.begin());
    }
  }
  for (entry& e : due) rt_.send(e.to, e.msg, pid{});
}

void timer_service::advance(std::chrono::milliseconds by) {
  clock::time_point target;
  {
    std::lock_guard lock{mutex_};
    target = manual_now_ + by;
  }
  advance_to(target);
}

void timer_service::advance_to(clock::time_point t) {
  // Step through deadlines one at a time so that timers fire in order even when one timer's
  // message leads (after stepping) to new timers; here no process runs, so it is simply ordered.
  {
    std::lock_guard lock{mutex_};
    if (t > manual_now_) manual_now_ = t;
  }
  fire_due();
}

std::optional<timer_service::clock::time_point> timer_service::next_deadline() const {
  std::lock_guard lock{mutex_};
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void timer_service::run() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    if (deadlines_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto next = deadlines_.begin()->first;
    if (next > clock::now()) {
      changed_.wait_until(lock, next);
      continue;
    }
    lock.unlock();
    fire_due();
    lock.lock();
  }
}

}  // namespace respawn::detail
