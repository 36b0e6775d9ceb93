// trap_exit: a process that traps exits turns exit signals into exit_signal messages and lives
// on, whatever the reason of its linked partner, normal included. The one signal it cannot trap
// is kill (exit(pid, kill)): it dies, with reason killed. A kill only reaches its direct target:
// the target's links then see killed, an ordinary reason that they can trap.
#include "harness.hpp"

namespace respawn::test {
namespace {

class TrapExitMatrix : public ::testing::TestWithParam<ending> {};

TEST_P(TrapExitMatrix, ATrappingLinkedProcessSurvivesAndGetsAnExitSignalWithTheReason) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();

  GetParam().end(rt, a);
  observed seen = collect(observer);

  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].from, a);
  EXPECT_EQ(seen.exit_signals[0].reason, GetParam().seen);
  EXPECT_FALSE(rt.alive(a));
  EXPECT_TRUE(rt.alive(b));
  EXPECT_TRUE(rt.info(b)->links.empty());
  EXPECT_TRUE(rt.call<pong>(b, ping{}, 1s).ok());
}

TEST_P(TrapExitMatrix, TrappingCanBeTurnedOnAfterSpawn) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, set_trap_exit{true});
  rt.send(b, link_to{a});
  rt.run_until_idle();
  EXPECT_TRUE(rt.info(b)->trap_exit);

  GetParam().end(rt, a);
  observed seen = collect(observer);

  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].reason, GetParam().seen);
  EXPECT_TRUE(rt.alive(b));
}

INSTANTIATE_TEST_SUITE_P(EveryReason, TrapExitMatrix, ::testing::ValuesIn(endings()), ending_name);

TEST(TrapExit, KillCannotBeTrapped) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  observer.monitor(b);
  rt.run_until_idle();

  rt.exit(b, exit_reason::kill());
  observed seen = collect(observer);

  EXPECT_FALSE(rt.alive(b));
  EXPECT_TRUE(seen.exit_signals.empty());
  ASSERT_TRUE(seen.down_of(b));
  EXPECT_EQ(seen.down_of(b)->reason, exit_reason::killed());
}

TEST(TrapExit, KillFromAnotherProcessCannotBeTrappedEither) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid killer = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  observer.monitor(b);
  rt.run_until_idle();

  rt.send(killer, send_exit_to{b, exit_reason::kill()});
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(b));
  EXPECT_EQ(seen.down_of(b)->reason, exit_reason::killed());
  EXPECT_TRUE(rt.alive(killer));
}

TEST(TrapExit, AKillOvertakesMessagesAlreadyInTheMailbox) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.run_until_idle();
  for (int i = 0; i < 10; ++i) rt.send(r, i);

  rt.exit(r, exit_reason::kill());
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(r));
  EXPECT_TRUE(log->empty()) << "handled " << log->size() << " messages after being killed";
}

TEST(TrapExit, ALinkedProcessOfAKilledProcessCanTrapKilled) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.send(b, link_to{a});
  rt.run_until_idle();

  rt.exit(a, exit_reason::kill());
  observed seen = collect(observer);

  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].reason, exit_reason::killed());
  EXPECT_TRUE(rt.alive(b));
}

TEST(TrapExit, ATrappingProcessGetsExitSignalsSentWithExitAsMessages) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid sender = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.run_until_idle();

  rt.send(sender, send_exit_to{b, exit_reason::shutdown()});
  rt.send(sender, send_exit_to{b, exit_reason::normal()});
  observed seen = collect(observer);

  ASSERT_EQ(seen.exit_signals.size(), 2u);
  EXPECT_EQ(seen.exit_signals[0].from, sender);
  EXPECT_EQ(seen.exit_signals[0].reason, exit_reason::shutdown());
  EXPECT_EQ(seen.exit_signals[1].reason, exit_reason::normal());
  EXPECT_TRUE(rt.alive(b));
}

TEST(TrapExit, TurningTrappingOffMakesTheProcessDieOfTheNextAbnormalSignal) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>(trapping(), observer.self());
  rt.send(b, link_to{a});
  rt.send(b, set_trap_exit{false});
  rt.run_until_idle();
  observer.monitor(b);
  EXPECT_FALSE(rt.info(b)->trap_exit);

  rt.send(a, die_with{exit_reason::shutdown()});
  observed seen = collect(observer);

  EXPECT_TRUE(seen.exit_signals.empty());
  ASSERT_TRUE(seen.down_of(b));
  EXPECT_EQ(seen.down_of(b)->reason, exit_reason::shutdown());
}

TEST(TrapExit, ATrappingProcessLinkingToADeadPidGetsExitSignalNoproc) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid dead = rt.spawn<puppet>({}, observer.self());
  rt.exit(dead, exit_reason::kill());
  rt.run_until_idle();
  pid b = rt.spawn<puppet>(trapping(), observer.self());

  rt.send(b, link_to{dead});
  observed seen = collect(observer);

  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].from, dead);
  EXPECT_EQ(seen.exit_signals[0].reason, exit_reason::noproc());
  EXPECT_TRUE(rt.alive(b));
  EXPECT_TRUE(rt.info(b)->links.empty());
}

TEST(TrapExit, AScopedProcessCanTrapExitsOfALinkedProcess) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  observer.trap_exit(true);
  pid a = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();
  observer.link(a);
  rt.run_until_idle();

  rt.send(a, throw_runtime_error{"boom"});
  auto signal = observer.receive<exit_signal>(1s);

  ASSERT_TRUE(signal);
  EXPECT_EQ(signal->from, a);
  EXPECT_EQ(signal->reason, exit_reason::error("std::runtime_error", "boom"));
  EXPECT_TRUE(rt.alive(observer.self()));
}

}  // namespace
}  // namespace respawn::test
