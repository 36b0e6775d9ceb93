// Restart intensity: at most `intensity` restarts within any `period`. On the deterministic clock
// we place crashes exactly: spread wider than the period they never add up, however many there
// are; one more than the intensity within the period ends the supervisor (reason shutdown). The
// window slides: restarts older than the period are forgotten. The defaults are OTP's 3 in 5 s.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

struct supervised {
  std::unique_ptr<runtime> rt = std::make_unique<runtime>(deterministic_config());
  std::shared_ptr<event_log> log = std::make_shared<event_log>();
  std::unique_ptr<scoped_process> watcher = std::make_unique<scoped_process>(*rt);
  pid sup;

  explicit supervised(supervisor_flags flags) {
    supervisor_spec spec;
    spec.flags = flags;
    spec.children = {worker_spec("w", log)};
    sup = rt->spawn<supervisor>({}, spec);
    watcher->monitor(sup);
    rt->run_until_idle();
  }
  ~supervised() {
    watcher.reset();
    rt.reset();
  }
  bool alive() { return rt->alive(sup); }
  void crash_w() { crash(*rt, sup, "w"); }
};

supervisor_flags flags(std::uint32_t intensity, std::chrono::milliseconds period) {
  supervisor_flags f;
  f.intensity = intensity;
  f.period = period;
  return f;
}

TEST(Intensity, TheDefaultAllowsThreeRestartsInFiveSecondsAndGivesUpAtTheFourth) {
  supervised s{supervisor_flags{}};
  for (int i = 0; i < 3; ++i) {
    s.crash_w();
    ASSERT_TRUE(s.alive()) << "after crash " << i + 1;
  }
  EXPECT_EQ(child_of(*s.rt, s.sup, "w")->restarts, 3u);
  pid w = pid_of(*s.rt, s.sup, "w");

  s.rt->send(w, throw_error{});
  s.rt->run_until_idle();

  EXPECT_FALSE(s.alive());
  auto reason = exit_reason_of(*s.watcher, s.sup);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::shutdown());
  EXPECT_EQ(s.rt->process_count(), 1u) << "no child outlives its supervisor";
}

TEST(Intensity, ZeroMeansTheFirstCrashEndsTheSupervisor) {
  supervised s{flags(0, 5000ms)};
  s.crash_w();
  EXPECT_FALSE(s.alive());
}

TEST(Intensity, CrashesSpreadWiderThanThePeriodNeverExceedIt) {
  // 3 in 1000 ms; one crash every 400 ms puts at most 3 in any window of 1000 ms.
  supervised s{flags(3, 1000ms)};
  for (int i = 0; i < 25; ++i) {
    s.crash_w();
    ASSERT_TRUE(s.alive()) << "gave up at crash " << i + 1;
    s.rt->advance(400ms);
  }
  EXPECT_EQ(child_of(*s.rt, s.sup, "w")->restarts, 25u);
}

TEST(Intensity, OneRestartMoreThanTheIntensityWithinThePeriodEndsTheSupervisor) {
  // One crash every 300 ms: the fourth falls within 1000 ms of the first.
  supervised s{flags(3, 1000ms)};
  for (int i = 0; i < 3; ++i) {
    s.crash_w();
    ASSERT_TRUE(s.alive()) << "gave up at crash " << i + 1;
    s.rt->advance(300ms);
  }
  s.crash_w();
  EXPECT_FALSE(s.alive());
  auto reason = exit_reason_of(*s.watcher, s.sup);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, exit_reason::shutdown());
}

TEST(Intensity, TheWindowSlidesSoOldRestartsAreForgotten) {
  supervised s{flags(2, 1000ms)};
  s.crash_w();  // t = 0
  s.rt->advance(600ms);
  s.crash_w();  // t = 600: 2 in the window
  s.rt->advance(500ms);
  s.crash_w();  // t = 1100: the one at 0 has left the window; 2 in it (600, 1100)
  ASSERT_TRUE(s.alive());
  s.rt->advance(100ms);
  s.crash_w();  // t = 1200: 600, 1100, 1200 are 3 within 1000 ms
  EXPECT_FALSE(s.alive());
}

TEST(Intensity, ABurstAfterAQuietPeriodGetsTheFullAllowanceAgain) {
  supervised s{flags(3, 1000ms)};
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 3; ++i) s.crash_w();
    ASSERT_TRUE(s.alive()) << "round " << round;
    s.rt->advance(1001ms);  // just past the period: a restart exactly `period` ago still counts (OTP)
  }
  for (int i = 0; i < 4; ++i) s.crash_w();
  EXPECT_FALSE(s.alive());
}

TEST(Intensity, ARestartExactlyOnePeriodAgoStillCountsAsInOtp) {
  supervised s{flags(1, 1000ms)};
  s.crash_w();
  ASSERT_TRUE(s.alive());
  s.rt->advance(1000ms);
  s.crash_w();  // now - then == period: inside the window (OTP's `=<`), so 2 > 1
  EXPECT_FALSE(s.alive());
}

TEST(Intensity, ARestartJustOverOnePeriodAgoNoLongerCounts) {
  supervised s{flags(1, 1000ms)};
  s.crash_w();
  s.rt->advance(1001ms);
  s.crash_w();
  EXPECT_TRUE(s.alive());
}

TEST(Intensity, RestartsOfAllChildrenCountTogether) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("a", log), worker_spec("b", log), worker_spec("c", log)}, 2));
  rt.run_until_idle();
  crash(rt, sup, "a");
  crash(rt, sup, "b");
  ASSERT_TRUE(rt.alive(sup));
  crash(rt, sup, "c");
  EXPECT_FALSE(rt.alive(sup));
}

TEST(Intensity, ChildrenThatAreNotRestartedDoNotCount) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  std::vector<child_spec> children;
  for (int i = 0; i < 6; ++i) {
    children.push_back(worker_spec("t" + std::to_string(i), log, restart_type::temporary));
    children.push_back(worker_spec("n" + std::to_string(i), log, restart_type::transient));
  }
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, children, 1));
  rt.run_until_idle();
  for (int i = 0; i < 6; ++i) {
    crash(rt, sup, "t" + std::to_string(i));  // temporary: removed, not restarted
    rt.send(pid_of(rt, sup, "n" + std::to_string(i)), exit_with{exit_reason::normal()});  // transient, normal
    rt.run_until_idle();
  }
  EXPECT_TRUE(rt.alive(sup));
}

}  // namespace
}  // namespace respawn::sup_test
