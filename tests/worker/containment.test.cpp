// Containment: each way a worker can go wrong ends only that worker, and its owner (a runtime
// process) exits with the reason that says what happened, which its monitor sees. Each test also
// checks that the node still serves: the runtime and a second worker go on answering.
#include <signal.h>

#include "pool_harness.hpp"

namespace {

using namespace pool_test;
using respawn::task_outcome;
using respawn::task_status;
using respawn::worker_exit;

class containment : public ::testing::Test {
 protected:
  respawn::runtime rt{config()};
  respawn::scoped_process me{rt};

  // A worker_process owned by nobody but monitored by `me`.
  respawn::pid start_owner(respawn::worker_options o = options()) {
    respawn::pid owner = rt.spawn_owned(respawn::make_worker_process(std::move(o)));
    me.monitor(owner);
    return owner;
  }

  void run(respawn::pid owner, respawn::task_request t) {
    std::vector<respawn::task_request> tasks;
    tasks.push_back(std::move(t));
    me.send(owner, respawn::run_tasks{std::move(tasks)});
  }

  task_outcome outcome() {
    auto o = me.receive<task_outcome>(patience);
    EXPECT_TRUE(o.has_value()) << "no task outcome within the deadline";
    return o.value_or(task_outcome{});
  }

  std::string down_reason() {
    auto d = me.receive<respawn::down>(patience);
    EXPECT_TRUE(d.has_value()) << "the owner did not exit within the deadline";
    return d ? d->reason.to_string() : std::string{"<none>"};
  }

  // The node still serves: a fresh worker runs a task to the right answer.
  void expect_still_serving() {
    respawn::pid other = start_owner();
    run(other, task(999, "sum", R"({"n":10})", me.self()));
    auto o = outcome();
    EXPECT_EQ(o.status, task_status::succeeded);
    EXPECT_EQ(o.result, "55");
    rt.exit(other, respawn::exit_reason::shutdown());
    EXPECT_EQ(down_reason(), "shutdown");
  }

  respawn::worker_info info(respawn::pid owner) {
    auto r = rt.call<respawn::worker_info>(owner, respawn::worker_info_request{}, patience);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : respawn::worker_info{};
  }
};

TEST_F(containment, a_result_and_a_throw_leave_the_worker_serving) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "sum", R"({"n":13})", me.self()));
  auto failed = outcome();
  EXPECT_EQ(failed.status, task_status::failed);
  EXPECT_NE(failed.error.find("13 is unlucky"), std::string::npos) << failed.error;
  run(owner, task(2, "sum", R"({"n":100})", me.self()));
  auto ok = outcome();
  EXPECT_EQ(ok.status, task_status::succeeded);
  EXPECT_EQ(ok.result, "5050");
  EXPECT_EQ(ok.os_pid, failed.os_pid) << "a throwing task must not cost the worker";
  EXPECT_TRUE(rt.alive(owner));
  rt.exit(owner, respawn::exit_reason::shutdown());
  EXPECT_EQ(down_reason(), "shutdown");
}

TEST_F(containment, segfault) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "crash", R"({"signal":"SEGV"})", me.self()));
  auto o = outcome();
  EXPECT_EQ(o.status, task_status::worker_died);
  EXPECT_EQ(o.exit, worker_exit::crashed);
  EXPECT_EQ(down_reason(), "worker crashed with SIGSEGV");
  expect_still_serving();
}

TEST_F(containment, abort) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "crash", R"({"signal":"ABRT"})", me.self()));
  EXPECT_EQ(outcome().exit, worker_exit::crashed);
  EXPECT_EQ(down_reason(), "worker crashed with SIGABRT");
  expect_still_serving();
}

TEST_F(containment, infinite_loop_is_killed_at_its_deadline) {
  respawn::pid owner = start_owner();
  respawn::task_limits limits;
  limits.deadline = 300ms;
  run(owner, task(1, "loop", "{}", me.self(), limits));
  auto o = outcome();
  EXPECT_EQ(o.status, task_status::worker_died);
  EXPECT_EQ(o.exit, worker_exit::deadline);
  EXPECT_EQ(down_reason(), "worker killed at its deadline (300 ms)");
  expect_still_serving();
}

TEST_F(containment, seed_002_negative_sum_never_returns_and_is_killed) {
  respawn::pid owner = start_owner();
  respawn::task_limits limits;
  limits.deadline = 200ms;
  run(owner, task(1, "sum", R"({"n":-1})", me.self(), limits));
  EXPECT_EQ(outcome().exit, worker_exit::deadline);
  EXPECT_EQ(down_reason(), "worker killed at its deadline (200 ms)");
}

TEST_F(containment, running_out_of_memory) {
  if (sanitized) GTEST_SKIP() << "RLIMIT_AS cannot work beside a sanitizer's shadow memory";
  respawn::pid owner = start_owner();
  respawn::task_limits limits;
  limits.memory_mb = 256;
  run(owner, task(1, "oom", R"({"mb":4096})", me.self(), limits));
  auto o = outcome();
  EXPECT_EQ(o.exit, worker_exit::memory_limit);
  EXPECT_EQ(down_reason(), "worker killed over its memory limit");
  expect_still_serving();
}

TEST_F(containment, cpu_time_limit) {
  respawn::pid owner = start_owner();
  respawn::task_limits limits;
  limits.cpu_seconds = 1;
  run(owner, task(1, "loop", "{}", me.self(), limits));
  EXPECT_EQ(outcome().exit, worker_exit::cpu_limit);
  EXPECT_EQ(down_reason(), "worker killed over its CPU-time limit");
}

