// registry: process names (Erlang's register/whereis/unregister). A name is released when its
// process ends (process_ops::exit calls release()).
//
// The lock is a spinlock that yields the CPU after a short spin, not std::shared_mutex: every
// critical section is one hash-map operation, and glibc's reader-writer lock sent writers to
// sleep in the kernel while a reader polled (a process waiting for a restarted child to
// re-register, as the restart benchmark does), which made each restart ~10x slower.
#pragma once

#include <atomic>
#include <string>
#include <unordered_map>

#include "respawn/pid.hpp"

namespace respawn::detail {

class process_table;

class registry {
 public:
  // All thread-safe.
  bool add(const std::string& name, pid p, process_table& table);
  bool remove(const std::string& name, process_table& table);
  pid whereis(const std::string& name) const;
  // The process `p` has ended: drop `name` if it still names `p`.
  void release(const std::string& name, pid p);

 private:
  class lock_type {
   public:
    void lock() noexcept;
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

   private:
    std::atomic<bool> locked_{false};
  };
  mutable lock_type mutex_;
  std::unordered_map<std::string, pid> names_;
};

}  // namespace respawn::detail
