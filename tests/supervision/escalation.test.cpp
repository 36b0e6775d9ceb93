// Escalation: a supervisor that exceeds its restart intensity stops its children in reverse
// start order and exits with reason shutdown; its parent supervisor treats that exit like any
// child's, with its own strategy and its own intensity, up to the root, which then ends too.
// Each strategy of the inner supervisor gives up the same way; each strategy of the outer one
// decides differently what else to restart. A supervisor that gave up must leave nothing behind.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

class EscalationByInnerStrategy : public ::testing::TestWithParam<strategy> {};

TEST_P(EscalationByInnerStrategy, AnInnerSupervisorPastItsIntensityStopsItsChildrenInReverseAndIsRestarted) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(GetParam(), {worker_spec("a", log), worker_spec("b", log), worker_spec("c", log)},
                                  /*intensity=*/1);
  pid root = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {supervisor_child("inner", inner)}));
  rt.run_until_idle();
  const pid inner0 = pid_of(rt, root, "inner");
  std::vector<pid> first_children;
  for (auto& c : children_of(rt, inner0)) first_children.push_back(c.pid);

  crash(rt, inner0, "b");  // restart 1 of 1: allowed
  ASSERT_TRUE(rt.alive(inner0));
  const std::size_t mark = log->size();
  crash(rt, inner0, "b");  // restart 2 of 1: the inner supervisor gives up

  // Its children go first, last started first; then the outer supervisor starts a fresh inner one.
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:b", "stop:c", "stop:a", "start:a", "start:b",
                                                        "start:c"}));
  EXPECT_FALSE(rt.alive(inner0));
  for (pid p : first_children) EXPECT_FALSE(rt.alive(p));
  auto inner_info = child_of(rt, root, "inner");
  ASSERT_TRUE(inner_info);
  EXPECT_TRUE(inner_info->pid);
  EXPECT_NE(inner_info->pid, inner0);
  EXPECT_EQ(inner_info->restarts, 1u);
  EXPECT_EQ(inner_info->last_exit_reason, "shutdown");
  // The new inner supervisor starts with a clean slate.
  for (auto& c : children_of(rt, inner_info->pid)) {
    EXPECT_TRUE(c.pid) << c.id;
    EXPECT_EQ(c.restarts, 0u) << c.id;
  }
  EXPECT_TRUE(rt.alive(root));
}

INSTANTIATE_TEST_SUITE_P(Strategies, EscalationByInnerStrategy,
                         ::testing::ValuesIn(all_strategies()), strategy_name);

class EscalationByOuterStrategy : public ::testing::TestWithParam<strategy> {};

TEST_P(EscalationByOuterStrategy, TheParentAppliesItsOwnStrategyToTheSupervisorThatGaveUp) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("x", log)}, /*intensity=*/0);
  pid root = rt.spawn<supervisor>(
      {}, spec_of(GetParam(), {worker_spec("before", log), supervisor_child("inner", inner), worker_spec("after", log)}));
  rt.run_until_idle();
  const pid before0 = pid_of(rt, root, "before"), inner0 = pid_of(rt, root, "inner"),
            after0 = pid_of(rt, root, "after");

  crash(rt, inner0, "x");  // intensity 0: the inner supervisor gives up at once

  EXPECT_FALSE(rt.alive(inner0));
  EXPECT_NE(pid_of(rt, root, "inner"), inner0);
  EXPECT_TRUE(pid_of(rt, root, "inner"));
  const bool before_restarted = GetParam() == strategy::one_for_all;
  const bool after_restarted = GetParam() != strategy::one_for_one;
  EXPECT_EQ(pid_of(rt, root, "before") != before0, before_restarted);
  EXPECT_EQ(pid_of(rt, root, "after") != after0, after_restarted);
  EXPECT_TRUE(pid_of(rt, root, "before"));
  EXPECT_TRUE(pid_of(rt, root, "after"));
}

INSTANTIATE_TEST_SUITE_P(Strategies, EscalationByOuterStrategy,
                         ::testing::ValuesIn(all_strategies()), strategy_name);

TEST(Escalation, ReachesTheRootWhichStopsEverythingAndExitsWithShutdown) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("x", log)}, /*intensity=*/0);
  pid root = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("w", log), supervisor_child("inner", inner)}, /*intensity=*/1));
  scoped_process watcher{rt};
  watcher.monitor(root);
  rt.run_until_idle();
  const pid w0 = pid_of(rt, root, "w");

  crash(rt, pid_of(rt, root, "inner"), "x");  // the root restarts inner: 1 of 1
  ASSERT_TRUE(rt.alive(root));
  const pid inner1 = pid_of(rt, root, "inner");
  const pid x1 = pid_of(rt, inner1, "x");
  const std::size_t mark = log->size();
  crash(rt, inner1, "x");  // inner gives up again: the root's second restart is one too many

  auto reason = exit_reason_of(watcher, root);
  ASSERT_TRUE(reason) << "the root supervisor should have ended";
  EXPECT_EQ(*reason, exit_reason::shutdown());
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:x", "stop:w"}));
  for (pid p : {w0, inner1, x1}) EXPECT_FALSE(rt.alive(p));
  EXPECT_EQ(rt.process_count(), 1u) << "only the watcher is left";
}

TEST(Escalation, ATransientSupervisorThatGaveUpIsNotRestarted) {
  // shutdown is a normal reason for a transient child, supervisors included (OTP).
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("x", log)}, /*intensity=*/0);
  pid root = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {supervisor_child("inner", inner, restart_type::transient)}));
  rt.run_until_idle();

  crash(rt, pid_of(rt, root, "inner"), "x");

  auto info = child_of(rt, root, "inner");
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->pid);
  EXPECT_EQ(info->last_exit_reason, "shutdown");
  EXPECT_TRUE(rt.alive(root));
}

TEST(Escalation, ARootSupervisorToldToShutDownStopsItsWholeTreeDepthFirstInReverseOrder) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("x", log), worker_spec("y", log)});
  pid root = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("a", log), supervisor_child("inner", inner),
                                          worker_spec("b", log)}));
  scoped_process watcher{rt};
  watcher.monitor(root);
  rt.run_until_idle();
  const std::size_t mark = log->size();

  rt.exit(root, exit_reason::shutdown());
  rt.run_until_idle();

  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:b", "stop:y", "stop:x", "stop:a"}));
  auto reason = exit_reason_of(watcher, root);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::shutdown());
  EXPECT_EQ(rt.process_count(), 1u);
}

}  // namespace
}  // namespace respawn::sup_test