TEST_F(containment, exit_code) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "exit_code", R"({"code":7})", me.self()));
  EXPECT_EQ(outcome().exit, worker_exit::exited);
  EXPECT_EQ(down_reason(), "worker exited with code 7");
}

TEST_F(containment, garbage_on_the_socket) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "garbage", "{}", me.self()));
  auto o = outcome();
  EXPECT_EQ(o.exit, worker_exit::malformed);
  std::string reason = down_reason();
  EXPECT_EQ(reason.rfind("worker sent a malformed frame: ", 0), 0u) << reason;
  expect_still_serving();
}

TEST_F(containment, a_worker_that_closes_its_socket) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "close_socket", "{}", me.self()));
  auto o = outcome();
  EXPECT_EQ(o.exit, worker_exit::closed_socket);
  EXPECT_EQ(down_reason(), "worker closed its socket");
  expect_still_serving();
}

TEST_F(containment, a_worker_that_ignores_sigterm_is_killed_at_shutdown) {
  auto o = options();
  o.term_grace = 200ms;
  respawn::pid owner = start_owner(o);
  run(owner, task(1, "ignore_term", "{}", me.self()));
  // Wait until the task runs (the worker said hello and holds it), then shut the owner down.
  ASSERT_TRUE(eventually([&] { return info(owner).ready; }));
  pid_t os_pid = static_cast<pid_t>(info(owner).os_pid);
  rt.exit(owner, respawn::exit_reason::shutdown());
  auto outcome_of_task = outcome();
  EXPECT_EQ(outcome_of_task.status, task_status::worker_died);
  EXPECT_EQ(outcome_of_task.exit, worker_exit::shutdown);
  EXPECT_EQ(down_reason(), "shutdown");
  EXPECT_TRUE(eventually([&] { return os_process_gone(os_pid); })) << "the worker outlived its owner";
}

TEST_F(containment, a_stopped_worker_misses_heartbeats_and_is_killed) {
  auto o = options();
  o.heartbeat_interval = 50ms;
  o.heartbeat_timeout = 300ms;
  respawn::pid owner = start_owner(o);
  run(owner, task(1, "sleep", R"({"ms":60000})", me.self()));
  ASSERT_TRUE(eventually([&] { return info(owner).ready; }));
  ASSERT_EQ(::kill(static_cast<pid_t>(info(owner).os_pid), SIGSTOP), 0);
  auto out = outcome();
  EXPECT_EQ(out.exit, worker_exit::heartbeat);
  std::string reason = down_reason();
  EXPECT_EQ(reason.rfind("worker stopped answering heartbeats", 0), 0u) << reason;
}

TEST_F(containment, a_busy_worker_answers_heartbeats_while_its_task_runs) {
  auto o = options();
  o.heartbeat_interval = 50ms;
  o.heartbeat_timeout = 500ms;  // generous: sanitizer builds on a loaded machine stall at times
  respawn::pid owner = start_owner(o);
  // 1.5 s of sleeping is three heartbeat timeouts: answered pongs keep the worker alive.
  run(owner, task(1, "sleep", R"({"ms":1500})", me.self()));
  auto out = outcome();
  EXPECT_EQ(out.status, task_status::succeeded) << out.error;
  EXPECT_TRUE(rt.alive(owner));
  rt.exit(owner, respawn::exit_reason::shutdown());
  EXPECT_EQ(down_reason(), "shutdown");
}

TEST_F(containment, a_binary_that_does_not_exist) {
  start_owner(options("/nonexistent/respawn-worker"));
  std::string reason = down_reason();
  EXPECT_EQ(reason.rfind("worker did not start: ", 0), 0u) << reason;
  expect_still_serving();
}

TEST_F(containment, cancel_stops_a_running_task) {
  respawn::pid owner = start_owner();
  run(owner, task(1, "sleep", R"({"ms":60000})", me.self()));
  ASSERT_TRUE(eventually([&] { return info(owner).ready; }));
  me.send(owner, respawn::cancel_task{1});
  auto o = outcome();
  EXPECT_EQ(o.status, task_status::cancelled);
  EXPECT_TRUE(rt.alive(owner));
  rt.exit(owner, respawn::exit_reason::shutdown());
  EXPECT_EQ(down_reason(), "shutdown");
}

TEST_F(containment, progress_outputs_and_snapshots_reach_the_submitter) {
  respawn::pid owner = start_owner();
  auto t = task(5, "progress_then_result", "{}", me.self());
  t.snapshot = R"({"s":1})";
  run(owner, std::move(t));
  std::vector<respawn::task_event> events;
  for (int i = 0; i < 3; ++i) {
    auto e = me.receive<respawn::task_event>(patience);
    ASSERT_TRUE(e.has_value());
    events.push_back(*e);
  }
  EXPECT_EQ(events[0].type, respawn::task_event_type::progress);
  EXPECT_EQ(events[0].value, "0.5");
  EXPECT_EQ(events[1].type, respawn::task_event_type::output);
  EXPECT_EQ(events[1].value, R"({"x":1})");
  EXPECT_EQ(events[2].type, respawn::task_event_type::snapshot);
  EXPECT_EQ(events[2].value, R"({"s":2})");
  auto o = outcome();
  EXPECT_EQ(o.status, task_status::succeeded);
  EXPECT_EQ(o.result, R"({"s":1})");
  rt.exit(owner, respawn::exit_reason::shutdown());
  EXPECT_EQ(down_reason(), "shutdown");
}

}  // namespace
