// Recovery snapshots (seed 003): a child that saves its state with save_snapshot restarts from
// the latest snapshot, never from scratch, whatever ended it, however many restarts later, and
// also when it is restarted on a sibling's account or by restart_child. A crash while recovering
// (the start function throws, or the new instance's init throws) counts as a failed restart: the
// supervisor retries within its intensity and otherwise gives up like any supervisor, never
// taking anything else down.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

int value_of(runtime& rt, pid p) {
  auto r = rt.call<int>(p, get_value{}, 1s);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? r.value() : -1;
}

void increment_times(runtime& rt, pid p, int n) {
  for (int i = 0; i < n; ++i) rt.send(p, increment{});
  rt.run_until_idle();
}

class SnapshotAfterEnding : public ::testing::TestWithParam<ending> {};

TEST_P(SnapshotAfterEnding, APermanentChildRestartsFromItsLatestSnapshot) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("counter", log)}));
  rt.run_until_idle();
  pid first = pid_of(rt, sup, "counter");
  increment_times(rt, first, 5);

  GetParam().end(rt, first);
  rt.run_until_idle();

  pid second = pid_of(rt, sup, "counter");
  ASSERT_TRUE(second);
  ASSERT_NE(second, first);
  EXPECT_EQ(value_of(rt, second), 5);
}

INSTANTIATE_TEST_SUITE_P(Endings, SnapshotAfterEnding, ::testing::ValuesIn(endings()),
                         [](const ::testing::TestParamInfo<ending>& param) { return param.param.name; });

TEST(Snapshots, TheLatestSnapshotSurvivesRestartsThatSaveNothingNew) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("counter", log)}, 10));
  rt.run_until_idle();
  increment_times(rt, pid_of(rt, sup, "counter"), 3);

  for (int i = 0; i < 3; ++i) crash(rt, sup, "counter");
  EXPECT_EQ(value_of(rt, pid_of(rt, sup, "counter")), 3);

  increment_times(rt, pid_of(rt, sup, "counter"), 2);
  crash(rt, sup, "counter");
  EXPECT_EQ(value_of(rt, pid_of(rt, sup, "counter")), 5);
}

TEST(Snapshots, AChildWithoutASnapshotStartsFromScratch) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("counter", log)}));
  rt.run_until_idle();
  crash(rt, sup, "counter");
  EXPECT_EQ(value_of(rt, pid_of(rt, sup, "counter")), 0);
}

TEST(Snapshots, ASiblingRestartedUnderOneForAllResumesFromItsOwnLatestSnapshot) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_all, {worker_spec("crasher", log), worker_spec("counter", log)}));
  rt.run_until_idle();
  pid counter = pid_of(rt, sup, "counter");
  increment_times(rt, counter, 4);

  crash(rt, sup, "crasher");

  pid again = pid_of(rt, sup, "counter");
  ASSERT_NE(again, counter);
  EXPECT_EQ(value_of(rt, again), 4) << "the sibling's replacement must start from its latest snapshot";
}

TEST(Snapshots, RestartChildAfterTerminateChildResumesFromTheLatestSnapshot) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("counter", log)}));
  rt.run_until_idle();
  increment_times(rt, pid_of(rt, sup, "counter"), 7);

  ASSERT_TRUE(rt.call<bool>(sup, terminate_child{"counter"}, 1s).value());
  ASSERT_TRUE(rt.call<bool>(sup, restart_child{"counter"}, 1s).value());

  EXPECT_EQ(value_of(rt, pid_of(rt, sup, "counter")), 7);
}

// A start function that throws while recovering from a snapshot, `failures` times in all.
child_spec fragile_start_spec(const std::shared_ptr<event_log>& log, std::shared_ptr<int> failures) {
  child_spec c = worker_spec("counter", log);
  c.start = [log, failures](const snapshot& last) -> std::unique_ptr<process> {
    const int* saved = last.get<int>();
    if (saved != nullptr && *failures > 0) {
      --*failures;
      throw std::runtime_error{"cannot recover"};
    }
    return std::make_unique<worker>("counter", log, saved != nullptr ? *saved : 0);
  };
  return c;
}

