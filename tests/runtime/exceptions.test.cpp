// Exceptions from user code: one escaping handle() or init() ends that process only, with
// exit_reason::error(demangled type, what()); the stack unwinds and the process object is
// destroyed, so every destructor runs; terminate() sees the error; other processes keep serving.
#include "harness.hpp"

namespace respawn::test {
namespace {

struct custom_failure : std::exception {
  const char* what() const noexcept override { return "custom text"; }
};

// Counts live instances, so that a test can see every destructor ran.
struct counted {
  explicit counted(std::shared_ptr<int> live) : live_{std::move(live)} { ++*live_; }
  counted(const counted& o) : live_{o.live_} { ++*live_; }
  ~counted() { --*live_; }
  std::shared_ptr<int> live_;
};

struct throw_in_handler {};

class thrower : public process {
 public:
  thrower(std::shared_ptr<int> live, std::shared_ptr<std::vector<exit_reason>> terminated, bool throw_in_init)
      : member_{live}, live_{std::move(live)}, terminated_{std::move(terminated)}, throw_in_init_{throw_in_init} {}
  void init() override {
    counted local{live_};
    if (throw_in_init_) throw std::invalid_argument{"bad start"};
  }
  void handle(message& m) override {
    counted local{live_};
    if (m.is<throw_in_handler>()) throw std::runtime_error{"boom"};
    if (m.is<custom_failure>()) throw custom_failure{};
    if (m.is<int>()) throw 42;
  }
  void terminate(const exit_reason& reason) override { terminated_->push_back(reason); }

 private:
  counted member_;
  std::shared_ptr<int> live_;
  std::shared_ptr<std::vector<exit_reason>> terminated_;
  bool throw_in_init_;
};

struct fixture {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  std::shared_ptr<int> live = std::make_shared<int>(0);
  std::shared_ptr<std::vector<exit_reason>> terminated = std::make_shared<std::vector<exit_reason>>();

};

TEST(Exceptions, AnExceptionInAHandlerEndsTheProcessWithItsTypeAndText) {
  fixture f;
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.observer.monitor(p);
  f.rt.run_until_idle();

  f.rt.send(p, throw_in_handler{});
  auto d = f.observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason.what(), exit_reason::kind::error);
  EXPECT_EQ(d->reason.type(), "std::runtime_error");
  EXPECT_EQ(d->reason.text(), "boom");
  EXPECT_EQ(d->reason.to_string(), "error: std::runtime_error: boom");
  EXPECT_FALSE(f.rt.alive(p));
}

TEST(Exceptions, TheTypeOfAUserExceptionIsItsDemangledQualifiedName) {
  fixture f;
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.observer.monitor(p);
  f.rt.send(p, custom_failure{});
  auto d = f.observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason.type(), "respawn::test::(anonymous namespace)::custom_failure");
  EXPECT_EQ(d->reason.text(), "custom text");
}

TEST(Exceptions, AnExceptionThatIsNotAStdExceptionStillGivesItsType) {
  fixture f;
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.observer.monitor(p);
  f.rt.send(p, 7);
  auto d = f.observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, exit_reason::error("int", ""));
}

TEST(Exceptions, EveryDestructorRunsWhenAHandlerThrows) {
  fixture f;
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.rt.run_until_idle();
  ASSERT_EQ(*f.live, 1);  // the member

  f.rt.send(p, throw_in_handler{});
  f.rt.run_until_idle();

  EXPECT_FALSE(f.rt.alive(p));
  EXPECT_EQ(*f.live, 0) << "the handler's local or the process's member was not destroyed";
}

TEST(Exceptions, TerminateSeesTheErrorReason) {
  fixture f;
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.rt.send(p, throw_in_handler{});
  f.rt.run_until_idle();

  ASSERT_EQ(f.terminated->size(), 1u);
  EXPECT_EQ(f.terminated->at(0), exit_reason::error("std::runtime_error", "boom"));
}

TEST(Exceptions, OtherProcessesKeepServingAfterOneThrows) {
  fixture f;
  pid neighbour = f.rt.spawn<puppet>({}, f.observer.self());
  pid p = f.rt.spawn<thrower>({}, f.live, f.terminated, false);
  f.rt.run_until_idle();

  f.rt.send(p, throw_in_handler{});
  f.rt.run_until_idle();

  EXPECT_TRUE(f.rt.alive(neighbour));
  EXPECT_TRUE(f.rt.call<pong>(neighbour, ping{}, 1s).ok());
  EXPECT_EQ(f.rt.process_count(), 2u);  // the neighbour and the observer
}

TEST(Exceptions, AnExceptionInInitEndsTheProcessBeforeAnyMessageWithTheErrorReason) {
  // The thrower is spawned with spawn_options::monitor by a process of its own, so that the
  // monitor is in place before init can run.
  fixture f;
  struct spawner : process {
    spawner(pid observer, std::shared_ptr<int> live, std::shared_ptr<std::vector<exit_reason>> terminated)
        : observer_{observer}, live_{std::move(live)}, terminated_{std::move(terminated)} {}
    void init() override {
      spawn_options options;
      options.monitor = true;
      send(observer_, spawn<thrower>(options, live_, terminated_, true));
    }
    void handle(message& m) override {
      if (auto* d = m.get_if<down>()) send(observer_, *d);
    }
    pid observer_;
    std::shared_ptr<int> live_;
    std::shared_ptr<std::vector<exit_reason>> terminated_;
  };
  f.rt.spawn<spawner>({}, f.observer.self(), f.live, f.terminated);
  observed seen = collect(f.observer);

  ASSERT_EQ(seen.spawns.size(), 1u);
  pid child = seen.spawns[0].pid;
  ASSERT_TRUE(seen.down_of(child));
  EXPECT_EQ(seen.down_of(child)->ref, seen.spawns[0].monitor);
  EXPECT_EQ(seen.down_of(child)->reason, exit_reason::error("std::invalid_argument", "bad start"));
  EXPECT_EQ(*f.live, 0);
  ASSERT_EQ(f.terminated->size(), 1u);
  EXPECT_EQ(f.terminated->at(0).type(), "std::invalid_argument");
  EXPECT_FALSE(f.rt.alive(child));
}

TEST(Exceptions, AProcessThatThrowsInInitNeverHandlesAMessage) {
  fixture f;
  auto log = std::make_shared<std::vector<int>>();
  struct failing_recorder : recorder {
    using recorder::recorder;
    void init() override { throw std::runtime_error{"no"}; }
  };
  pid p = f.rt.spawn<failing_recorder>({}, log);
  f.rt.send(p, 1);
  f.rt.send(p, 2);
  f.rt.run_until_idle();

  EXPECT_FALSE(f.rt.alive(p));
  EXPECT_TRUE(log->empty());
}

TEST(Exceptions, AnExceptionInTerminateDoesNotChangeTheReason) {
  struct bad_terminate : process {
    void handle(message&) override { throw std::runtime_error{"first"}; }
    void terminate(const exit_reason&) override { throw std::logic_error{"second"}; }
  };
  fixture f;
  pid p = f.rt.spawn<bad_terminate>({});
  f.observer.monitor(p);
  f.rt.run_until_idle();
  f.rt.send(p, 1);
  auto d = f.observer.receive<down>(1s);

  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, exit_reason::error("std::runtime_error", "first"));
}

}  // namespace
}  // namespace respawn::test
