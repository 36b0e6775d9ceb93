// When an attempt counts, and cancels around it, on real worker processes (issue 13). An attempt
// counts (`claimed`) once its task starts in a worker, not when it is handed to the pool: a job
// whose task still waits there is `queued`, and a cancel then ends it `cancelled` without an
// attempt. A running job whose task ignores the cancel (`loop`) is stopped all the same: its
// worker is killed after cancel_grace.
#include "engine_fixture.hpp"

namespace {

using namespace respawn_engine_test;
using namespace std::chrono_literals;
using respawn::jobs::event_type;
using respawn::jobs::job_status;

class attempts : public engine {
 protected:
  respawn::pool_stats pool() {
    auto s = rt_->call<respawn::pool_stats>(rt_->whereis("jobs.pool"), respawn::pool_stats_request{}, patience);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value() : respawn::pool_stats{};
  }
  bool cancel(respawn::jobs::job_id id) {
    auto r = rt_->call<bool>(handle_.dispatcher, respawn::engine::cancel_job{id}, patience);
    return r.ok() && r.value();
  }
};

TEST_F(attempts, a_job_cancelled_while_its_task_waits_in_the_pool_ends_cancelled_without_an_attempt) {
  auto c = config();
  c.cancel_grace = 200ms;
  start_node(c);
  // Both workers up (else the two sleeps could share the first one to say hello).
  ASSERT_TRUE(eventually([&] {
    auto p = rt_->call<respawn::pool_stats>(rt_->whereis("jobs.pool"), respawn::pool_stats_request{}, patience);
    return p.ok() && p.value().workers == 2;
  }));
  // Both workers busy with long sleeps...
  auto r = request("ann", "sleep", {{"ms", 60000}});
  r.timeout_ms = 120000;
  auto a = submit_one(r);
  auto b = submit_one(r);
  ASSERT_TRUE(eventually([&] { return state(a).status == job_status::running && state(b).status == job_status::running; }))
      << "the sleeps did not start";
  // ... so that this one's task waits in the pool (its queue or a worker's), unstarted.
  auto waiting = submit_one(request("bob", "sleep", {{"ms", 1}}));
  ASSERT_TRUE(eventually([&] {
    auto p = pool();
    return p.queued + p.in_flight == 3;
  })) << "the third task never reached the pool";
  auto before = state(waiting);
  EXPECT_EQ(before.status, job_status::queued) << "a task that has not started is no attempt yet";
  EXPECT_EQ(before.attempts, 0u);

  ASSERT_TRUE(cancel(waiting));
  auto s = await_final(waiting);
  EXPECT_EQ(s.status, job_status::cancelled);
  EXPECT_EQ(s.attempts, 0u) << "a task cancelled before it started cost an attempt";
  for (auto type : event_types(waiting)) EXPECT_NE(type, event_type::claimed);
  // It ended while the sleeps still ran: it did not wait for a worker to take it up.
  EXPECT_EQ(state(a).status, job_status::running);
  EXPECT_EQ(state(b).status, job_status::running);

  ASSERT_TRUE(cancel(a));
  ASSERT_TRUE(cancel(b));
  EXPECT_EQ(await_final(a).status, job_status::cancelled);
  EXPECT_EQ(await_final(b).status, job_status::cancelled);
}

TEST_F(attempts, a_running_loop_that_ignores_the_cancel_ends_cancelled_with_its_worker_killed) {
  auto c = config();
  c.cancel_grace = 200ms;
  start_node(c);
  auto r = request("ann", "loop");  // spins for ever, never looks at cancelled()
  r.timeout_ms = 120000;            // far beyond the test: only the cancel's kill ends it
  auto id = submit_one(r);
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::running; })) << "the loop did not start";
  // `running`: its worker took it up. Give the handler time to be spinning (a cancel that reaches
  // the worker before its handler began is answered `cancelled` without a kill: no hog to stop).
  std::this_thread::sleep_for(1s);
  auto died_before = pool().workers_died;
  ASSERT_TRUE(cancel(id));
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::cancelled);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_TRUE(eventually([&] { return pool().workers_died > died_before; }, 30s)) << "the loop's worker was not killed";
  // Its slot is free: the next job runs.
  auto next = submit_one(request("ann", "sleep", {{"ms", 1}}));
  EXPECT_EQ(await_final(next).status, job_status::succeeded);
}

}  // namespace
