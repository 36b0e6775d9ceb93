// dedicated_runner: see the header.
#include "dedicated_runner.hpp"

#include <thread>

#include "runtime_impl.hpp"

namespace respawn::detail {

std::shared_ptr<dedicated_runner> dedicated_runner::start(process& p, std::uint32_t messages_per_turn,
                                                          std::atomic<int>& running) {
  auto runner = std::make_shared<dedicated_runner>();
  // Detached: the process may be freed on this very thread, so nobody could join it. The thread
  // holds its own reference to the runner; after it counts itself out of `running` it touches
  // nothing of the runtime's.
  running.fetch_add(1, std::memory_order_acq_rel);
  std::thread{[runner, &p, messages_per_turn, &running] { runner->run(p, messages_per_turn, running); }}.detach();
  return runner;
}

void dedicated_runner::wake() {
  {
    std::lock_guard lock{mutex_};
    pending_ = true;
  }
  woken_.notify_one();
}

void dedicated_runner::run(process& p, std::uint32_t messages_per_turn, std::atomic<int>& running) {
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
    if (outcome == resume_outcome::exited) {
      running.fetch_sub(1, std::memory_order_acq_rel);  // the last touch of the runtime
      return;
    }
  }
}

}  // namespace respawn::detail