TEST(Snapshots, AStartFunctionThatThrowsWhileRecoveringCountsAsAFailedRestartAndIsRetried) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  auto failures = std::make_shared<int>(2);
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {fragile_start_spec(log, failures)}, 3));
  rt.run_until_idle();
  increment_times(rt, pid_of(rt, sup, "counter"), 6);

  crash(rt, sup, "counter");  // restart 1 fails, 2 fails, 3 succeeds: within 3 restarts

  ASSERT_TRUE(rt.alive(sup));
  auto info = child_of(rt, sup, "counter");
  ASSERT_TRUE(info);
  ASSERT_TRUE(info->pid);
  EXPECT_EQ(info->restarts, 3u);
  EXPECT_EQ(value_of(rt, info->pid), 6) << "a failed recovery must not lose the snapshot";
}

TEST(Snapshots, AStartFunctionThatAlwaysThrowsEndsOnlyItsSupervisorAtTheIntensityLimit) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  auto failures = std::make_shared<int>(1000);
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("sibling", log), fragile_start_spec(log, failures)}, 3);
  pid root = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {supervisor_child("inner", inner), worker_spec("bystander", log)}, 0));
  scoped_process watcher{rt};
  watcher.monitor(root);
  rt.run_until_idle();
  const pid inner0 = pid_of(rt, root, "inner");
  const pid sibling = pid_of(rt, inner0, "sibling");
  increment_times(rt, pid_of(rt, inner0, "counter"), 1);

  crash(rt, inner0, "counter");

  EXPECT_EQ(*failures, 1000 - 3) << "three failed restarts, then the fourth exceeds the intensity";
  EXPECT_FALSE(rt.alive(inner0));
  EXPECT_FALSE(rt.alive(sibling));
  // The root's intensity is 0: the inner supervisor's exit ends the root too, in good order.
  auto reason = exit_reason_of(watcher, root);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::shutdown());
  // The runtime itself is unharmed.
  pid fresh = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("w", log)}));
  rt.run_until_idle();
  EXPECT_EQ(value_of(rt, pid_of(rt, fresh, "w")), 0);
}

// A worker whose init throws `failures` times in all (a crash while recovering, in the new process).
class fragile_init_worker : public worker {
 public:
  fragile_init_worker(std::shared_ptr<event_log> log, int value, std::shared_ptr<int> failures)
      : worker{"counter", std::move(log), value}, failures_{std::move(failures)} {}
  void init() override {
    if (*failures_ > 0) {
      --*failures_;
      throw std::runtime_error{"init failed while recovering"};
    }
    worker::init();
  }

 private:
  std::shared_ptr<int> failures_;
};

TEST(Snapshots, AnInitThatThrowsWhileRecoveringCountsAsAFailedRestartAndKeepsTheSnapshot) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  auto failures = std::make_shared<int>(0);
  child_spec c = worker_spec("counter", log);
  c.start = [log, failures](const snapshot& last) {
    const int* saved = last.get<int>();
    return std::make_unique<fragile_init_worker>(log, saved != nullptr ? *saved : 0, failures);
  };
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {c}, 3));
  rt.run_until_idle();
  increment_times(rt, pid_of(rt, sup, "counter"), 9);

  *failures = 2;
  crash(rt, sup, "counter");

  ASSERT_TRUE(rt.alive(sup));
  auto info = child_of(rt, sup, "counter");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->restarts, 3u);
  EXPECT_EQ(info->last_exit_reason, "error: std::runtime_error: init failed while recovering");
  EXPECT_EQ(value_of(rt, info->pid), 9);

  *failures = 1000;
  crash(rt, sup, "counter");
  EXPECT_FALSE(rt.alive(sup)) << "past its intensity the supervisor gives up";
}

}  // namespace
}  // namespace respawn::sup_test
