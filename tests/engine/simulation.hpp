// The engine's seeded deterministic simulation (issue 5): a whole node — dispatcher, job
// processes, their supervisors and a real SQLite store — on the deterministic runtime, with
// simulated worker processes in place of the pool and a store seam that fails writes on a plan.
// One seed decides everything: what submitters send and when, which attempts succeed, throw,
// crash their worker or hang until their deadline, which writes fail, and after how many steps the
// node dies. Nothing runs on its own: the test's thread steps the system and moves its clock, so
// a seed replays the same run, event for event (simulation.test.cpp checks that too).
//
// Why simulated workers: real OS processes and their timing cannot be replayed; what the engine
// must get right is what it does with each outcome, and the pool's messages are its whole
// interface to them (the real pool has its own tests under tests/worker).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "respawn/engine.hpp"
#include "respawn/runtime.hpp"
#include "store/job_store.hpp"

namespace respawn::sim {

// How writes fail. Countdown (SQLite's habit): the Nth write fails, once or from then on; or a
// seeded rate. A failed write writes nothing, as the seam promises.
struct fault_plan {
  std::uint64_t fail_at = 0;  // 1-based write number; 0: none
  bool persistent = false;    // every write from fail_at on fails
  double rate = 0.0;          // besides: each write fails with this probability
};

// What survives a node restart: the seed's random stream, the clock's time so far, the fault
// plan, and what the simulated workers saw.
struct world {
  explicit world(std::uint64_t s) : seed{s}, random{s} {}
  std::uint64_t seed;
  std::mt19937_64 random;
  std::chrono::milliseconds elapsed_before{0};  // time lived by earlier nodes
  fault_plan faults{};
  std::uint64_t writes = 0;      // writes seen at the seam, all nodes
  std::uint64_t faults_hit = 0;  // writes failed on purpose
  std::map<jobs::job_id, std::uint32_t> handed_to_worker;  // tasks the pool received, per job
  std::map<jobs::job_id, std::uint32_t> started;           // ... and started (task_started), per job
  std::size_t workers = 3;  // simulated workers: tasks beyond wait in the pool, unstarted
  unsigned give_back_pct = 3;  // of tasks about to start: given back unstarted (worker_died) instead
  // One attempt at a time: a task handed to the pool while another of the same job still ran.
  std::vector<std::string> overlaps;
  // Submissions commit and are answered (the writer's callback) 0..2 ms after they are sent, and
  // in this share of them (out of 100) the dispatcher is killed inside that window; the commit
  // then lands after its replacement's recovery read, its answer addressed to the dead one.
  unsigned commit_crash_pct = 0;
  std::uint64_t commit_crashes = 0;
  // Attempt outcomes by share (out of 100) for kind "ok": the rest succeed.
  unsigned throw_pct = 10, crash_pct = 10, hang_pct = 5, snapshot_pct = 10;

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : random() % n; }
  bool chance(double p) { return std::uniform_real_distribution<double>{0.0, 1.0}(random) < p; }
};

// The store seam, made synchronous (done runs before the call returns, on the caller's thread,
// so the order of everything is the runtime's) and failing writes on the world's plan. A
// submission's done is deferred instead (see world::commit_crash_pct) once a runtime is given
// with defer_submits_on.
std::shared_ptr<store::job_store> synchronous_store(std::shared_ptr<store::job_store> inner, world& w);
void defer_submits_on(store::job_store& store, runtime& rt);

// A pool of simulated workers registered as `name`: see the kinds in simulation.cpp.
child_spec simulated_pool(const std::string& name, world& w);

// A node: the deterministic runtime, the store opened on `db_path`, the engine.
class node {
 public:
  node(world& w, std::string db_path, engine::engine_config config);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  runtime& rt() { return *rt_; }
  store::job_store& store() { return *store_; }
  bool engine_alive() const;
  respawn::pid dispatcher() const { return handle_.dispatcher; }
  // Runs up to `steps` process steps; when nothing is runnable moves the clock by 1 ms.
  void run(std::size_t steps);

 private:
  world& w_;
  std::shared_ptr<store::job_store> store_;
  std::unique_ptr<runtime> rt_;
  engine::engine_handle handle_{};
};

}  // namespace respawn::sim
