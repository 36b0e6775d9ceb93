// One attempt at a time (review F3) and cancels that end a task which ignores them (F11), on
// real worker processes. A job process killed mid-attempt must not leave its task running while
// its replacement runs the next attempt: the pool monitors every task's submitter, cancels the
// orphaned task and kills its worker after abandon_grace, and the replacement claims the next
// attempt only once the pool confirms (fence_task) that the old task is gone. A cancel of a
// running job whose task ignores cancelled() kills the worker after cancel_grace.
#include "engine_fixture.hpp"
#include "respawn/supervisor.hpp"

namespace {

using namespace respawn_engine_test;
using namespace std::chrono_literals;
using respawn::jobs::job_status;

class fencing : public engine {
 protected:
  respawn::pool_stats pool() {
    auto s = rt_->call<respawn::pool_stats>(rt_->whereis("jobs.pool"), respawn::pool_stats_request{}, patience);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value() : respawn::pool_stats{};
  }
  // The live job processes (children of the job supervisor).
  std::vector<respawn::pid> job_processes() {
    std::vector<respawn::pid> out;
    auto children = rt_->call<std::vector<respawn::child_info>>(rt_->whereis("jobs.jobs"), respawn::which_children{},
                                                                patience);
    if (children.ok()) {
      for (auto& c : children.value()) {
        if (c.pid) out.push_back(c.pid);
      }
    }
    return out;
  }
};

TEST_F(fencing, a_job_process_killed_mid_attempt_never_leaves_two_attempts_running) {
  auto c = config();
  c.pool.worker.abandon_grace = 300ms;
  c.cancel_grace = 200ms;
  start_node(c);
  auto r = request("ann", "started_then_deaf");  // says it runs, then ignores cancels
  r.timeout_ms = 120000;  // far beyond the test: only a kill ends an attempt early
  auto id = submit_one(r);
  // Running in its worker (a task still queued in the worker would just be dropped by a cancel).
  ASSERT_TRUE(eventually([&] { return !state(id).progress.is_null() && pool().in_flight == 1; }));
  auto processes = job_processes();
  ASSERT_EQ(processes.size(), 1u);

  rt_->exit(processes[0], respawn::exit_reason::kill());  // the job's process dies mid-attempt

  // Its replacement logs attempt 1 as interrupted and claims attempt 2, but only once the pool
  // has killed the orphaned task's worker: at no point do two tasks of the job run.
  bool two_at_once = false;
  ASSERT_TRUE(eventually([&] {
    auto p = pool();
    two_at_once |= p.in_flight > 1;
    auto s = state(id);
    return s.attempts == 2 && s.status == job_status::running && p.in_flight == 1;
  })) << "attempt 2 never started";
  EXPECT_FALSE(two_at_once);
  auto p = pool();
  EXPECT_EQ(p.in_flight, 1u);
  EXPECT_GE(p.workers_died, 1u) << "the orphaned task's worker was not killed (its slot is not free); log: " << [&] {
    std::string text;
    auto events = store_->events(id, 0, 100);
    if (events.ok()) {
      for (auto& e : events.value()) text += nlohmann::json(e).dump() + "\n";
    }
    return text + "workers " + std::to_string(p.workers) + " started " + std::to_string(p.workers_started);
  }();

  // And a cancel ends a task that ignores it: its worker is killed after cancel_grace.
  ASSERT_TRUE(rt_->call<bool>(handle_.dispatcher, respawn::engine::cancel_job{id}, patience).value());
  respawn::jobs::job_state s;
  ASSERT_TRUE(eventually([&] {
    s = state(id);
    return respawn::jobs::is_final(s.status);
  }, 30s)) << "the cancelled job still runs";
  EXPECT_EQ(s.status, job_status::cancelled);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_TRUE(eventually([&] { return pool().in_flight == 0; }, 30s)) << "a slot stayed taken";
}

TEST_F(fencing, a_cancelled_task_that_ignores_the_cancel_is_killed_after_cancel_grace) {
  auto c = config();
  c.cancel_grace = 100ms;
  start_node(c);
  auto r = request("ann", "started_then_deaf");
  r.timeout_ms = 120000;
  auto id = submit_one(r);
  ASSERT_TRUE(eventually([&] { return !state(id).progress.is_null() && pool().in_flight == 1; }));
  ASSERT_TRUE(rt_->call<bool>(handle_.dispatcher, respawn::engine::cancel_job{id}, patience).value());
  respawn::jobs::job_state s;
  ASSERT_TRUE(eventually([&] {
    s = state(id);
    return respawn::jobs::is_final(s.status);
  }, 30s)) << "the cancel is only advisory: the job still runs";
  EXPECT_EQ(s.status, job_status::cancelled);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_GE(pool().workers_died, 1u);
}

}  // namespace
