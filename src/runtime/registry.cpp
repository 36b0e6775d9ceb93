// registry: see the header. Lock order: the registry's mutex, then a process's extras mutex.
#include "registry.hpp"

#include <mutex>
#include <thread>

#include "runtime_impl.hpp"

namespace respawn::detail {

void registry::lock_type::lock() noexcept {
  for (int spins = 0;; ++spins) {
    if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return;
    if (spins >= 64) std::this_thread::yield();  // the holder may have been preempted
  }
}

bool registry::add(const std::string& name, pid p, process_table& table) {
  if (name.empty()) return false;
  std::lock_guard lock{mutex_};
  if (names_.count(name) != 0) return false;
  process* proc = table.pin(p);
  if (proc == nullptr) return false;
  bool added = false;
  if (process_extras* x = process_ops::extras_if_alive(*proc)) {
    std::lock_guard xlock{x->mutex};
    if (!x->exiting && x->name.empty()) {
      x->name = name;
      names_.emplace(name, p);
      added = true;
    }
  }
  table.unpin(p.index);
  return added;
}

bool registry::remove(const std::string& name, process_table& table) {
  std::lock_guard lock{mutex_};
  auto it = names_.find(name);
  if (it == names_.end()) return false;
  pid p = it->second;
  names_.erase(it);
  if (process* proc = table.pin(p)) {
    if (process_extras* x = process_ops::extras_if_alive(*proc)) {
      std::lock_guard xlock{x->mutex};
      if (x->name == name) x->name.clear();
    }
    table.unpin(p.index);
  }
  return true;
}

pid registry::whereis(const std::string& name) const {
  std::lock_guard lock{mutex_};
  auto it = names_.find(name);
  return it == names_.end() ? pid{} : it->second;
}

void registry::release(const std::string& name, pid p) {
  std::lock_guard lock{mutex_};
  auto it = names_.find(name);
  if (it != names_.end() && it->second == p) names_.erase(it);
}

}  // namespace respawn::detail
