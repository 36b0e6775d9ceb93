// client_context: what the client commands take from the outside world — output streams, the
// environment, whether they talk to a terminal, time and randomness — passed in rather than
// reached for, so that tests run the real commands against a fake server with their own streams,
// a fast backoff and fixed keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "backoff.hpp"
#include "http_connection.hpp"
#include "settings.hpp"

namespace respawn::client {

struct client_context {
  std::ostream& out;  // results: job JSON, events, the job table
  std::ostream& err;  // diagnostics, retry notices, the progress line on a terminal
  environment env = process_environment();
  bool tty = false;   // both streams are a terminal: show the one-line progress display
  backoff_policy retry_backoff{};
  std::uint64_t seed = 0;  // the backoff's jitter; 0: a random seed
  http_timeouts timeouts{};
  std::function<void(std::chrono::milliseconds)> sleep{};  // empty: std::this_thread::sleep_for
  std::function<std::string()> new_key{};                   // empty: a random UUID v4
};

// The commands of client_command() with an explicit context; argv[0] is the command.
int run_client(int argc, char** argv, client_context& context);

}  // namespace respawn::client
