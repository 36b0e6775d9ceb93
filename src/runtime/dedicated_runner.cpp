// dedicated_runner: see the header.
#include "dedicated_runner.hpp"

#include <thread>

#include "runtime_impl.hpp"

namespace respawn::detail {

std::shared_ptr<dedicated_runner> dedicated_runner::start(process& p, std::uint32_t messages_per_turn) {
  auto runner = std::make_shared<dedicated_runner>();
  // Detached: the process may be freed on this very thread, so nobody could join it. The thread
  // holds its own reference to the runner and touches nothing else after the process ends.
  std::thread{[runner, &p, messages_per_turn] { runner->run(p, messages_per_turn); }}.detach();
  return runner;
}

void dedicated_runner::wake() {
  {
    std::lock_guard lock{mutex_};
    pending_ = true;
  }
  woken_.notify_one();
}

void dedicated_runner::run(process& p, std::uint32_t messages_per_turn) {
  for (;;) {
    {
      std::unique_lock lock{mutex_};
      woken_.wait(lock, [this] { return pending_; });
      pending_ = false;
    }
    resume_outcome outcome;
    do {
      outcome = process_ops::resume(p, messages_per_turn);
    } while (outcome == resume_outcome::yielded);
    if (outcome == resume_outcome::exited) return;
  }
}

}  // namespace respawn::detail
