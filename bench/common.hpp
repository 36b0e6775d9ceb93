// common: what every scenario of respawn-bench shares -- the command line, the JSON line, VmRSS,
// the message tags, and run_driver(), which starts a scenario's driver process and waits for
// its timing. Kept in one place so that the scenario files only hold the scenario itself and
// the output matches ../shared/bench/RUNTIME.md (and the CAF/Erlang peers) key for key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "respawn/pid.hpp"
#include "respawn/runtime.hpp"

namespace rb {

using clk = std::chrono::steady_clock;

inline double seconds_between(clk::time_point a, clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The parsed command line. Sizes default to RUNTIME.md's; threads to the number of cores.
struct options {
  std::string scenario;
  std::int64_t n = 0;  // set per scenario when not given (spawn/memory: 1e6, ring: 1000)
  std::int64_t m = 1000000;
  std::int64_t p = 1000;
  std::int64_t k = 1000;
  std::int64_t r = 100000;
  unsigned threads = 0;
  bool n_given = false;
  bool p_given = false;
  bool k_given = false;
};

// Parses argv; on a bad argument prints why (and the usage) to stderr and exits with 2.
options parse_args(int argc, char** argv);

// A runtime with `o.threads` scheduler threads.
respawn::runtime_config config_for(const options& o);

// VmRSS of this process in bytes, from /proc/self/status (-1 if unreadable).
std::int64_t rss_bytes();

// One JSON line, keys in insertion order: {"runtime":"respawn","bench":...,"workers":...,...}.
class json_line {
 public:
  json_line(const char* bench, unsigned workers);
  json_line& num(const char* key, std::int64_t v);
  json_line& real(const char* key, double v, int decimals);
  // seconds, per_op_ns, ops_per_s
  json_line& timing(double seconds, std::int64_t ops);
  void print() const;  // to stdout, flushed

 private:
  void key(const char* k);
  std::string out_;
};

// --- message tags (a tag struct plus at most one integer; the sender pid travels in the header) ---
struct start {};
struct done {};
struct stop_msg {};
struct result {
  double seconds;
};

// Sends `start` to the driver and waits (generously) for its `result`. The driver must send
// `result` to the pid it was given as reporter. Exits the program with 1 on a timeout.
double run_driver(respawn::runtime& rt, respawn::scoped_process& reporter, respawn::pid driver);

// Generous upper bound for one scenario's timed part.
inline constexpr std::chrono::milliseconds driver_timeout{std::chrono::minutes{20}};

// --- the scenarios (one file each); each prints its JSON line and returns the exit code ---
int run_spawn(const options& o);
int run_pingpong(const options& o);
int run_ring(const options& o);
int run_fanin(const options& o);
int run_memory(const options& o);
int run_restart(const options& o);
int run_worker_roundtrip(const options& o);
// jobs has options of its own (--scenario noop|latency): it parses argv itself.
int run_jobs(int argc, char** argv);
// jobs --scenario recovery (jobs_recovery.cpp) and the child nodes it kills and restarts.
int run_recovery(std::size_t n, std::size_t running);
int run_jobs_node(int argc, char** argv);

}  // namespace rb
