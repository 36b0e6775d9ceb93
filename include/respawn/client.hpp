// client: the `respawn submit | watch | jobs | cancel | input` commands, a client of a node's HTTP API
// (docs/cli.md). Submissions survive a client crash: the idempotency key is written to a journal
// on disk before the request is sent, and running the same command again resubmits with the same
// key, so the node answers with the job it already has instead of making a second one.
#pragma once

namespace respawn::client {

// argv[0] is "submit", "watch", "jobs", "cancel" or "input"; the rest are that command's arguments.
// Returns the process exit code (exit_code below; docs/cli.md).
int client_command(int argc, char** argv);

namespace exit_code {
inline constexpr int ok = 0;              // done; for submit --wait and watch: the job succeeded
inline constexpr int error = 1;           // anything unexpected: a server error, a bad answer, the journal
inline constexpr int job_dead = 3;        // the job used up its attempts (or failed for good)
inline constexpr int job_cancelled = 4;   // the job was cancelled
inline constexpr int refused = 5;         // the server refused the request (400, 409, ...): not submitted
inline constexpr int unauthorized = 6;    // 401 or 403: no token, a wrong one, or a revoked one
inline constexpr int not_found = 7;       // no such job
inline constexpr int unreachable = 8;     // gave up retrying (--retry-for) on a down or overloaded server
inline constexpr int usage = 64;          // bad command line or configuration (EX_USAGE)
}  // namespace exit_code

}  // namespace respawn::client
