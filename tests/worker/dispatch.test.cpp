// The pool's dispatch (issue 13, docs/workers.md): no task waits behind another inside a worker
// while capacity is idle (pipelining only behind a young head, growth and recall when a head
// turns out long), fair shares between task groups, interactive workers above max_workers,
// heartbeats that never kill a healthy worker after a quiet spell but still kill a stopped one,
// and task_started exactly once, from the worker that starts the task.
//
// Every test orders events instead of timing them: "the noops were all done while the sleeps
// still ran" (the sleeps last far longer than the test's patience, and their outcome never came).
#include <signal.h>

#include <map>
#include <set>

#include "pool_harness.hpp"

namespace {

using namespace pool_test;
using respawn::task_outcome;
using respawn::task_started;
using respawn::task_status;

// What one task's submitter saw, in order.
struct seen {
  std::vector<task_started> started;
  std::optional<task_outcome> outcome;
  bool outcome_before_start = false;  // the outcome came while no task_started had
};

class dispatch : public ::testing::Test {
 protected:
  respawn::runtime rt{config()};
  respawn::scoped_process me{rt};
  std::map<std::uint64_t, seen> log;

  respawn::worker_pool_handle start(respawn::worker_pool_config c) {
    if (c.worker.binary.empty()) c.worker.binary = worker_v1;
    auto h = respawn::start_worker_pool(rt, c);
    me.monitor(h.supervisor);
    return h;
  }

  respawn::pool_stats stats(respawn::pid manager) {
    auto r = rt.call<respawn::pool_stats>(manager, respawn::pool_stats_request{}, patience);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : respawn::pool_stats{};
  }

  // Takes messages into `log` until `done` holds; false at the deadline.
  bool until(const std::function<bool()>& done, std::chrono::milliseconds limit = patience) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto m = me.receive(left);
      if (!m) return false;
      if (auto* s = m->get_if<task_started>()) {
        log[s->id].started.push_back(*s);
      } else if (auto* o = m->get_if<task_outcome>()) {
        auto& e = log[o->id];
        EXPECT_FALSE(e.outcome.has_value()) << "task " << o->id << " answered twice";
        if (e.started.empty()) e.outcome_before_start = true;
        e.outcome = *o;
      }
    }
    return true;
  }

  bool done(std::uint64_t id) { return log.count(id) != 0 && log[id].outcome.has_value(); }
  bool all_done(std::uint64_t from, std::uint64_t to) {
    for (auto id = from; id <= to; ++id) {
      if (!done(id)) return false;
    }
    return true;
  }
  bool started(std::uint64_t id) { return log.count(id) != 0 && !log[id].started.empty(); }

  // Each task in [from, to] succeeded after exactly one task_started, from the worker that ran it.
  void expect_started_once(std::uint64_t from, std::uint64_t to) {
    for (auto id = from; id <= to; ++id) {
      auto& e = log[id];
      ASSERT_TRUE(e.outcome.has_value()) << "task " << id;
      EXPECT_EQ(e.outcome->status, task_status::succeeded) << "task " << id << ": " << e.outcome->error;
      ASSERT_EQ(e.started.size(), 1u) << "task " << id << " got task_started " << e.started.size() << " times";
      EXPECT_EQ(e.started[0].os_pid, e.outcome->os_pid) << "task " << id << " started in another worker";
      EXPECT_FALSE(e.outcome_before_start) << "task " << id << ": outcome before task_started";
    }
  }

  void stop(const respawn::worker_pool_handle& h) {
    rt.exit(h.supervisor, respawn::exit_reason::shutdown());
    auto d = me.receive<respawn::down>(patience);
    ASSERT_TRUE(d.has_value()) << "the pool did not shut down";
  }
};

// Sleeps far longer than the test's patience: "still running" is then "no outcome yet".
const std::string long_sleep = R"({"ms":120000})";

// Soak anomaly 1: with the engine's attempts in flight the pool never grew, and short tasks
// waited minutes inside a worker behind long ones. (Before: the noops were pipelined behind the
// two sleeps and none finished; the pool stayed at 2 workers.)
TEST_F(dispatch, noops_finish_while_two_long_sleeps_run) {
  respawn::worker_pool_config c;
  c.min_workers = 2;
  c.max_workers = 4;
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 2; }));
  std::vector<respawn::task_request> tasks;
  tasks.push_back(task(1, "sleep", long_sleep, me.self()));
  tasks.push_back(task(2, "sleep", long_sleep, me.self()));
  for (std::uint64_t i = 3; i <= 12; ++i) tasks.push_back(task(i, "noop", "{}", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return all_done(3, 12); })) << "the noops waited behind the sleeps";
  EXPECT_FALSE(done(1) || done(2)) << "the sleeps ended first: the test proves nothing";
  expect_started_once(3, 12);
  EXPECT_GT(stats(h.manager).workers, 2u) << "the pool did not grow";
  EXPECT_TRUE(eventually([&] {
    auto s = stats(h.manager);
    return s.busy == 2 && s.waiting_in_workers == 0 && s.queued == 0;
  }));
  stop(h);
}

