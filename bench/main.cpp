// respawn-bench: the runtime scenarios of ../shared/bench/RUNTIME.md (spawn, pingpong, ring,
// fanin, restart, memory), one per run, one JSON line on stdout -- the same definitions and keys as the
// Erlang/OTP and CAF reference implementations in ../shared/peers/runtime, so that results
// compare 1:1 (scripts/bench, scripts/bench-peers, docs/BENCHMARKS.md).
#include <cstdio>
#include <string>

#include "common.hpp"
#include "respawn/kinds.hpp"

int main(int argc, char** argv) {
  // worker_roundtrip's pool runs this very binary as its workers.
  if (argc > 1 && std::string{argv[1]} == "worker") return respawn::main(argc, argv, respawn::builtin_kinds());
  if (argc > 1 && std::string{argv[1]} == "jobs") return rb::run_jobs(argc, argv);
  if (argc > 1 && std::string{argv[1]} == "jobs-node") return rb::run_jobs_node(argc, argv);  // recovery's nodes
  rb::options o = rb::parse_args(argc, argv);
  const std::string& s = o.scenario;
  if (s == "spawn") return rb::run_spawn(o);
  if (s == "pingpong") return rb::run_pingpong(o);
  if (s == "ring") return rb::run_ring(o);
  if (s == "fanin") return rb::run_fanin(o);
  if (s == "memory") return rb::run_memory(o);
  if (s == "restart") return rb::run_restart(o);
  if (s == "worker_roundtrip") return rb::run_worker_roundtrip(o);
  std::fprintf(stderr,
               "respawn-bench: unknown scenario '%s' (spawn, pingpong, ring, fanin, restart, memory, worker_roundtrip)\n",
               s.c_str());
  return 2;
}
