// exit_codes: the exit codes a `respawn worker` process reserves to tell its node why it ended
// (anything else is the code a task's own code passed to exit()). The node turns them into the
// owner's exit reason (worker_process.cpp).
#pragma once

namespace respawn::wire {

inline constexpr int exit_ok = 0;             // the node closed the socket: a clean stop
inline constexpr int exit_usage = 64;         // bad command line (EX_USAGE)
inline constexpr int exit_orphaned = 65;      // started with no living node (parent check)
inline constexpr int exit_memory_limit = 86;  // a task ran out of its memory limit
inline constexpr int exit_protocol = 87;      // the node sent a malformed frame
inline constexpr int exit_socket = 88;        // reading or writing the socket failed

}  // namespace respawn::wire
