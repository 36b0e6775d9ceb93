// The worker pool: tasks through it, replacement of dead workers (1,000 crashes leave no zombie
// and no descriptor behind), containment while other tasks keep running, growth and shrinking,
// cancel, and a worker_process under an ordinary supervisor, where restart intensity applies to
// OS processes unchanged.
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <set>

#include "pool_harness.hpp"

namespace {

using namespace pool_test;
using respawn::task_outcome;
using respawn::task_status;
using respawn::worker_exit;

class pool : public ::testing::Test {
 protected:
  respawn::runtime rt{config()};
  respawn::scoped_process me{rt};

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

  std::map<std::uint64_t, task_outcome> outcomes(std::size_t n) {
    std::map<std::uint64_t, task_outcome> got;
    while (got.size() < n) {
      auto o = me.receive<task_outcome>(patience);
      if (!o) {
        std::string ids;
        for (auto& [id, x] : got) ids += std::to_string(id) + " ";
        ADD_FAILURE() << "only " << got.size() << " of " << n << " outcomes within the deadline; got " << ids;
        break;
      }
      EXPECT_TRUE(got.emplace(o->id, *o).second) << "task " << o->id << " answered twice";
    }
    return got;
  }

  void stop(const respawn::worker_pool_handle& h) {
    rt.exit(h.supervisor, respawn::exit_reason::shutdown());
    auto d = me.receive<respawn::down>(patience);
    ASSERT_TRUE(d.has_value()) << "the pool did not shut down";
    EXPECT_EQ(d->reason.to_string(), "shutdown");
  }
};

TEST_F(pool, runs_many_tasks_each_answered_once) {
  respawn::worker_pool_config c;
  c.min_workers = 2;
  c.max_workers = 2;
  auto h = start(c);
  std::vector<respawn::task_request> tasks;
  // n = 13 would throw (seed 002's unlucky number): count from 100.
  for (std::uint64_t i = 100; i < 2100; ++i) tasks.push_back(task(i, "sum", "{\"n\":" + std::to_string(i) + "}", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  auto got = outcomes(2000);
  ASSERT_EQ(got.size(), 2000u);
  std::set<std::uint32_t> workers;
  for (auto& [id, o] : got) {
    ASSERT_EQ(o.status, task_status::succeeded) << o.error;
    EXPECT_EQ(o.result, std::to_string(id * (id + 1) / 2));
    workers.insert(o.os_pid);
  }
  EXPECT_EQ(workers.size(), 2u) << "both workers should have had tasks";
  stop(h);
}

TEST_F(pool, a_crash_costs_only_its_own_task_others_keep_running_and_the_worker_is_replaced) {
  respawn::worker_pool_config c;
  c.min_workers = 2;
  c.max_workers = 2;
  c.max_in_flight = 4;
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 2; }));
  respawn::task_limits limits;
  limits.deadline = 500ms;
  std::vector<respawn::task_request> tasks;
  tasks.push_back(task(1, "crash", R"({"signal":"SEGV"})", me.self()));
  tasks.push_back(task(2, "loop", "{}", me.self(), limits));
  for (std::uint64_t i = 3; i <= 202; ++i) tasks.push_back(task(i, "sum", R"({"n":3})", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  auto got = outcomes(202);
  ASSERT_EQ(got.size(), 202u);
  EXPECT_EQ(got[1].exit, worker_exit::crashed);
  EXPECT_EQ(got[2].exit, worker_exit::deadline);
  for (std::uint64_t i = 3; i <= 202; ++i) {
    EXPECT_EQ(got[i].status, task_status::succeeded) << "task " << i << ": " << got[i].error;
  }
  ASSERT_TRUE(eventually([&] {
    auto s = stats(h.manager);
    return s.workers == 2 && s.workers_died == 2;
  }));
  stop(h);
}

TEST_F(pool, a_thousand_worker_crashes_leave_no_zombie_and_no_descriptor) {
  {
    // Warm up: the runtime's I/O poller (an epoll and an eventfd, kept for the runtime's
    // lifetime) starts with the first pool; count descriptors after that.
    respawn::worker_pool_config c;
    c.min_workers = 1;
    c.max_workers = 1;
    auto h = start(c);
    ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 1; }));
    stop(h);
  }
  ASSERT_TRUE(eventually([&] { return child_processes() == 0; }));
  std::size_t fds_before = open_fds();
  const std::uint64_t crashes = 1000;
  {
    respawn::worker_pool_config c;
    c.min_workers = 2;
    c.max_workers = 2;
    c.max_in_flight = 1;
    auto h = start(c);
    std::vector<respawn::task_request> tasks;
    for (std::uint64_t i = 1; i <= crashes; ++i) {
      tasks.push_back(task(i, "crash", i % 2 == 0 ? R"({"signal":"SEGV"})" : R"({"signal":"ABRT"})", me.self()));
    }
    me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
    auto got = outcomes(crashes);
    ASSERT_EQ(got.size(), crashes);
    for (auto& [id, o] : got) ASSERT_EQ(o.exit, worker_exit::crashed) << "task " << id << ": " << o.error;
    // And it still serves.
    me.send(h.manager, respawn::submit_task{task(crashes + 1, "sum", R"({"n":4})", me.self())});
    auto last = outcomes(1);
    EXPECT_EQ(last[crashes + 1].result, "10");
    EXPECT_GE(stats(h.manager).workers_died, crashes);
    EXPECT_EQ(child_processes(true), 0u) << "zombies while the pool runs";
    stop(h);
  }
  EXPECT_TRUE(eventually([&] { return child_processes() == 0; })) << child_processes() << " children left";
  EXPECT_TRUE(eventually([&] { return open_fds() == fds_before; }))
      << "descriptors: " << fds_before << " before, " << open_fds() << " after";
}