// The same after the sleeps started: nothing is sent behind a head that has run for a while.
// (Before: pipelined behind a sleep, none finished.)
TEST_F(dispatch, nothing_is_sent_behind_a_long_running_task) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 2;
  auto h = start(c);
  me.send(h.manager, respawn::submit_task{task(1, "sleep", long_sleep, me.self())});
  ASSERT_TRUE(until([&] { return started(1); }));
  std::this_thread::sleep_for(50ms);  // the sleep is a long head now
  std::vector<respawn::task_request> tasks;
  for (std::uint64_t i = 2; i <= 6; ++i) tasks.push_back(task(i, "noop", "{}", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return all_done(2, 6); })) << "the noops waited behind the sleep";
  EXPECT_FALSE(done(1));
  expect_started_once(2, 6);
  stop(h);
}

// Recall: tasks pipelined behind a head that turns out long move to a worker that becomes idle.
// max_in_flight 2 puts one of the noops behind the long sleep for sure. (Before: it waited there.)
TEST_F(dispatch, a_task_waiting_behind_a_long_one_is_recalled_to_an_idle_worker) {
  respawn::worker_pool_config c;
  c.min_workers = 2;
  c.max_workers = 2;
  c.max_in_flight = 2;  // the four tasks go out in one dispatch: two heads, a noop behind each
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 2; }));
  std::vector<respawn::task_request> tasks;
  tasks.push_back(task(1, "sleep", long_sleep, me.self()));
  tasks.push_back(task(2, "sleep", R"({"ms":1000})", me.self()));
  tasks.push_back(task(3, "noop", "{}", me.self()));
  tasks.push_back(task(4, "noop", "{}", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return started(1) && started(2); }));
  auto s = stats(h.manager);
  EXPECT_EQ(s.waiting_in_workers, 2u) << "the noops were not pipelined: the test proves nothing";
  // Task 2 ends; its worker runs the noop behind it, then is idle: the noop behind the sleep is
  // recalled to it.
  ASSERT_TRUE(until([&] { return all_done(2, 4); }, patience)) << "a noop stayed behind the sleep";
  EXPECT_FALSE(done(1));
  expect_started_once(2, 4);
  EXPECT_GE(stats(h.manager).tasks_recalled, 1u);
  stop(h);
}

// Fair shares: group A's endless tasks (more than there are workers) leave a worker to group B.
// (Before: groups were ignored; B's noop was pipelined behind A's tasks and never ran.)
TEST_F(dispatch, a_group_at_its_cap_leaves_workers_to_other_groups) {
  respawn::worker_pool_config c;
  c.min_workers = 3;
  c.max_workers = 3;
  c.max_workers_per_group = 2;
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 3; }));
  std::vector<respawn::task_request> tasks;
  for (std::uint64_t i = 1; i <= 5; ++i) {
    auto t = task(i, "sleep", long_sleep, me.self());
    t.group = "A";
    tasks.push_back(t);
  }
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return started(1) && started(2); }));
  auto b = task(100, "noop", "{}", me.self());
  b.group = "B";
  me.send(h.manager, respawn::submit_task{b});
  ASSERT_TRUE(until([&] { return done(100); })) << "group B's task never ran";
  expect_started_once(100, 100);
  std::size_t a_running = 0;
  for (std::uint64_t i = 1; i <= 5; ++i) {
    EXPECT_FALSE(done(i)) << "A's task " << i << " ended";
    a_running += started(i) ? 1 : 0;
  }
  EXPECT_EQ(a_running, 2u) << "group A ran in more workers than its cap";
  EXPECT_TRUE(eventually([&] {
    auto s = stats(h.manager);
    // A's others wait in the queue or behind A's own heads (sent there while those were young).
    return s.busy == 2 && s.queued + s.waiting_in_workers == 3;
  }));
  stop(h);
}

