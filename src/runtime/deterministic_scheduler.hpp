// deterministic_scheduler: no threads. Runnable processes wait in one FIFO queue and run only
// when the test calls step(), one message at a time, so a test controls every interleaving and
// a run is the same every time. Used with the timer service's manual clock.
#pragma once

#include <deque>
#include <mutex>

#include "scheduler.hpp"

namespace respawn::detail {

class deterministic_scheduler final : public scheduler {
 public:
  void schedule(process* p) override;
  void start() override {}
  void stop() override {}
  unsigned threads() const noexcept override { return 0; }

  // Runs the first runnable process for one message. false if none was runnable.
  bool step();
  bool idle() const;

 private:
  // A mutex although one thread steps: other threads (a timer, a test helper) may still send.
  mutable std::mutex mutex_;
  std::deque<process*> runnable_;
};

}  // namespace respawn::detail