TEST_F(pool, grows_while_tasks_wait_and_shrinks_when_idle) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 3;
  c.max_in_flight = 1;
  c.idle_timeout = 200ms;
  auto h = start(c);
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 1; }));
  std::vector<respawn::task_request> tasks;
  for (std::uint64_t i = 1; i <= 6; ++i) tasks.push_back(task(i, "sleep", R"({"ms":300})", me.self()));
  me.send(h.manager, respawn::submit_tasks{std::move(tasks)});
  ASSERT_TRUE(eventually([&] { return stats(h.manager).workers == 3; })) << "the pool did not grow to its maximum";
  auto got = outcomes(6);
  for (auto& [id, o] : got) EXPECT_EQ(o.status, task_status::succeeded);
  EXPECT_TRUE(eventually([&] {
    auto s = stats(h.manager);
    return s.workers == 1 && s.retiring == 0;
  })) << "the pool did not shrink back to its minimum";
  EXPECT_EQ(stats(h.manager).workers_died, 0u) << "retired workers are not deaths";
  stop(h);
}

TEST_F(pool, cancel_a_queued_and_a_running_task) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.max_in_flight = 1;
  auto h = start(c);
  me.send(h.manager, respawn::submit_task{task(1, "sleep", R"({"ms":60000})", me.self())});
  me.send(h.manager, respawn::submit_task{task(2, "sum", R"({"n":2})", me.self())});
  ASSERT_TRUE(eventually([&] { return stats(h.manager).in_flight == 1; }));
  me.send(h.manager, respawn::cancel_task{2});  // still queued
  me.send(h.manager, respawn::cancel_task{1});  // running
  auto got = outcomes(2);
  EXPECT_EQ(got[1].status, task_status::cancelled);
  EXPECT_EQ(got[2].status, task_status::cancelled);
  stop(h);
}

// Attempt fencing (review F3): a task whose submitter died is cancelled and, if it ignores the
// cancel, its worker killed after abandon_grace; a fence on its id is answered only then.
TEST_F(pool, a_dead_submitters_task_is_killed_after_abandon_grace_and_only_then_fenced) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.worker = options();
  c.worker.abandon_grace = 200ms;
  auto h = start(c);
  auto submitter = std::make_unique<respawn::scoped_process>(rt);
  submitter->send(h.manager, respawn::submit_task{task(7, "started_then_deaf", "{}", submitter->self())});
  ASSERT_TRUE(submitter->receive<respawn::task_event>(patience).has_value()) << "the task never started";
  me.send(h.manager, respawn::fence_task{7, me.self()});
  EXPECT_FALSE(me.receive<respawn::task_fenced>(50ms).has_value()) << "fenced while the task still runs";
  submitter.reset();  // the submitter dies; its task ignores cancels
  auto fenced = me.receive<respawn::task_fenced>(patience);
  ASSERT_TRUE(fenced.has_value()) << "the orphaned task was never ended";
  EXPECT_EQ(fenced->id, 7u);
  auto s = stats(h.manager);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.workers_died, 1u) << "its worker was not killed";
  // The slot is free: the replacement worker runs the next task.
  me.send(h.manager, respawn::submit_task{task(8, "sum", R"({"n":3})", me.self())});
  auto got = outcomes(1);
  EXPECT_EQ(got[8].status, task_status::succeeded);
  EXPECT_EQ(got[8].attempt, 1u);
  stop(h);
}

