// Exit reasons as values (their text and classes), and exit/2: an exit signal sent straight to a
// process (not through a link). A process that does not trap exits dies with the signal's reason,
// except for normal, which it ignores unless it sent the signal to itself (exit(self(), normal)
// ends it, as in Erlang); kill always kills, seen as killed.
#include "harness.hpp"

namespace respawn::test {
namespace {

TEST(ExitReasons, PrintInErlangsWords) {
  EXPECT_EQ(exit_reason::normal().to_string(), "normal");
  EXPECT_EQ(exit_reason{}.to_string(), "normal");
  EXPECT_EQ(exit_reason::shutdown().to_string(), "shutdown");
  EXPECT_EQ(exit_reason::kill().to_string(), "kill");
  EXPECT_EQ(exit_reason::killed().to_string(), "killed");
  EXPECT_EQ(exit_reason::noproc().to_string(), "noproc");
  EXPECT_EQ(exit_reason::hung().to_string(), "hung");
  EXPECT_EQ(exit_reason::error("std::runtime_error", "boom").to_string(), "error: std::runtime_error: boom");
  EXPECT_EQ(exit_reason::other("gone fishing").to_string(), "gone fishing");
}

TEST(ExitReasons, OnlyNormalAndShutdownAreNotAbnormal) {
  EXPECT_TRUE(exit_reason::normal().is_normal());
  EXPECT_FALSE(exit_reason::normal().is_abnormal());
  EXPECT_FALSE(exit_reason::shutdown().is_normal());
  EXPECT_FALSE(exit_reason::shutdown().is_abnormal());
  for (const exit_reason& r : {exit_reason::kill(), exit_reason::killed(), exit_reason::noproc(),
                               exit_reason::hung(), exit_reason::error("t", "x"), exit_reason::other("x")}) {
    EXPECT_TRUE(r.is_abnormal()) << r.to_string();
    EXPECT_FALSE(r.is_normal()) << r.to_string();
  }
}

TEST(ExitReasons, CompareByKindTypeAndText) {
  EXPECT_EQ(exit_reason::error("a", "b"), exit_reason::error("a", "b"));
  EXPECT_NE(exit_reason::error("a", "b"), exit_reason::error("a", "c"));
  EXPECT_NE(exit_reason::error("a", "b"), exit_reason::error("x", "b"));
  EXPECT_NE(exit_reason::other("b"), exit_reason::error("", "b"));
  EXPECT_NE(exit_reason::kill(), exit_reason::killed());
  EXPECT_EQ(exit_reason::error("a", "b").type(), "a");
  EXPECT_EQ(exit_reason::error("a", "b").text(), "b");
  EXPECT_EQ(exit_reason::shutdown().type(), "");
  EXPECT_EQ(exit_reason::other("b").text(), "b");
}

TEST(ExitReasons, CallErrorsSayTimeoutOrWhyTheCalleeExited) {
  call_error timeout{call_error::code::timeout, {}, {}};
  EXPECT_EQ(timeout.message(), "timeout");
  call_error exited{call_error::code::callee_exited, exit_reason::error("std::logic_error", "bad"), {}};
  EXPECT_EQ(exited.message(), "callee exited with error: std::logic_error: bad");
  call_error noproc{call_error::code::callee_exited, exit_reason::noproc(), {}};
  EXPECT_EQ(noproc.message(), "callee exited with noproc");
  call_error bad{call_error::code::bad_reply, {}, "foo"};
  EXPECT_EQ(bad.message(), "reply of unexpected type foo");
}

// --- exit/2 ---

struct exit_case {
  std::string name;
  exit_reason sent;
  exit_reason seen;
};

std::vector<exit_case> exit_cases() {
  return {
      {"Normal", exit_reason::normal(), exit_reason::normal()},
      {"Shutdown", exit_reason::shutdown(), exit_reason::shutdown()},
      {"Kill", exit_reason::kill(), exit_reason::killed()},
      {"Error", exit_reason::error("std::runtime_error", "boom"), exit_reason::error("std::runtime_error", "boom")},
      {"Other", exit_reason::other("custom"), exit_reason::other("custom")},
  };
}

class ExitSignalMatrix : public ::testing::TestWithParam<exit_case> {};

TEST_P(ExitSignalMatrix, ANonTrappingProcessDiesWithTheReasonUnlessItIsNormal) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid sender = rt.spawn<puppet>({}, observer.self());
  pid target = rt.spawn<puppet>({}, observer.self());
  observer.monitor(target);
  rt.run_until_idle();

  rt.send(sender, send_exit_to{target, GetParam().sent});
  observed seen = collect(observer);

