// Shutting children down: in reverse start order; each gets `shutdown`, then `kill` once its
// shutdown timeout has passed (a child that traps exits and ignores shutdown is killed exactly at
// the timeout on the deterministic clock); brutal_kill kills at once; infinity waits for ever.
// Throughout, the supervisor keeps answering calls: stopping is asynchronous, never a blocking
// wait inside a handler (STYLE.md: "A supervisor never blocks").
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

child_spec stubborn_spec(const std::string& id, const std::shared_ptr<event_log>& log, shutdown_spec shutdown) {
  child_spec c = worker_spec(id, log);
  c.start = worker_start(id, log, /*stubborn=*/true);
  c.shutdown = shutdown;
  return c;
}

TEST(Shutdown, StopsChildrenInReverseStartOrder) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("a", log), worker_spec("b", log),
                                                                     worker_spec("c", log), worker_spec("d", log)}));
  scoped_process watcher{rt};
  watcher.monitor(sup);
  rt.run_until_idle();
  const std::size_t mark = log->size();

  rt.exit(sup, exit_reason::shutdown());
  rt.run_until_idle();

  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:d", "stop:c", "stop:b", "stop:a"}));
  auto reason = exit_reason_of(watcher, sup);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::shutdown());
}

TEST(Shutdown, AChildThatIgnoresShutdownIsKilledAtItsTimeoutAndTheOthersWaitTheirTurn) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one,
                                             {worker_spec("a", log), stubborn_spec("s", log, shutdown_spec::after(1000ms)),
                                              worker_spec("c", log)}));
  scoped_process watcher{rt};
  watcher.monitor(sup);
  rt.run_until_idle();
  const pid s = pid_of(rt, sup, "s"), a = pid_of(rt, sup, "a");
  watcher.monitor(s);
  const std::size_t mark = log->size();

  rt.exit(sup, exit_reason::shutdown());
  rt.run_until_idle();
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:c"}));
  EXPECT_TRUE(rt.alive(s));
  EXPECT_TRUE(rt.alive(a)) << "a is stopped only after s";

  // While it waits, the supervisor answers calls.
  auto children = children_of(rt, sup);
  ASSERT_EQ(children.size(), 3u);
  EXPECT_EQ(children[1].pid, s);
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 2u);

  rt.advance(999ms);
  rt.run_until_idle();
  EXPECT_TRUE(rt.alive(s)) << "killed before its shutdown timeout";

  rt.advance(1ms);
  rt.run_until_idle();
  EXPECT_FALSE(rt.alive(s));
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:c", "stop:a"})) << "s was killed: no terminate()";
  std::optional<exit_reason> s_reason, sup_reason;
  while (message_ptr m = watcher.receive(0ms)) {
    if (auto* d = m->get_if<down>()) (d->process == s ? s_reason : sup_reason) = d->reason;
  }
  ASSERT_TRUE(s_reason);
  EXPECT_EQ(*s_reason, exit_reason::killed());
  ASSERT_TRUE(sup_reason);
  EXPECT_EQ(*sup_reason, exit_reason::shutdown());
}

TEST(Shutdown, BrutalKillKillsAtOnceWithoutWaiting) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("a", log), stubborn_spec("s", log, shutdown_spec::brutal())}));
  scoped_process watcher{rt};
  rt.run_until_idle();
  const pid s = pid_of(rt, sup, "s");
  watcher.monitor(s);
  const std::size_t mark = log->size();
  const auto t0 = rt.now();

  rt.exit(sup, exit_reason::shutdown());
  rt.run_until_idle();

  EXPECT_EQ(rt.now(), t0);
  EXPECT_FALSE(rt.alive(sup));
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:a"}));
  auto reason = exit_reason_of(watcher, s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::killed());
}

TEST(Shutdown, AnInfiniteTimeoutWaitsForTheChildForEver) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {stubborn_spec("s", log, shutdown_spec::infinity())}));
  rt.run_until_idle();
  const pid s = pid_of(rt, sup, "s");

  rt.exit(sup, exit_reason::shutdown());
  rt.run_until_idle();
  rt.advance(std::chrono::hours{24});
  rt.run_until_idle();

  EXPECT_TRUE(rt.alive(s));
  EXPECT_TRUE(rt.alive(sup));
  EXPECT_EQ(pid_of(rt, sup, "s"), s);
}

TEST(Shutdown, TerminateChildRepliesOnceTheSlowChildIsDownAndOtherCallsAreAnsweredMeanwhile) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("a", log), stubborn_spec("s", log, shutdown_spec::after(500ms))}));
  rt.run_until_idle();
  const pid s = pid_of(rt, sup, "s");

  call_future<bool> pending = rt.call_async<bool>(sup, terminate_child{"s"}, 10000ms);
  rt.run_until_idle();
  EXPECT_FALSE(pending.ready());
  EXPECT_EQ(children_of(rt, sup).size(), 2u);
  EXPECT_FALSE(rt.call<bool>(sup, terminate_child{"s"}, 1s).value()) << "already being terminated";

  rt.advance(500ms);
  rt.run_until_idle();
  ASSERT_TRUE(pending.ready());
  EXPECT_TRUE(pending.get().value());
  EXPECT_FALSE(rt.alive(s));
  EXPECT_FALSE(pid_of(rt, sup, "s"));
  EXPECT_TRUE(pid_of(rt, sup, "a"));
}

TEST(Shutdown, ARestartUnderOneForAllWaitsUntilTheSlowSiblingIsKilled) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_all, {worker_spec("a", log), stubborn_spec("s", log, shutdown_spec::after(300ms))}));
  rt.run_until_idle();
  const std::size_t mark = log->size();

  crash(rt, sup, "a");
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:a"}));
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 1u) << "it answers while s is stopping";

  rt.advance(300ms);
  rt.run_until_idle();
  auto after = log->since(mark);
  ASSERT_GE(after.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(after.end() - 2, after.end()), (std::vector<std::string>{"start:a", "start:s"}));
  EXPECT_TRUE(pid_of(rt, sup, "a"));
  EXPECT_TRUE(pid_of(rt, sup, "s"));
}

}  // namespace
}  // namespace respawn::sup_test
