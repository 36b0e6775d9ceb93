// pool_harness: what the node-side worker tests share: a threaded runtime, a scoped process to
// receive outcomes and down messages on, the test worker binaries, and bounded waits (every wait
// has a deadline, so a hang fails the test instead of stalling CI).
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "respawn/runtime.hpp"
#include "respawn/worker_pool.hpp"

namespace pool_test {

using namespace std::chrono_literals;

inline const std::string worker_v1 = TEST_WORKER_V1;
inline const std::string worker_v2 = TEST_WORKER_V2;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

// Generous: sanitizer builds start workers and run tasks several times slower.
inline constexpr auto patience = 30s;

inline respawn::runtime_config config() {
  respawn::runtime_config c;
  c.scheduler_threads = 2;
  c.crash_reports = false;
  return c;
}

inline respawn::worker_options options(const std::string& binary = worker_v1) {
  respawn::worker_options o;
  o.binary = binary;
  return o;
}

inline respawn::task_request task(std::uint64_t id, std::string kind, std::string args, respawn::pid reply_to,
                                  respawn::task_limits limits = {}) {
  respawn::task_request t;
  t.id = id;
  t.kind = std::move(kind);
  t.args = std::move(args);
  t.reply_to = reply_to;
  t.limits = limits;
  return t;
}

// Polls `done` until it holds or `limit` passes; false on timeout.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = patience) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// Our child processes, in any state (a zombie is one too), from /proc.
inline std::size_t child_processes(bool zombies_only = false) {
  std::size_t n = 0;
  pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream stat{std::string{"/proc/"} + e->d_name + "/stat"};
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == self && (!zombies_only || state == 'Z')) ++n;
  }
  ::closedir(d);
  return n;
}

inline bool os_process_gone(pid_t p) {
  return ::access(("/proc/" + std::to_string(p)).c_str(), F_OK) != 0;
}

}  // namespace pool_test
