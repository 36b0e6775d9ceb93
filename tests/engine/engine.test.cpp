// The job engine end to end: a real SQLite store in a temporary folder, real worker processes
// (test-worker-v1), the engine's tree on a threaded runtime. Every accepted job reaches exactly
// one final state; an attempt is counted even when the job kills its worker; retries back off and
// a poison job ends dead; cancel works queued and running; idempotency keys; admission bounds;
// a quiet user is not starved by a flooding one; and a node restart (the runtime destroyed, the
// store closed and opened again) rebuilds every unfinished job from the log.
#include "engine_fixture.hpp"

namespace {

using namespace respawn_engine_test;
using namespace std::chrono_literals;
using respawn::jobs::job_status;
using respawn::jobs::event_type;

TEST_F(engine, a_job_runs_once_and_its_log_says_so) {
  start_node(config());
  auto id = submit_one(request("ann", "sum", {{"n", 10}}));
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.result, 55);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(event_types(id), (std::vector{event_type::submitted, event_type::claimed, event_type::succeeded}));
}

TEST_F(engine, a_throwing_job_is_retried_with_backoff_then_dead) {
  start_node(config());
  auto id = submit_one(request("ann", "sum", {{"n", 13}}));
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::dead);
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_NE(s.last_error.find("13 is unlucky"), std::string::npos) << s.last_error;
  EXPECT_EQ(event_types(id),
            (std::vector{event_type::submitted, event_type::claimed, event_type::attempt_failed, event_type::claimed,
                         event_type::attempt_failed, event_type::claimed, event_type::dead}));
}

TEST_F(engine, a_job_that_kills_its_worker_every_time_uses_up_its_attempts) {
  start_node(config());
  auto id = submit_one(request("ann", "crash", {{"signal", "SEGV"}}));
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::dead);
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_NE(s.last_error.find("SIGSEGV"), std::string::npos) << s.last_error;
  // The node is fine: the next job runs.
  EXPECT_EQ(await_final(submit_one(request("ann", "sum", {{"n", 3}}))).result, 6);
}

TEST_F(engine, a_job_over_its_own_timeout_is_killed_and_counts_an_attempt) {
  start_node(config());  // the engine's timeout is 20 s; the request's own is 150 ms
  auto r = request("ann", "loop");
  r.timeout_ms = 150;
  r.attempts_max = 2;
  auto s = await_final(submit_one(r));
  EXPECT_EQ(s.status, job_status::dead);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_NE(s.last_error.find("deadline"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.request.timeout_ms, 150u);  // stored with the request
}

TEST_F(engine, an_unknown_kind_is_dead_at_once) {
  start_node(config());
  auto s = await_final(submit_one(request("ann", "no_such_kind")));
  EXPECT_EQ(s.status, job_status::dead);
  EXPECT_EQ(s.attempts, 1u);
}

TEST_F(engine, idempotency_keys) {
  start_node(config());
  auto r = request("ann", "sum", {{"n", 4}});
  r.idempotency_key = "k1";
  auto first = submit({r});
  ASSERT_TRUE(first.ok);
  auto again = submit({r});
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.jobs.at(0).id, first.jobs.at(0).id);
  EXPECT_TRUE(again.jobs.at(0).existing);
  auto other = r;
  other.args = {{"n", 5}};
  auto conflict = submit({other});
  EXPECT_FALSE(conflict.ok);
  EXPECT_EQ(conflict.error_code, respawn::engine::engine_errc::idempotency_conflict);
  EXPECT_EQ(await_final(first.jobs.at(0).id).result, 10);
}

TEST_F(engine, cancel_a_running_and_a_queued_job) {
  auto c = config();
  c.running_max = 1;
  start_node(c);
  auto running = submit_one(request("ann", "sleep", {{"ms", 60000}}));
  auto queued = submit_one(request("ann", "sum", {{"n", 1}}));
  ASSERT_TRUE(eventually([&] { return state(running).status == job_status::running; }));
  auto cancel = [&](respawn::jobs::job_id id) {
    auto r = rt_->call<bool>(handle_.dispatcher, respawn::engine::cancel_job{id}, patience);
    return r.ok() && r.value();
  };
  EXPECT_TRUE(cancel(queued));
  EXPECT_TRUE(cancel(running));
  EXPECT_EQ(await_final(queued).status, job_status::cancelled);
  EXPECT_EQ(await_final(running).status, job_status::cancelled);
  EXPECT_FALSE(cancel(running)) << "a final job cannot be cancelled";
}

