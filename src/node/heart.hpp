// heart: the small parent process that keeps a node alive (Erlang's heart, DESIGN.md §6). It
// starts the node as its child and starts it again whenever it dies -- crashed, killed, or hung:
// the node writes a heartbeat byte to a pipe every second from a runtime process, so a node whose
// schedulers are stuck stops beating and is SIGKILLed after `beat_timeout`.
//
// Restarts back off exponentially: the first after `backoff_initial`, each next one after twice
// the last, up to `backoff_max`; a node that stayed up `stable_after` resets the delay. Heart never
// gives up for good on a crash loop (the fault may be transient: a full disk, a database being
// restored) and logs every restart loudly on stderr with its delay, so that a loop is seen. A node
// that exits 78 (EX_CONFIG: it cannot start with this configuration) is not started again; nor is
// one that exits 0 (it stopped by request).
//
// Signals: SIGTERM and SIGINT are passed to the node, which drains and exits 0; heart then exits
// with the node's code. A node still running `stop_timeout` after it was asked to stop is
// SIGKILLed (heart then exits 1). SIGTERM or SIGINT while heart waits out a backoff delay: heart
// exits 0 without starting the node again. SIGHUP is passed on too (hot code upgrade of the
// workers).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace respawn::node {

struct heart_options {
  std::chrono::milliseconds backoff_initial{1000};  // the delay before the first restart ...
  std::chrono::milliseconds backoff_max{60000};     // ... doubling at each crash in a row, to this
  std::chrono::milliseconds stable_after{60000};    // a node up this long resets the delay
  std::chrono::milliseconds beat_timeout{30000};    // no heartbeat this long: the node is hung
  std::chrono::milliseconds stop_timeout{60000};    // asked to stop and still running: SIGKILL
  bool quiet = false;                                // no "heart: ..." lines on stderr
};

// The environment variable through which the node finds heart's pipe (a file descriptor number).
inline constexpr const char* heart_fd_env = "RESPAWN_HEART_FD";

// Runs `argv` (argv[0]: the program's path) under heart until it exits by request (0), cannot
// start (78), or heart is asked to stop; returns heart's exit code.
int run_heart(const std::vector<std::string>& argv, const heart_options& options);

// In the node: the heartbeat pipe heart gave it, or -1 when not under heart.
int heart_fd_from_environment();

}  // namespace respawn::node
