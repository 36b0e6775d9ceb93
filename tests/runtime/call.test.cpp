// call(pid, request, timeout): the reply; or "timeout" when none came in time; or "callee exited
// with REASON" as soon as the callee is known to be dead (at once for a dead pid, the moment it
// dies for one that dies while the call is pending), never at the timeout. On the manual clock
// the waiting is measurable: the clock only moves when nothing is runnable, to the next timer, so
// rt.now() tells exactly how long a call waited.
#include "harness.hpp"

namespace respawn::test {
namespace {

// Asks the slow server to answer `id` after `delay`.
struct slow_request {
  int id;
  std::chrono::milliseconds delay;
};
// Asks the slow server to end with `reason` after `delay`, without answering.
struct die_later {
  std::chrono::milliseconds delay;
  exit_reason reason;
};
struct answer_now {
  pid to;
  std::uint64_t ref;
  int id;
};

// Answers calls late, after a timer, as a gen_server does with {noreply, State} and a later
// gen_server:reply/2.
class slow_server : public process {
 public:
  void handle(message& m) override {
    if (auto* r = m.get_if<slow_request>()) {
      send_after(r->delay, answer_now{m.sender(), m.call_ref(), r->id});
    } else if (auto* a = m.get_if<answer_now>()) {
      reply_to(a->to, a->ref, a->id);  // the request is gone by now: its caller and reference stayed
    } else if (auto* d = m.get_if<die_later>()) {
      send_after(d->delay, die_with{d->reason});
    } else if (auto* dw = m.get_if<die_with>()) {
      stop(dw->reason);
    }
  }
};

TEST(Call, ACallToALiveProcessReturnsItsReply) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  auto start = rt.now();

  result<pong> r = rt.call<pong>(server, ping{}, 1s);

  EXPECT_TRUE(r.ok());
  EXPECT_EQ(rt.now(), start);
}

TEST(Call, ACallToASlowProcessWaitsForTheLateReply) {
  runtime rt{deterministic_config()};
  pid server = rt.spawn<slow_server>({});
  auto start = rt.now();

  result<int> r = rt.call<int>(server, slow_request{7, 300ms}, 1s);

  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(rt.now() - start, 300ms);
}

TEST(Call, ACallWithoutAReplyInTimeFailsWithTimeoutAtTheTimeout) {
  runtime rt{deterministic_config()};
  pid server = rt.spawn<slow_server>({});
  auto start = rt.now();

  result<int> r = rt.call<int>(server, slow_request{1, 2s}, 500ms);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, call_error::code::timeout);
  EXPECT_EQ(r.error().message(), "timeout");
  EXPECT_EQ(rt.now() - start, 500ms);

  // The late reply goes nowhere and harms nobody.
  std::size_t count_after_call = rt.process_count();
  rt.advance(2s);
  rt.run_until_idle();
  EXPECT_TRUE(rt.alive(server));
  EXPECT_EQ(rt.process_count(), count_after_call);
}

TEST(Call, ACallToADeadProcessFailsAtOnceWithNoproc) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  rt.exit(server, exit_reason::kill());
  rt.run_until_idle();
  auto start = rt.now();

  result<pong> r = rt.call<pong>(server, ping{}, 10s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, call_error::code::callee_exited);
  EXPECT_EQ(r.error().reason, exit_reason::noproc());
  EXPECT_EQ(r.error().message(), "callee exited with noproc");
  EXPECT_EQ(rt.now(), start) << "the call waited for its timeout";
}

TEST(Call, ACallToAProcessWhoseMailboxIsFullFailsAtOnceWithMailboxFull) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  spawn_options options;
  options.mailbox_bound = 1;
  pid server = rt.spawn<puppet>(options, observer.self());
  ASSERT_EQ(rt.send(server, ping{}), send_result::ok);  // the mailbox is at its bound (not run yet)
  auto start = rt.now();

  result<pong> r = rt.call<pong>(server, ping{}, 10s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, call_error::code::mailbox_full);
  EXPECT_EQ(r.error().message(), "callee's mailbox is full");
  EXPECT_EQ(rt.now(), start) << "the call waited for its timeout";
}

TEST(Call, ACallToANullPidFailsAtOnceWithNoproc) {
  runtime rt{deterministic_config()};
  result<pong> r = rt.call<pong>(pid{}, ping{}, 10s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with noproc");
}

TEST(Call, ACalleeThatDiesWhileTheCallIsPendingFailsTheCallAsItDies) {
  runtime rt{deterministic_config()};
  pid server = rt.spawn<slow_server>({});
  auto start = rt.now();

  result<int> r = rt.call<int>(server, die_later{100ms, exit_reason::other("crashed")}, 10s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, call_error::code::callee_exited);
  EXPECT_EQ(r.error().message(), "callee exited with crashed");
  EXPECT_EQ(rt.now() - start, 100ms);
  EXPECT_LT(rt.now() - start, 10s) << "the call failed only at its timeout";
}

TEST(Call, ACalleeThatThrowsOnTheRequestFailsTheCallWithItsError) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  auto start = rt.now();

  result<pong> r = rt.call<pong>(server, throw_runtime_error{"boom"}, 10s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with error: std::runtime_error: boom");
  EXPECT_EQ(rt.now(), start);
}

TEST(Call, ACalleeKilledWhileTheCallIsPendingFailsTheCallWithKilled) {
  runtime rt{deterministic_config()};
  pid server = rt.spawn<slow_server>({});
  auto start = rt.now();
  call_future<int> future = rt.call_async<int>(server, slow_request{1, 5s}, 10s);
  rt.run_until_idle();  // the request is in, the reply is 5 s away
  ASSERT_FALSE(future.ready());

  rt.exit(server, exit_reason::kill());
  result<int> r = future.get();

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with killed");
  EXPECT_EQ(rt.now(), start);
}

TEST(Call, AReplyOfTheWrongTypeIsABadReplyNamingTheType) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());

  result<int> r = rt.call<int>(server, ping{}, 1s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().what, call_error::code::bad_reply);
  EXPECT_EQ(r.error().message(), "reply of unexpected type respawn::test::pong");
}

TEST(Call, ConcurrentCallsEachGetTheirOwnReply) {
  runtime rt{deterministic_config()};
  pid server = rt.spawn<slow_server>({});

  call_future<int> slow = rt.call_async<int>(server, slow_request{1, 200ms}, 1s);
  call_future<int> fast = rt.call_async<int>(server, slow_request{2, 100ms}, 1s);
  result<int> fast_result = fast.get();
  result<int> slow_result = slow.get();

  ASSERT_TRUE(fast_result.ok());
  ASSERT_TRUE(slow_result.ok());
  EXPECT_EQ(fast_result.value(), 2);
  EXPECT_EQ(slow_result.value(), 1);
}

TEST(Call, ACallLeavesNoProcessBehind) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();
  std::size_t before = rt.process_count();

  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rt.call<pong>(server, ping{}, 1s).ok());
  rt.call<pong>(server, throw_runtime_error{"x"}, 1s);
  rt.run_until_idle();

  EXPECT_EQ(rt.process_count(), before - 1);  // only the server is gone
}

}  // namespace
}  // namespace respawn::test
