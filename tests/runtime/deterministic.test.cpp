// Deterministic mode: no threads; nothing runs until the test steps. step() runs one process for
// one message (or its init), run_until_idle() steps until nothing is runnable, advance() moves the
// manual clock and fires what is due, inject_exit() delivers an exit signal. Messages from one
// sender arrive in the order sent.
#include "harness.hpp"

namespace respawn::test {
namespace {

TEST(Deterministic, NothingRunsUntilTheTestSteps) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.send(r, 1);

  EXPECT_TRUE(log->empty());
  EXPECT_EQ(rt.info(r)->mailbox_length, 1u);
  EXPECT_EQ(rt.info(r)->state, process_state::runnable);
}

TEST(Deterministic, StepDeliversOneMessageAtATime) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  ASSERT_TRUE(rt.step());  // init
  for (int i = 1; i <= 3; ++i) rt.send(r, i);

  ASSERT_TRUE(rt.step());
  EXPECT_EQ(*log, std::vector<int>{1});
  ASSERT_TRUE(rt.step());
  EXPECT_EQ(*log, (std::vector<int>{1, 2}));
  ASSERT_TRUE(rt.step());
  EXPECT_EQ(*log, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(rt.step()) << "a step with nothing runnable did something";
}

TEST(Deterministic, RunUntilIdleReturnsTheNumberOfSteps) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  for (int i = 0; i < 5; ++i) rt.send(r, i);

  EXPECT_EQ(rt.run_until_idle(), 6u);  // init and five messages
  EXPECT_EQ(log->size(), 5u);
  EXPECT_EQ(rt.run_until_idle(), 0u);
}

TEST(Deterministic, MessagesFromOneSenderArriveInSendOrder) {
  struct burst {
    pid to;
    int n;
  };
  struct burster : process {
    void handle(message& m) override {
      if (auto* b = m.get_if<burst>()) {
        for (int i = 0; i < b->n; ++i) send(b->to, i);
      }
    }
  };
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  pid s = rt.spawn<burster>({});
  rt.send(s, burst{r, 1000});
  rt.run_until_idle();

  ASSERT_EQ(log->size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(log->at(static_cast<std::size_t>(i)), i);
}

TEST(Deterministic, MessagesFromOutsideArriveInSendOrderAcrossSteps) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i) {
    rt.send(r, i);
    expected.push_back(i);
    if (i % 7 == 0) rt.step();  // interleave sends with handling
  }
  rt.run_until_idle();

  EXPECT_EQ(*log, expected);
}

TEST(Deterministic, AdvanceMovesTheManualClockAndNothingElse) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.run_until_idle();
  auto start = rt.now();
  rt.send_after(r, 10ms, 1);

  rt.advance(10ms);
  EXPECT_EQ(rt.now() - start, 10ms);
  EXPECT_TRUE(log->empty()) << "advance ran a process";
  EXPECT_EQ(rt.info(r)->mailbox_length, 1u) << "the due timer's message was not delivered";
  rt.run_until_idle();
  EXPECT_EQ(*log, std::vector<int>{1});
}

TEST(Deterministic, InjectExitEndsAProcessWithTheGivenReason) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>({}, observer.self());
  observer.monitor(p);
  rt.run_until_idle();

  rt.inject_exit(p, exit_reason::other("injected"));
  EXPECT_TRUE(rt.alive(p)) << "the exit took effect before the process ran";
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(p));
  auto d = observer.receive<down>(0ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, exit_reason::other("injected"));
}

TEST(Deterministic, ABusyProcessYieldsSoOthersRunBetweenItsMessages) {
  runtime rt{deterministic_config()};
  auto first = std::make_shared<std::vector<int>>();
  auto second = std::make_shared<std::vector<int>>();
  pid a = rt.spawn<recorder>({}, first);
  pid b = rt.spawn<recorder>({}, second);
  rt.run_until_idle();
  for (int i = 0; i < 3; ++i) {
    rt.send(a, i);
    rt.send(b, i);
  }

  rt.step();
  rt.step();
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(second->size(), 1u);
}

TEST(Deterministic, ScopedReceiveJumpsTheClockToTheNextTimerWhenIdle) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  auto start = rt.now();
  rt.send_after(observer.self(), 250ms, 42);

  auto v = observer.receive<int>(1s);

  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(rt.now() - start, 250ms);
}

TEST(Deterministic, ScopedReceiveTimesOutOnTheManualClock) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  auto start = rt.now();

  EXPECT_FALSE(observer.receive(300ms));
  EXPECT_EQ(rt.now() - start, 300ms);
}

}  // namespace
}  // namespace respawn::test
