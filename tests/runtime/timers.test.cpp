// Timers on the manual clock: send_after delivers exactly when the clock reaches the deadline,
// in deadline order; cancel_timer stops a pending timer and says whether it was pending; a dead
// process's timers never fire into anything, not into a newer process that took its slot either.
#include "harness.hpp"

namespace respawn::test {
namespace {

TEST(Timers, SendAfterFiresWhenTheManualClockReachesTheDeadline) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.run_until_idle();
  auto start = rt.now();

  rt.send_after(r, 100ms, 1);
  rt.advance(99ms);
  rt.run_until_idle();
  EXPECT_TRUE(log->empty()) << "fired early";

  rt.advance(1ms);
  rt.run_until_idle();
  EXPECT_EQ(*log, std::vector<int>{1});
  EXPECT_EQ(rt.now() - start, 100ms);
}

TEST(Timers, TimersFireInDeadlineOrderNotInTheOrderTheyWereSet) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.send_after(r, 30ms, 3);
  rt.send_after(r, 10ms, 1);
  rt.send_after(r, 20ms, 2);

  rt.advance(1s);
  rt.run_until_idle();

  EXPECT_EQ(*log, (std::vector<int>{1, 2, 3}));
}

TEST(Timers, AZeroDelayFiresOnTheNextAdvance) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.send_after(r, 0ms, 5);
  rt.run_until_idle();
  EXPECT_TRUE(log->empty());

  rt.advance(0ms);
  rt.run_until_idle();
  EXPECT_EQ(*log, std::vector<int>{5});
}

TEST(Timers, CancelTimerPreventsDeliveryAndIsTrueOnlyWhilePending) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  timer_ref cancelled = rt.send_after(r, 50ms, 1);
  timer_ref fired = rt.send_after(r, 10ms, 2);
  EXPECT_TRUE(cancelled);
  EXPECT_NE(cancelled, fired);

  EXPECT_TRUE(rt.cancel_timer(cancelled));
  EXPECT_FALSE(rt.cancel_timer(cancelled)) << "a second cancel found it still pending";
  rt.advance(10ms);
  EXPECT_FALSE(rt.cancel_timer(fired)) << "a fired timer was still pending";
  rt.advance(100ms);
  rt.run_until_idle();

  EXPECT_EQ(*log, std::vector<int>{2});
  EXPECT_FALSE(rt.cancel_timer(timer_ref{}));
}

TEST(Timers, AProcessCanSetAndCancelItsOwnTimers) {
  struct set_timers {};
  struct self_timing : process {
    explicit self_timing(std::shared_ptr<std::vector<int>> log) : log_{std::move(log)} {}
    void handle(message& m) override {
      if (m.is<set_timers>()) {
        send_after(20ms, 20);
        timer_ref doomed = send_after(10ms, 10);
        cancelled_ = cancel_timer(doomed);
      } else if (auto* v = m.get_if<int>()) {
        log_->push_back(*v);
        log_->push_back(cancelled_ ? 1 : 0);
      }
    }
    std::shared_ptr<std::vector<int>> log_;
    bool cancelled_ = false;
  };
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid p = rt.spawn<self_timing>({}, log);
  rt.send(p, set_timers{});
  rt.run_until_idle();

  rt.advance(20ms);
  rt.run_until_idle();

  EXPECT_EQ(*log, (std::vector<int>{20, 1}));
}

TEST(Timers, ADeadProcesssTimersNeverFireIntoTheNewProcessInItsSlot) {
  runtime rt{deterministic_config()};
  auto old_log = std::make_shared<std::vector<int>>();
  pid old = rt.spawn<recorder>({}, old_log);
  rt.run_until_idle();
  rt.send_after(old, 50ms, 1);
  rt.exit(old, exit_reason::kill());
  rt.run_until_idle();
  ASSERT_FALSE(rt.alive(old));

  auto new_log = std::make_shared<std::vector<int>>();
  pid reuser = spawn_recorder_in_slot_of(rt, old, new_log);
  ASSERT_TRUE(reuser) << "no process reused slot " << old.index;
  EXPECT_NE(reuser.generation, old.generation);
  rt.run_until_idle();

  rt.advance(100ms);
  rt.run_until_idle();

  EXPECT_TRUE(new_log->empty()) << "a dead process's timer reached the newer process in its slot";
  EXPECT_TRUE(old_log->empty());
  EXPECT_EQ(rt.info(reuser)->messages_handled, 0u);
}

TEST(Timers, ATimerAProcessSetForItselfDiesWithIt) {
  struct arm_and_die {};
  struct arming : process {
    void handle(message& m) override {
      if (m.is<arm_and_die>()) {
        send_after(10ms, 1);
        stop(exit_reason::shutdown());
      }
    }
  };
  runtime rt{deterministic_config()};
  pid p = rt.spawn<arming>({});
  rt.send(p, arm_and_die{});
  rt.run_until_idle();
  ASSERT_FALSE(rt.alive(p));

  auto log = std::make_shared<std::vector<int>>();
  pid reuser = spawn_recorder_in_slot_of(rt, p, log);
  ASSERT_TRUE(reuser);
  rt.advance(10ms);
  rt.run_until_idle();

  EXPECT_TRUE(log->empty());
}

}  // namespace
}  // namespace respawn::test