TEST_F(pool, a_cancel_with_kill_after_kills_a_task_that_ignores_it) {
  respawn::worker_pool_config c;
  c.min_workers = 1;
  c.max_workers = 1;
  c.worker = options();
  auto h = start(c);
  me.send(h.manager, respawn::submit_task{task(1, "started_then_deaf", "{}", me.self())});
  ASSERT_TRUE(me.receive<respawn::task_event>(patience).has_value()) << "the task never started";
  me.send(h.manager, respawn::cancel_task{1, 100ms});
  auto got = outcomes(1);
  EXPECT_EQ(got[1].status, task_status::worker_died);
  EXPECT_EQ(got[1].exit, respawn::worker_exit::cancelled);
  stop(h);
}

TEST_F(pool, a_worker_process_under_a_supervisor_uses_its_restart_intensity) {
  respawn::supervisor_spec spec;
  spec.flags.intensity = 2;
  spec.flags.period = 60s;
  auto child = respawn::worker_child_spec("worker", options());
  child.name = "the_worker";
  spec.children.push_back(child);
  respawn::pid sup = rt.spawn<respawn::supervisor>({}, spec);
  me.monitor(sup);
  // Three crashes in the period: two restarts, then the supervisor gives up (escalation).
  std::set<std::uint32_t> os_pids;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    respawn::pid w;
    ASSERT_TRUE(eventually([&] {
      w = rt.whereis("the_worker");
      return static_cast<bool>(w);
    }));
    std::vector<respawn::task_request> tasks;
    tasks.push_back(task(i, "crash", R"({"signal":"SEGV"})", me.self()));
    me.send(w, respawn::run_tasks{std::move(tasks)});
    auto o = me.receive<task_outcome>(patience);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->exit, worker_exit::crashed);
    os_pids.insert(o->os_pid);
  }
  EXPECT_EQ(os_pids.size(), 3u) << "each restart starts a new OS process";
  auto d = me.receive<respawn::down>(patience);
  ASSERT_TRUE(d.has_value()) << "the supervisor did not give up";
  EXPECT_EQ(d->process, sup);
  EXPECT_EQ(d->reason.to_string(), "shutdown");
}

}  // namespace

namespace {

// No worker outlives its node: SIGKILL a real node (`respawn run`, a runtime with a pool in one
// process) while its worker runs a task; the kernel's parent-death signal takes the worker too.
TEST(node_death, a_killed_node_takes_its_workers_with_it) {
  pid_t node = ::fork();
  ASSERT_GE(node, 0);
  if (node == 0) {
    ::execl(RESPAWN_BINARY, RESPAWN_BINARY, "run", "sleep", "--arg", "ms=600000", "--deadline-ms", "0",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Find the node's worker among its children.
  pid_t worker = 0;
  bool found = eventually([&] {
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return false;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream stat{std::string{"/proc/"} + e->d_name + "/stat"};
      std::string line;
      if (!std::getline(stat, line)) continue;
      auto close = line.rfind(')');
      char state = 0;
      int ppid = 0;
      if (close == std::string::npos || std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
      if (ppid == node) worker = static_cast<pid_t>(std::stoi(e->d_name));
    }
    ::closedir(d);
    return worker != 0;
  });
  if (!found) {
    ::kill(node, SIGKILL);
    ::waitpid(node, nullptr, 0);
    FAIL() << "the node started no worker";
  }
  ASSERT_EQ(::kill(node, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(node, &status, 0), node);
  EXPECT_TRUE(eventually([&] { return os_process_gone(worker); })) << "worker " << worker << " outlived its node";
}

}  // namespace
