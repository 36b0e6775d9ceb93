// dedicated_runner: a thread of its own for one process (spawn_options::dedicated_thread), for
// handlers that block (a database call, a call() to another process) or run long on purpose.
// Such a process cannot stall the shared scheduler threads, and the watchdog leaves it alone.
// The thread keeps the runner alive and ends when its process ends.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

namespace respawn {
class process;
}

namespace respawn::detail {

class dedicated_runner : public std::enable_shared_from_this<dedicated_runner> {
 public:
  // `running` counts the dedicated threads still alive; the runtime waits for it to reach zero
  // before it is destroyed (the thread may be freeing its process after the live count dropped).
  static std::shared_ptr<dedicated_runner> start(process& p, std::uint32_t messages_per_turn,
                                                 std::atomic<int>& running);
  // The process has mail (or is new): run it. thread-safe
  void wake();

 private:
  void run(process& p, std::uint32_t messages_per_turn, std::atomic<int>& running);

  std::mutex mutex_;
  std::condition_variable woken_;
  bool pending_ = false;
};

}  // namespace respawn::detail
