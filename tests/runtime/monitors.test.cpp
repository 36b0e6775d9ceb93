// Monitors: one-way. When the monitored process ends, for any reason (normal included), the
// monitoring process gets one `down` message with the monitor's reference, the pid and the reason;
// the monitoring process itself is never taken down. Monitoring a pid that is already dead gives
// down noproc; a request still pending when the target dies gets its real reason. After
// demonitor, no down for that reference arrives, even one already queued.
#include "harness.hpp"

namespace respawn::test {
namespace {

class MonitorMatrix : public ::testing::TestWithParam<ending> {};

TEST_P(MonitorMatrix, TheMonitoringProcessGetsDownWithTheReasonAndLivesOn) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.send(watcher, monitor_pid{target});
  rt.run_until_idle();
  observed before = collect(observer);
  ASSERT_EQ(before.monitor_refs.size(), 1u);
  monitor_ref ref = before.monitor_refs[0];
  EXPECT_TRUE(ref);
  EXPECT_EQ(rt.info(watcher)->monitors, std::vector<pid>{target});
  EXPECT_EQ(rt.info(target)->monitored_by, std::vector<pid>{watcher});

  GetParam().end(rt, target);
  observed seen = collect(observer);

  ASSERT_EQ(seen.downs.size(), 1u);
  EXPECT_EQ(seen.downs[0].ref, ref);
  EXPECT_EQ(seen.downs[0].process, target);
  EXPECT_EQ(seen.downs[0].reason, GetParam().seen);
  EXPECT_TRUE(rt.alive(watcher));
  EXPECT_TRUE(rt.info(watcher)->monitors.empty());
}

TEST_P(MonitorMatrix, AScopedProcessGetsDownWithTheReason) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  monitor_ref ref = observer.monitor(target);
  rt.run_until_idle();

  GetParam().end(rt, target);
  auto d = observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->ref, ref);
  EXPECT_EQ(d->process, target);
  EXPECT_EQ(d->reason, GetParam().seen);
}

INSTANTIATE_TEST_SUITE_P(EveryReason, MonitorMatrix, ::testing::ValuesIn(endings()), ending_name);

TEST(Monitors, MonitoringADeadPidGivesDownNoproc) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid dead = rt.spawn<puppet>({}, observer.self());
  rt.send(dead, die_with{exit_reason::normal()});
  rt.run_until_idle();
  ASSERT_FALSE(rt.alive(dead));

  monitor_ref ref = observer.monitor(dead);
  auto d = observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->ref, ref);
  EXPECT_EQ(d->process, dead);
  EXPECT_EQ(d->reason, exit_reason::noproc());
}

TEST(Monitors, AMonitorRequestPendingWhenTheProcessDiesGetsDownWithItsReason) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();

  rt.send(watcher, monitor_pid{target});  // runs first: the request queues behind the die_with
  rt.send(target, die_with{exit_reason::shutdown()});
  ASSERT_TRUE(rt.step());
  EXPECT_EQ(rt.info(target)->mailbox_length, 2u);
  observed seen = collect(observer);

  ASSERT_EQ(seen.downs.size(), 1u);
  EXPECT_EQ(seen.downs[0].process, target);
  EXPECT_EQ(seen.downs[0].reason, exit_reason::shutdown());
}

TEST(Monitors, MonitoringAndThenKillingGivesDownKilledNotNoproc) {
  // The kill overtakes the mailbox, but the monitor request that came first is still answered
  // with the real reason.
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();

  rt.send(watcher, monitor_pid{target});
  rt.send(watcher, send_exit_to{target, exit_reason::kill()});
  observed seen = collect(observer);

  ASSERT_EQ(seen.downs.size(), 1u);
  EXPECT_EQ(seen.downs[0].reason, exit_reason::killed());
}

TEST(Monitors, AMonitorIsOneWaySoTheWatcherEndingLeavesTheTargetAlone) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.send(watcher, monitor_pid{target});
  rt.run_until_idle();
  ASSERT_EQ(rt.info(target)->monitored_by, std::vector<pid>{watcher});

  rt.send(watcher, throw_runtime_error{"boom"});
  rt.run_until_idle();

  EXPECT_TRUE(rt.alive(target));
  EXPECT_TRUE(rt.info(target)->monitored_by.empty()) << "a dead watcher is still listed";
}

TEST(Monitors, TwoMonitorsOnOneProcessGiveTwoDownsWithTheirOwnReferences) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.send(watcher, monitor_pid{target});
  rt.send(watcher, monitor_pid{target});
  rt.run_until_idle();
  observed refs = collect(observer);
  ASSERT_EQ(refs.monitor_refs.size(), 2u);
  EXPECT_NE(refs.monitor_refs[0], refs.monitor_refs[1]);

  rt.send(target, die_with{exit_reason::shutdown()});
  observed seen = collect(observer);

  ASSERT_EQ(seen.downs.size(), 2u);
  EXPECT_EQ(seen.downs[0].ref, refs.monitor_refs[0]);
  EXPECT_EQ(seen.downs[1].ref, refs.monitor_refs[1]);
}

TEST(Monitors, DemonitorBeforeTheEndMeansNoDown) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.send(watcher, monitor_pid{target});
  rt.run_until_idle();
  monitor_ref ref = collect(observer).monitor_refs.at(0);

  rt.send(watcher, demonitor_ref{ref});
  rt.run_until_idle();
  EXPECT_TRUE(rt.info(watcher)->monitors.empty());
  EXPECT_TRUE(rt.info(target)->monitored_by.empty());

  rt.send(target, throw_runtime_error{"boom"});
  observed seen = collect(observer);

  EXPECT_FALSE(rt.alive(target));
  EXPECT_TRUE(seen.downs.empty());
}

TEST(Monitors, DemonitorFlushesADownAlreadyQueued) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>({}, observer.self());
  pid watcher = rt.spawn<puppet>({}, observer.self());
  rt.send(watcher, monitor_pid{target});
  rt.run_until_idle();
  monitor_ref ref = collect(observer).monitor_refs.at(0);

  // target runs first and queues its down behind the demonitor in the watcher's mailbox.
  rt.send(target, die_with{exit_reason::shutdown()});
  rt.send(watcher, demonitor_ref{ref});
  ASSERT_TRUE(rt.step());
  ASSERT_FALSE(rt.alive(target));
  ASSERT_EQ(rt.info(watcher)->mailbox_length, 2u);  // demonitor, then the down
  observed seen = collect(observer);

  EXPECT_TRUE(seen.downs.empty()) << "a down arrived after demonitor";
  EXPECT_TRUE(rt.alive(watcher));
}

}  // namespace
}  // namespace respawn::test
