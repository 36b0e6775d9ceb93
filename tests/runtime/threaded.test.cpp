// The core semantics again, on real scheduler threads: call (live, timeout, callee dying while the
// call is pending, a call made from inside a handler), links and monitors across threads, and the
// runtime's destructor ending whatever is still alive. Every wait has a deadline; nothing sleeps.
#include "harness.hpp"

namespace respawn::test {
namespace {

runtime_config threaded() {
  runtime_config c;
  c.scheduler_threads = 2;
  return c;
}

struct ignore_me {};
struct die_after_ms {
  int ms;
  exit_reason reason;
};

// Ignores ignore_me; on die_after_ms, arms a timer and ends when it fires.
class slow_dier : public process {
 public:
  void handle(message& m) override {
    if (auto* d = m.get_if<die_after_ms>()) {
      send_after(std::chrono::milliseconds{d->ms}, die_with{d->reason});
    } else if (auto* dw = m.get_if<die_with>()) {
      stop(dw->reason);
    }
  }
};

TEST(Threaded, ACallToALiveProcessReturnsItsReply) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());

  for (int i = 0; i < 100; ++i) {
    result<pong> r = rt.call<pong>(server, ping{}, 30s);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
}

TEST(Threaded, ACallWithoutAReplyFailsWithTimeoutAfterTheTimeout) {
  runtime rt{threaded()};
  pid server = rt.spawn<slow_dier>({});
  auto start = std::chrono::steady_clock::now();

  result<pong> r = rt.call<pong>(server, ignore_me{}, 50ms);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_TRUE(rt.alive(server));
}

TEST(Threaded, ACalleeThatDiesWhileTheCallIsPendingFailsTheCallLongBeforeTheTimeout) {
  runtime rt{threaded()};
  pid server = rt.spawn<slow_dier>({});
  auto start = std::chrono::steady_clock::now();

  result<pong> r = rt.call<pong>(server, die_after_ms{20, exit_reason::shutdown()}, 60s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with shutdown");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << "the call failed only at its timeout";
}

TEST(Threaded, ACallToADeadProcessFailsWithNoproc) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  observer.monitor(server);
  rt.exit(server, exit_reason::kill());
  ASSERT_TRUE(observer.receive<down>(30s));

  result<pong> r = rt.call<pong>(server, ping{}, 60s);

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "callee exited with noproc");
}

TEST(Threaded, AProcessCanCallAnotherFromInsideItsHandler) {
  struct ask {
    pid server;
  };
  struct asker : process {
    void handle(message& m) override {
      if (auto* a = m.get_if<ask>()) {
        result<pong> r = system().call<pong>(a->server, ping{}, std::chrono::seconds{30});
        reply(m, r.ok());
      }
    }
  };
  runtime rt{threaded()};
  scoped_process observer{rt};
  pid server = rt.spawn<puppet>({}, observer.self());
  pid middle = rt.spawn<asker>({});

  result<bool> r = rt.call<bool>(middle, ask{server}, 60s);

  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r.value());
}

TEST(Threaded, AnAbnormalExitPropagatesAlongLinksAcrossThreads) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  std::vector<pid> chain;
  for (int i = 0; i < 50; ++i) chain.push_back(rt.spawn<puppet>({}, observer.self()));
  for (std::size_t i = 1; i < chain.size(); ++i) rt.send(chain[i], link_to{chain[i - 1]});
  // The links are in place once each linker has handled link_to; a call after it proves that.
  for (pid p : chain) ASSERT_TRUE(rt.call<pong>(p, ping{}, 30s).ok());
  for (pid p : chain) observer.monitor(p);

  rt.send(chain.front(), throw_runtime_error{"first domino"});

  for (std::size_t i = 0; i < chain.size(); ++i) {
    auto d = observer.receive<down>(30s);
    ASSERT_TRUE(d) << "only " << i << " of the chain died";
    EXPECT_EQ(d->reason, exit_reason::error("std::runtime_error", "first domino"));
  }
}

TEST(Threaded, ANormalExitDoesNotPropagateAcrossThreads) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.send(b, link_to{a});
  ASSERT_TRUE(rt.call<pong>(b, ping{}, 30s).ok());
  observer.monitor(a);

  rt.send(a, die_with{exit_reason::normal()});
  ASSERT_TRUE(observer.receive<down>(30s));

  // b handled a's exit signal before this call's request (signals from a are queued first).
  EXPECT_TRUE(rt.call<pong>(b, ping{}, 30s).ok());
  EXPECT_TRUE(rt.alive(b));
}

TEST(Threaded, TheRuntimesDestructorEndsEveryProcessStillAlive) {
  auto counter = std::make_shared<live_counter>();
  {
    runtime rt{threaded()};
    scoped_process observer{rt};
    std::vector<pid> ps;
    for (int i = 0; i < 100; ++i) ps.push_back(rt.spawn<counted_puppet>({}, observer.self(), counter));
    for (std::size_t i = 1; i < ps.size(); i += 2) rt.send(ps[i], link_to{ps[i - 1]});
    EXPECT_EQ(counter->live(), 100);
  }
  EXPECT_EQ(counter->live(), 0);
}

TEST(Threaded, ScopedReceiveReturnsNothingAfterItsTimeout) {
  runtime rt{threaded()};
  scoped_process observer{rt};
  auto start = std::chrono::steady_clock::now();

  EXPECT_FALSE(observer.receive(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

}  // namespace
}  // namespace respawn::test
