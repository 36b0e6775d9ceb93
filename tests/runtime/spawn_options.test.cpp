// spawn_options: link and monitor the new process to its parent atomically at spawn (so it cannot
// die unobserved in init), start it trapping exits, register it, or bound its mailbox (sends past
// the bound are refused with mailbox_full; runtime signals are not counted against it). A request
// that cannot be carried out throws spawn_error and spawns nothing.
#include "harness.hpp"

namespace respawn::test {
namespace {

TEST(SpawnOptions, LinkTiesTheChildToItsParentBothWays) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid parent = rt.spawn<puppet>({}, observer.self());
  observer.monitor(parent);
  rt.send(parent, spawn_puppet{linked()});
  observed spawned_seen = collect(observer);
  ASSERT_EQ(spawned_seen.spawns.size(), 1u);
  pid child = spawned_seen.spawns[0].pid;
  EXPECT_EQ(rt.info(child)->links, std::vector<pid>{parent});
  EXPECT_EQ(rt.info(parent)->links, std::vector<pid>{child});

  rt.send(child, throw_runtime_error{"child failed"});
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(parent));
  EXPECT_EQ(seen.down_of(parent)->reason, exit_reason::error("std::runtime_error", "child failed"));
}

TEST(SpawnOptions, LinkCatchesAChildThatDiesInInit) {
  struct dies_in_init : process {
    void init() override { throw std::runtime_error{"init failed"}; }
    void handle(message&) override {}
  };
  struct trapping_parent : process {
    explicit trapping_parent(pid observer) : observer_{observer} {}
    void init() override {
      trap_exit(true);
      spawn_link<dies_in_init>();
    }
    void handle(message& m) override {
      if (auto* e = m.get_if<exit_signal>()) send(observer_, *e);
    }
    pid observer_;
  };
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  rt.spawn<trapping_parent>({}, observer.self());

  auto signal = observer.receive<exit_signal>(1s);

  ASSERT_TRUE(signal);
  EXPECT_EQ(signal->reason, exit_reason::error("std::runtime_error", "init failed"));
}

TEST(SpawnOptions, MonitorGivesTheParentADownWithTheReturnedReference) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid parent = rt.spawn<puppet>({}, observer.self());
  rt.send(parent, spawn_puppet{monitored()});
  observed spawned_seen = collect(observer);
  ASSERT_EQ(spawned_seen.spawns.size(), 1u);
  spawned child = spawned_seen.spawns[0];
  EXPECT_TRUE(child.monitor);
  EXPECT_EQ(rt.info(parent)->monitors, std::vector<pid>{child.pid});
  EXPECT_TRUE(rt.info(child.pid)->links.empty());

  rt.send(child.pid, die_with{exit_reason::shutdown()});
  observed seen = collect(observer);

  ASSERT_EQ(seen.downs.size(), 1u);
  EXPECT_EQ(seen.downs[0].ref, child.monitor);
  EXPECT_EQ(seen.downs[0].reason, exit_reason::shutdown());
  EXPECT_TRUE(rt.alive(parent));
}

TEST(SpawnOptions, WithoutMonitorThereIsNoMonitorReference) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid parent = rt.spawn<puppet>({}, observer.self());
  rt.send(parent, spawn_puppet{{}});
  observed seen = collect(observer);
  ASSERT_EQ(seen.spawns.size(), 1u);
  EXPECT_FALSE(seen.spawns[0].monitor);
}

TEST(SpawnOptions, TrapExitStartsTheProcessTrapping) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>(trapping(), observer.self());
  EXPECT_TRUE(rt.info(p)->trap_exit);

  rt.exit(p, exit_reason::shutdown());
  observed seen = collect(observer);

  EXPECT_TRUE(rt.alive(p));
  ASSERT_EQ(seen.exit_signals.size(), 1u);
}

TEST(SpawnOptions, MailboxBoundRefusesSendsPastTheBound) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>(bounded(2), log);
  rt.run_until_idle();

  EXPECT_EQ(rt.send(r, 1), send_result::ok);
  EXPECT_EQ(rt.send(r, 2), send_result::ok);
  EXPECT_EQ(rt.send(r, 3), send_result::mailbox_full);
  rt.run_until_idle();
  EXPECT_EQ(*log, (std::vector<int>{1, 2}));

  EXPECT_EQ(rt.send(r, 4), send_result::ok) << "the room freed by handling was not given back";
  rt.run_until_idle();
  EXPECT_EQ(*log, (std::vector<int>{1, 2, 4}));
}

TEST(SpawnOptions, AFullMailboxStillTakesExitSignals) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>(bounded(1), log);
  observer.monitor(r);
  rt.run_until_idle();
  ASSERT_EQ(rt.send(r, 1), send_result::ok);
  ASSERT_EQ(rt.send(r, 2), send_result::mailbox_full);

  rt.exit(r, exit_reason::shutdown());
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(r));
  EXPECT_EQ(seen.down_of(r)->reason, exit_reason::shutdown());
}

TEST(SpawnOptions, LinkOrMonitorWithoutAParentIsASpawnError) {
  runtime rt{deterministic_config()};
  std::size_t before = rt.process_count();
  EXPECT_THROW(rt.spawn<recorder>(linked(), std::make_shared<std::vector<int>>()), spawn_error);
  EXPECT_THROW(rt.spawn<recorder>(monitored(), std::make_shared<std::vector<int>>()), spawn_error);
  EXPECT_EQ(rt.process_count(), before);
}

TEST(SpawnOptions, SpawnFnRunsACallable) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid echo = rt.spawn_fn([](process& self, message& m) {
    if (auto* v = m.get_if<int>()) self.send(m.sender(), *v + 1);
  });
  observer.send(echo, 41);

  auto v = observer.receive<int>(1s);

  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 42);
}

}  // namespace
}  // namespace respawn::test
