// heart: the small parent process that keeps a node alive (Erlang's heart, DESIGN.md §6). It
// starts the node as its child and starts it again whenever it dies -- crashed, killed, or hung:
// the node writes a heartbeat byte to a pipe every second from a runtime process, so a node whose
// schedulers are stuck stops beating and is SIGKILLed after `beat_timeout`. Like a supervisor it
// has a restart intensity: more than `intensity` restarts within `period` and heart gives up
// (exit 1), since a node that cannot stay up should page a human, not spin.
//
// Signals: SIGTERM and SIGINT are passed to the node, which drains and exits 0; heart then exits
// with the node's code. SIGHUP is passed on too (hot code upgrade of the workers).
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
