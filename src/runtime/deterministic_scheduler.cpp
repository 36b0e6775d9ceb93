// deterministic_scheduler: see the header.
#include "deterministic_scheduler.hpp"

#include "runtime_impl.hpp"

namespace respawn::detail {

void deterministic_scheduler::schedule(process* p) {
  std::lock_guard lock{mutex_};
  runnable_.push_back(p);
}

bool deterministic_scheduler::step() {
  process* p;
  {
    std::lock_guard lock{mutex_};
    if (runnable_.empty()) return false;
    p = runnable_.front();
    runnable_.pop_front();
  }
  if (process_ops::resume(*p, 1) == resume_outcome::yielded) schedule(p);
  return true;
}

bool deterministic_scheduler::idle() const {
  std::lock_guard lock{mutex_};
  return runnable_.empty();
}

}  // namespace respawn::detail
