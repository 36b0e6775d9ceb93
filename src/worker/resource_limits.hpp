// resource_limits: a task's memory and CPU limits, in force from construction to destruction.
//
// Memory: RLIMIT_AS's soft limit becomes the address space the worker already uses plus the
// task's limit, so the task (not the worker's own threads and libraries) gets `memory_limit_mb`
// more. An allocation past it fails; the executor turns the std::bad_alloc into the
// exit_memory_limit exit code, which the node reports as "killed over its memory limit". There is
// no cgroup memory limit (docs/workers.md): this one works anywhere, unprivileged. It does not
// work under ASan or TSan, whose shadow memory makes the address space meaningless.
//
// CPU: RLIMIT_CPU's soft limit becomes the CPU seconds used so far (rounded up) plus the task's
// limit. Past it the kernel sends SIGXCPU, whose default action ends the worker: that is the
// point, a runaway task cannot be stopped any other way without the node's help.
//
// Both soft limits are put back afterwards, so the next task starts with the worker's own limits.
// The limits are per process: while one is in force, every thread of the worker lives under it,
// which is why memory_limit_in_force() is a process-wide flag the reader and writer check too.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <sys/resource.h>
#include <unistd.h>

namespace respawn::detail {

// thread-safe: true while some task runs under a memory limit.
inline std::atomic<bool>& memory_limit_in_force() {
  static std::atomic<bool> flag{false};
  return flag;
}

class resource_limits {
 public:
  // Throws std::system_error if a limit cannot be set (the task then fails, unlimited).
  resource_limits(std::uint32_t memory_limit_mb, std::uint32_t cpu_limit_s) {
    if (cpu_limit_s > 0) {
      limit(RLIMIT_CPU, cpu_seconds_used() + cpu_limit_s, old_cpu_);
      cpu_set_ = true;
    }
    if (memory_limit_mb > 0) {
      // Raised before the limit: an allocation that fails on another thread from the moment it
      // holds must be reported as the limit's doing.
      memory_limit_in_force().store(true);
      try {
        limit(RLIMIT_AS, address_space_bytes() + rlim_t{memory_limit_mb} * 1024 * 1024, old_memory_);
      } catch (...) {
        // No destructor runs for a constructor that throws: undo what was done here.
        memory_limit_in_force().store(false);
        if (cpu_set_) restore(RLIMIT_CPU, old_cpu_);
        throw;
      }
      memory_set_ = true;
    }
  }

  ~resource_limits() {
    if (memory_set_) {
      restore(RLIMIT_AS, old_memory_);
      memory_limit_in_force().store(false);
    }
    if (cpu_set_) restore(RLIMIT_CPU, old_cpu_);
  }

  bool memory_limited() const noexcept { return memory_set_; }

  resource_limits(const resource_limits&) = delete;
  resource_limits& operator=(const resource_limits&) = delete;

 private:
  // Field 1 of /proc/self/statm: the whole virtual address space, in pages.
  static rlim_t address_space_bytes() {
    std::FILE* statm = std::fopen("/proc/self/statm", "r");
    if (statm == nullptr) throw std::system_error{errno, std::generic_category(), "/proc/self/statm"};
    unsigned long long pages = 0;
    int fields = std::fscanf(statm, "%llu", &pages);
    std::fclose(statm);
    if (fields != 1) throw std::system_error{EIO, std::generic_category(), "/proc/self/statm"};
    return static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
  }

  static rlim_t cpu_seconds_used() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    long long micros = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000LL +
                       usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
    return static_cast<rlim_t>((micros + 999'999) / 1'000'000);
  }

  static void limit(int resource, rlim_t soft, rlimit& old) {
    if (::getrlimit(resource, &old) != 0) throw std::system_error{errno, std::generic_category(), "getrlimit"};
    rlimit next = old;
    // A lower limit set on the worker from outside still holds: we only ever tighten.
    if (next.rlim_cur == RLIM_INFINITY || soft < next.rlim_cur) next.rlim_cur = soft;
    if (::setrlimit(resource, &next) != 0) throw std::system_error{errno, std::generic_category(), "setrlimit"};
  }

  static void restore(int resource, const rlimit& old) {
    // Only the soft limit was lowered, and raising a soft limit up to the unchanged hard limit
    // cannot fail; if it did, the worker would go on with a wrong limit, so crash instead.
    if (::setrlimit(resource, &old) != 0) {
      std::perror("respawn worker: restoring a task's resource limit");
      std::abort();
    }
  }

  rlimit old_memory_{};
  rlimit old_cpu_{};
  bool memory_set_ = false;
  bool cpu_set_ = false;
};

}  // namespace respawn::detail