  if (GetParam().sent.is_normal()) {
    EXPECT_TRUE(rt.alive(target));
    EXPECT_TRUE(seen.downs.empty());
  } else {
    ASSERT_TRUE(seen.down_of(target));
    EXPECT_EQ(seen.down_of(target)->reason, GetParam().seen);
  }
  EXPECT_TRUE(rt.alive(sender)) << "exit/2 is not a link: the sender is not affected";
}

TEST_P(ExitSignalMatrix, ATrappingProcessGetsTheSignalAsAMessageUnlessItIsKill) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid sender = rt.spawn<puppet>({}, observer.self());
  pid target = rt.spawn<puppet>(trapping(), observer.self());
  observer.monitor(target);
  rt.run_until_idle();

  rt.send(sender, send_exit_to{target, GetParam().sent});
  observed seen = collect(observer);

  if (GetParam().sent.is(exit_reason::kind::kill)) {
    EXPECT_TRUE(seen.exit_signals.empty());
    ASSERT_TRUE(seen.down_of(target));
    EXPECT_EQ(seen.down_of(target)->reason, exit_reason::killed());
  } else {
    ASSERT_EQ(seen.exit_signals.size(), 1u);
    EXPECT_EQ(seen.exit_signals[0].from, sender);
    EXPECT_EQ(seen.exit_signals[0].reason, GetParam().sent);
    EXPECT_TRUE(rt.alive(target));
  }
}

TEST_P(ExitSignalMatrix, ExitFromOutsideAnyProcessWorksTheSameAndComesFromTheNullPid) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid target = rt.spawn<puppet>(trapping(), observer.self());
  pid plain = rt.spawn<puppet>({}, observer.self());
  observer.monitor(plain);
  rt.run_until_idle();

  rt.exit(target, GetParam().sent);
  rt.exit(plain, GetParam().sent);
  observed seen = collect(observer);

  if (GetParam().sent.is(exit_reason::kind::kill)) {
    EXPECT_FALSE(rt.alive(target));
  } else {
    ASSERT_EQ(seen.exit_signals.size(), 1u);
    EXPECT_EQ(seen.exit_signals[0].from, pid{});
  }
  if (GetParam().sent.is_normal()) {
    EXPECT_TRUE(rt.alive(plain));
  } else {
    ASSERT_TRUE(seen.down_of(plain));
    EXPECT_EQ(seen.down_of(plain)->reason, GetParam().seen);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryReason, ExitSignalMatrix, ::testing::ValuesIn(exit_cases()),
                         [](const ::testing::TestParamInfo<exit_case>& param_info) { return param_info.param.name; });

TEST(ExitSignals, ExitSelfNormalEndsTheProcess) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>({}, observer.self());
  observer.monitor(p);
  rt.run_until_idle();

  rt.send(p, send_exit_to{p, exit_reason::normal()});
  observed seen = collect(observer);

  EXPECT_FALSE(rt.alive(p));
  ASSERT_TRUE(seen.down_of(p));
  EXPECT_EQ(seen.down_of(p)->reason, exit_reason::normal());
}

TEST(ExitSignals, ExitSelfNormalInATrappingProcessIsJustAMessage) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>(trapping(), observer.self());
  rt.run_until_idle();

  rt.send(p, send_exit_to{p, exit_reason::normal()});
  observed seen = collect(observer);

  EXPECT_TRUE(rt.alive(p));
  ASSERT_EQ(seen.exit_signals.size(), 1u);
  EXPECT_EQ(seen.exit_signals[0].from, p);
}

TEST(ExitSignals, AnExitSignalToADeadPidIsDropped) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>({}, observer.self());
  rt.exit(p, exit_reason::kill());
  rt.run_until_idle();
  std::size_t before = rt.process_count();

  rt.exit(p, exit_reason::shutdown());
  rt.exit(p, exit_reason::kill());
  rt.run_until_idle();

  EXPECT_EQ(rt.process_count(), before);
}

TEST(ExitSignals, TerminateRunsWithTheReasonExceptAfterAKill) {
  struct reporting : process {
    explicit reporting(std::shared_ptr<std::vector<exit_reason>> log) : log_{std::move(log)} {}
    void handle(message&) override {}
    void terminate(const exit_reason& reason) override { log_->push_back(reason); }
    std::shared_ptr<std::vector<exit_reason>> log_;
  };
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<exit_reason>>();
  pid a = rt.spawn<reporting>({}, log);
  pid b = rt.spawn<reporting>({}, log);
  rt.run_until_idle();

  rt.exit(a, exit_reason::shutdown());
  rt.run_until_idle();
  rt.exit(b, exit_reason::kill());
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(b));
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ(log->at(0), exit_reason::shutdown());
}

}  // namespace
}  // namespace respawn::test