// Interactive workers: every batch slot busy, an interactive task still runs, in a worker above
// max_workers; batch tasks never take that worker. (Before: it waited behind a batch sleep.)
TEST_F(dispatch, an_interactive_task_runs_while_batch_tasks_fill_max_workers) {
  respawn::worker_pool_config c;
  c.min_workers = 2;
  c.max_workers = 2;
  c.interactive_workers = 1;
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 2; }));
  std::vector<respawn::task_request> tasks;
  for (std::uint64_t i = 1; i <= 3; ++i) tasks.push_back(task(i, "sleep", long_sleep, me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return started(1) && started(2); }));
  auto t = task(100, "noop", "{}", me.self());
  t.interactive = true;
  me.send(h.manager, respawn::submit_task{t});
  ASSERT_TRUE(until([&] { return done(100); })) << "the interactive task never ran";
  expect_started_once(100, 100);
  EXPECT_FALSE(done(1) || done(2));
  EXPECT_FALSE(started(3)) << "a batch task took the interactive worker";
  EXPECT_TRUE(eventually([&] {
    auto s = stats(h.manager);
    return s.workers == 3 && s.busy == 2 && s.queued + s.waiting_in_workers == 1;
  }));
  stop(h);
}

// Soak anomaly 5: after a quiet spell longer than heartbeat_timeout, the first task that said
// nothing in its first moments got its healthy worker killed. (Before: killed at the first tick,
// "worker stopped answering heartbeats".)
TEST_F(dispatch, a_silent_task_after_an_idle_spell_is_not_killed_for_heartbeats) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.worker.heartbeat_interval = 50ms;
  c.worker.heartbeat_timeout = 500ms;  // generous: sanitizer builds on a loaded machine stall at times
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 1; }));
  std::this_thread::sleep_for(1500ms);  // idle for three heartbeat timeouts
  // Silent (sleep reports no progress) for thirty ping intervals.
  me.send(h.manager, respawn::submit_task{task(1, "sleep", R"({"ms":1500})", me.self())});
  ASSERT_TRUE(until([&] { return done(1); }));
  EXPECT_EQ(log[1].outcome->status, task_status::succeeded) << log[1].outcome->error;
  EXPECT_EQ(stats(h.manager).workers_died, 0u);
  stop(h);
}

// And a worker that really stops answering is still killed, idle or busy. (Before: an idle
// worker was never pinged, so a stopped one was kept.)
TEST_F(dispatch, a_stopped_idle_worker_is_killed_for_heartbeats_and_replaced) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.worker.heartbeat_interval = 50ms;
  c.worker.heartbeat_timeout = 500ms;
  auto h = start(c);
  me.send(h.manager, respawn::submit_task{task(1, "noop", "{}", me.self())});
  ASSERT_TRUE(until([&] { return done(1); }));
  auto os_pid = static_cast<pid_t>(log[1].outcome->os_pid);
  ASSERT_EQ(::kill(os_pid, SIGSTOP), 0);
  EXPECT_TRUE(eventually([&] { return stats(h.manager).workers_died == 1; })) << "the stopped worker was kept";
  EXPECT_TRUE(eventually([&] { return os_process_gone(os_pid); }));
  me.send(h.manager, respawn::submit_task{task(2, "noop", "{}", me.self())});
  ASSERT_TRUE(until([&] { return done(2); }));
  EXPECT_NE(log[2].outcome->os_pid, log[1].outcome->os_pid);
  stop(h);
}

// A task that waited in a worker that died goes back to the pool without an attempt: it gets
// task_started once, from the worker that starts it, never from the one that died.
TEST_F(dispatch, tasks_requeued_from_a_dead_worker_get_task_started_once_from_their_worker) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.pipeline_stall = 10s;  // the noops stay pipelined behind the crash (one dispatch sends all)
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 1; }));
  std::vector<respawn::task_request> tasks;
  tasks.push_back(task(1, "crash", R"({"signal":"SEGV"})", me.self()));
  for (std::uint64_t i = 2; i <= 6; ++i) tasks.push_back(task(i, "noop", "{}", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(until([&] { return all_done(1, 6); }));
  ASSERT_EQ(log[1].started.size(), 1u);
  EXPECT_EQ(log[1].outcome->exit, respawn::worker_exit::crashed);
  expect_started_once(2, 6);
  for (std::uint64_t i = 2; i <= 6; ++i) {
    EXPECT_NE(log[i].started[0].os_pid, log[1].started[0].os_pid) << "task " << i << " started in the dead worker";
  }
  stop(h);
}

}  // namespace