TEST_F(engine, admission_is_bounded_per_user) {
  auto c = config();
  c.running_max = 1;
  c.queue.held_per_user_max = 3;
  start_node(c);
  std::vector<respawn::jobs::job_request> four(4, request("ann", "sleep", {{"ms", 10}}));
  auto refused = submit(four);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error_code, respawn::engine::engine_errc::overloaded);
  auto other_user = submit({request("bob", "sum", {{"n", 2}})});
  EXPECT_TRUE(other_user.ok) << "another user is not refused";
}

TEST_F(engine, a_quiet_user_is_not_starved_by_a_flooding_one) {
  auto c = config();
  c.running_max = 2;
  c.queue.running_per_user_max = 2;
  start_node(c);
  std::vector<respawn::jobs::job_request> flood(400, request("flood", "sleep", {{"ms", 5}}));
  auto flooded = submit(flood);
  ASSERT_TRUE(flooded.ok);
  auto quiet = submit_one(request("quiet", "sum", {{"n", 1}}));
  EXPECT_EQ(await_final(quiet).status, job_status::succeeded);
  std::size_t flood_done = 0;
  for (auto& j : flooded.jobs) flood_done += respawn::jobs::is_final(state(j.id).status) ? 1 : 0;
  EXPECT_LT(flood_done, 100u) << "the quiet user's job waited for most of the flood";
  for (auto& j : flooded.jobs) EXPECT_EQ(await_final(j.id).status, job_status::succeeded);
}

TEST_F(engine, a_node_restart_rebuilds_every_unfinished_job_from_the_log) {
  auto c = config();
  c.running_max = 1;
  start_node(c);
  auto interrupted = submit_one(request("ann", "sleep", {{"ms", 400}}));
  std::vector<respawn::jobs::job_id> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(submit_one(request("ann", "sum", {{"n", i}})));
  ASSERT_TRUE(eventually([&] { return state(interrupted).status == job_status::running; }));
  stop_node();  // the node dies mid-attempt
  store_.reset();
  open_store();  // a new process opens the same file
  start_node(c);
  auto s = await_final(interrupted);
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.attempts, 2u) << "the interrupted attempt counts, and the job runs again";
  for (std::size_t i = 0; i < queued.size(); ++i) {
    auto q = await_final(queued[i]);
    EXPECT_EQ(q.status, job_status::succeeded);
    EXPECT_EQ(q.attempts, 1u);
    EXPECT_EQ(q.result, static_cast<int>(i * (i + 1) / 2));
  }
  auto stats = rt_->call<respawn::engine::engine_stats>(handle_.dispatcher, respawn::engine::engine_stats_request{}, patience);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value().recovered, 6u);
  EXPECT_TRUE(stats.value().ready);
}

// A job that emits more outputs than engine_config::outputs_max keeps running and succeeds with
// the first outputs_max logged; before, the store refused the append past its cap and the job
// process crashed on it, restart after restart, until the job was dead.
TEST_F(engine, outputs_past_the_cap_are_dropped_and_the_job_still_succeeds) {
  auto c = config();
  c.outputs_max = 3;
  start_node(c);
  auto s = await_final(submit_one(request("ann", "chatty", {{"n", 10}})));
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.outputs, 3u);
  EXPECT_EQ(s.attempts, 1u);
}

}  // namespace

namespace {

// Review F9: progress is coalesced. A job reporting in a tight loop costs the log a few appends
// per progress_interval, not one per report; the latest report is the one kept, and the last is
// logged before the outcome.
TEST_F(engine, progress_reported_in_a_tight_loop_is_logged_coalesced_and_the_last_value_kept) {
  start_node(config());
  constexpr int reports = 20000;
  auto s = await_final(submit_one(request("ann", "progress_flood", {{"n", reports}})));
  ASSERT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.progress, reports) << "the last report is logged before the outcome";
  // Every event of the job counts in its sequence (a page of event_types would not show them all).
  EXPECT_LT(s.last_sequence, static_cast<std::uint64_t>(reports / 10))
      << "every report was logged: progress is not coalesced";
  auto types = event_types(s.id);
  EXPECT_NE(std::find(types.begin(), types.end(), event_type::progress), types.end());
}

// Review F24: a worker's error that is not valid UTF-8 is logged repaired (U+FFFD for each bad
// byte), not turned into a failed append that crashes the job process and loses the error.
TEST_F(engine, an_error_that_is_not_utf8_is_logged_repaired) {
  start_node(config());
  auto r = request("ann", "bad_utf8");
  r.attempts_max = 1;
  auto s = await_final(submit_one(r));
  EXPECT_EQ(s.status, job_status::dead);
  EXPECT_NE(s.last_error.find("cannot open caf\xef\xbf\xbd \xef\xbf\xbd.txt"), std::string::npos) << s.last_error;
  EXPECT_EQ(event_types(s.id), (std::vector{event_type::submitted, event_type::claimed, event_type::dead}));
}

}  // namespace
