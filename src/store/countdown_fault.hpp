// Countdown fault injection, SQLite's own testing habit: count every statement the store steps
// and every commit it attempts, and make the Nth fail — once, or from then on (persistent). A test
// runs a fixed workload for N = 1, 2, ... until a run reaches no fault, so every statement of the
// workload is made to fail at least once, and checks each run ends cleanly with its log intact.
//
// Thread-safe: the writer thread and readers share one counter.
#pragma once

#include <atomic>
#include <cstdint>

namespace respawn::store {

class countdown_fault {
 public:
  enum class mode : std::uint8_t { once, persistent };

  countdown_fault(std::uint64_t fail_at, mode how) : fail_at_(fail_at), mode_(how) {}

  // Called before each statement step and commit: true means "fail this one".
  bool should_fail() {
    const std::uint64_t call = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
    const bool fail = call == fail_at_ || (mode_ == mode::persistent && call > fail_at_);
    if (fail) fired_.store(true, std::memory_order_relaxed);
    return fail;
  }

  bool fired() const { return fired_.load(std::memory_order_relaxed); }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  const std::uint64_t fail_at_;
  const mode mode_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<bool> fired_{false};
};

}  // namespace respawn::store
