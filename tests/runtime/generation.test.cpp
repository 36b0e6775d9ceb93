// Generations: a pid names one process for ever. When a process ends, its slot in the process
// table is reused with a new generation, and the old pid (a stale handle) reaches nothing: send
// says noproc, exit, link, monitor, call and the registry treat it as dead, and the newer process
// in the same slot is never touched.
#include "harness.hpp"

namespace respawn::test {
namespace {

struct slot_reuse {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  std::shared_ptr<std::vector<int>> old_log = std::make_shared<std::vector<int>>();
  std::shared_ptr<std::vector<int>> new_log = std::make_shared<std::vector<int>>();
  pid old;
  pid reuser;

  slot_reuse() {
    old = rt.spawn<recorder>({}, old_log);
    rt.run_until_idle();
    rt.exit(old, exit_reason::kill());
    rt.run_until_idle();
    reuser = spawn_recorder_in_slot_of(rt, old, new_log);
    rt.run_until_idle();
  }
};

TEST(Generation, ANewProcessInADeadProcesssSlotHasAnotherGeneration) {
  slot_reuse s;
  ASSERT_TRUE(s.reuser) << "no process reused slot " << s.old.index;
  EXPECT_EQ(s.reuser.index, s.old.index);
  EXPECT_NE(s.reuser.generation, s.old.generation);
  EXPECT_NE(s.reuser, s.old);
  EXPECT_FALSE(s.rt.alive(s.old));
  EXPECT_TRUE(s.rt.alive(s.reuser));
}

TEST(Generation, AStalePidsSendSaysNoprocAndDoesNotReachTheNewProcess) {
  slot_reuse s;
  ASSERT_TRUE(s.reuser);

  EXPECT_EQ(s.rt.send(s.old, 1), send_result::noproc);
  s.rt.run_until_idle();
  EXPECT_TRUE(s.new_log->empty());

  EXPECT_EQ(s.rt.send(s.reuser, 2), send_result::ok);
  s.rt.run_until_idle();
  EXPECT_EQ(*s.new_log, std::vector<int>{2});
}

TEST(Generation, AnExitToAStalePidDoesNotKillTheNewProcess) {
  slot_reuse s;
  ASSERT_TRUE(s.reuser);

  s.rt.exit(s.old, exit_reason::kill());
  s.rt.exit(s.old, exit_reason::shutdown());
  s.rt.run_until_idle();

  EXPECT_TRUE(s.rt.alive(s.reuser));
}

TEST(Generation, MonitoringOrLinkingAStalePidSeesItDeadAndLeavesTheNewProcessAlone) {
  slot_reuse s;
  ASSERT_TRUE(s.reuser);
  pid watcher = s.rt.spawn<puppet>(trapping(), s.observer.self());
  s.rt.send(watcher, monitor_pid{s.old});
  s.rt.send(watcher, link_to{s.old});
  observed seen = collect(s.observer);

  ASSERT_EQ(seen.downs.size(), 1u);
  EXPECT_EQ(seen.downs[0].reason, exit_reason::noproc());
  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].reason, exit_reason::noproc());
  process_info reuser = *s.rt.info(s.reuser);
  EXPECT_TRUE(reuser.links.empty());
  EXPECT_TRUE(reuser.monitored_by.empty());
}

TEST(Generation, AStalePidCannotBeRegisteredOrCalled) {
  slot_reuse s;
  ASSERT_TRUE(s.reuser);

  EXPECT_FALSE(s.rt.register_name("stale", s.old));
  EXPECT_FALSE(s.rt.info(s.old));
  result<pong> r = s.rt.call<pong>(s.old, ping{}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with noproc");
  s.rt.run_until_idle();
  EXPECT_EQ(s.rt.info(s.reuser)->messages_handled, 0u);
}

TEST(Generation, ANameHeldByTheDeadProcessDoesNotResolveToTheNewOne) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  spawn_options named;
  named.name = "server";
  pid old = rt.spawn<recorder>(named, log);
  rt.run_until_idle();
  rt.exit(old, exit_reason::kill());
  rt.run_until_idle();
  pid reuser = spawn_recorder_in_slot_of(rt, old, log);
  ASSERT_TRUE(reuser);

  EXPECT_EQ(rt.whereis("server"), pid{});
}

}  // namespace
}  // namespace respawn::test
