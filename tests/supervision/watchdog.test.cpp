// The watchdog for runaway handlers (seed 002, "infinite loop"), on real scheduler threads: a
// handler that runs past its budget gets its process declared hung (it exits with reason hung,
// so monitors and supervisors react) and its thread replaced, so the number of threads able to
// serve never drops. The test: two scheduler threads, two processes stuck in infinite
// loops, and a third process still answers calls. A process spawned with dedicated_thread may
// block as long as it likes without being declared hung or stalling anyone else.
//
// The loops are breakable (they spin until the test sets a flag) so that no thread outlives its
// test: every test releases its loops and waits until the stuck processes are destroyed. Every
// wait has a deadline; nothing sleeps to wait for asynchronous work.
#include <atomic>
#include <thread>

#include "harness.hpp"

namespace respawn::sup_test {
namespace {

constexpr auto deadline = 20s;  // generous: ThreadSanitizer runs are many times slower

runtime_config watchdog_config(std::chrono::milliseconds budget = 100ms) {
  runtime_config c;
  c.scheduler_threads = 2;
  c.handler_budget = budget;
  c.log = [](std::string_view) {};
  return c;
}

struct spin {};   // loop until released
struct block {};  // wait until released (a blocking handler, for dedicated threads)
struct ping {};
struct pong {};

// What the stuck handlers share with the test.
struct loop_control {
  std::atomic<bool> released{false};
  std::mutex mutex;
  std::condition_variable changed;
  int looping = 0;    // handlers inside their loop now
  int destroyed = 0;  // processes destroyed

  void bump(int& counter, int by) {
    {
      std::lock_guard lock{mutex};
      counter += by;
    }
    changed.notify_all();
  }
  template <class Pred>
  bool wait(Pred done) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, deadline, done);
  }
  int read(const int& counter) {
    std::lock_guard lock{mutex};
    return counter;
  }
  void release() {
    released.store(true);
    std::lock_guard lock{mutex};
    changed.notify_all();
  }
};

class looper : public process {
 public:
  explicit looper(std::shared_ptr<loop_control> control) : control_{std::move(control)} {}
  ~looper() override { control_->bump(control_->destroyed, 1); }

  void handle(message& m) override {
    if (m.is<spin>()) {
      control_->bump(control_->looping, 1);
      while (!control_->released.load()) std::this_thread::yield();
      control_->bump(control_->looping, -1);
    } else if (m.is<block>()) {
      control_->bump(control_->looping, 1);
      std::unique_lock lock{control_->mutex};
      control_->changed.wait_for(lock, deadline, [this] { return control_->released.load(); });
      --control_->looping;
    } else if (m.is<ping>()) {
      reply(m, pong{});
    }
  }

 private:
  std::shared_ptr<loop_control> control_;
};

class responder : public process {
 public:
  void handle(message& m) override {
    if (m.is<ping>()) reply(m, pong{});
  }
};

bool answers(runtime& rt, pid p) { return rt.call<pong>(p, ping{}, deadline).ok(); }

// The reason `p` ended, from the watcher's monitor; none within the deadline.
std::optional<exit_reason> down_reason(scoped_process& watcher, pid p, std::chrono::milliseconds timeout = deadline) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto d = watcher.receive<down>(left);
    if (!d) return std::nullopt;
    if (d->process == p) return d->reason;
  }
}

TEST(Watchdog, TwoProcessesStuckInInfiniteLoopsDoNotStopAThirdFromAnsweringCalls) {
  auto control = std::make_shared<loop_control>();
  {
    runtime rt{watchdog_config()};
    scoped_process watcher{rt};
    pid stuck1 = rt.spawn<looper>({}, control);
    pid stuck2 = rt.spawn<looper>({}, control);
    pid third = rt.spawn<responder>({});
    watcher.monitor(stuck1);
    watcher.monitor(stuck2);
    ASSERT_TRUE(answers(rt, third));

    rt.send(stuck1, spin{});
    rt.send(stuck2, spin{});
    // Both scheduler threads are now inside a handler that does not return.
    ASSERT_TRUE(control->wait([&] { return control->looping == 2; }));

    for (int i = 0; i < 10; ++i) ASSERT_TRUE(answers(rt, third)) << "call " << i;

    std::vector<std::pair<pid, exit_reason>> downs;
    for (int i = 0; i < 2; ++i) {
      auto d = watcher.receive<down>(deadline);
      ASSERT_TRUE(d) << "a stuck process was not declared hung";
      downs.emplace_back(d->process, d->reason);
    }
    for (auto& [p, reason] : downs) {
      EXPECT_TRUE(p == stuck1 || p == stuck2);
      EXPECT_EQ(reason, exit_reason::hung());
    }
    EXPECT_NE(downs[0].first, downs[1].first);
    EXPECT_FALSE(rt.alive(stuck1));
    EXPECT_FALSE(rt.alive(stuck2));
    EXPECT_EQ(rt.scheduler_threads(), 2u) << "replacement threads keep the count";
    EXPECT_EQ(control->read(control->looping), 2) << "the handlers themselves cannot be stopped";

    control->release();
    // The stuck threads retire once their handlers return; the hung processes are then freed.
    ASSERT_TRUE(control->wait([&] { return control->destroyed == 2; }));
    EXPECT_TRUE(answers(rt, third));
    EXPECT_EQ(rt.scheduler_threads(), 2u);
  }
}

TEST(Watchdog, AHungChildIsRestartedFreshByItsSupervisor) {
  auto control = std::make_shared<loop_control>();
  auto lines = std::make_shared<event_log>();  // thread-safe: crash reports come from scheduler threads
  auto log = std::make_shared<event_log>();
  {
    runtime_config config = watchdog_config();
    config.log = [lines](std::string_view line) { lines->add(std::string{line}); };
    runtime rt{config};
    child_spec c;
    c.id = "looper";
    c.start = [control, log](const snapshot&) {
      log->add("start:looper");
      return std::make_unique<looper>(control);
    };
    pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {c}));
    ASSERT_TRUE(log->wait_until([](auto& e) { return e.size() == 1; }, deadline));
    const pid first = pid_of(rt, sup, "looper");
    ASSERT_TRUE(first);
    scoped_process watcher{rt};
    watcher.monitor(first);

    rt.send(first, spin{});

    auto reason = down_reason(watcher, first);
    ASSERT_TRUE(reason);
    EXPECT_EQ(*reason, exit_reason::hung());
    ASSERT_TRUE(log->wait_until([](auto& e) { return e.size() == 2; }, deadline)) << "not restarted";
    auto info = child_of(rt, sup, "looper");
    ASSERT_TRUE(info);
    ASSERT_TRUE(info->pid);
    EXPECT_NE(info->pid, first);
    EXPECT_EQ(info->restarts, 1u);
    EXPECT_EQ(info->last_exit_reason, "hung");
    EXPECT_TRUE(answers(rt, info->pid)) << "the fresh instance serves while the old handler still spins";
    EXPECT_EQ(rt.scheduler_threads(), 2u);
    bool reported = false;
    for (auto& l : lines->since(0)) reported |= l.rfind("crash report", 0) == 0 && l.find("hung") != std::string::npos;
    EXPECT_TRUE(reported) << "a hung child is a crash and is reported";

    control->release();
    ASSERT_TRUE(control->wait([&] { return control->destroyed == 1; }));
    EXPECT_TRUE(answers(rt, info->pid));
  }
}

TEST(Watchdog, APerProcessBudgetOverridesTheRuntimeBudget) {
  auto control = std::make_shared<loop_control>();
  {
    runtime rt{watchdog_config(/*budget=*/60000ms)};
    scoped_process watcher{rt};
    spawn_options tight;
    tight.handler_budget = 100ms;
    pid stuck = rt.spawn<looper>(tight, control);
    watcher.monitor(stuck);

    rt.send(stuck, spin{});

    auto reason = down_reason(watcher, stuck);
    ASSERT_TRUE(reason) << "the process's own 100 ms budget should apply, not the runtime's minute";
    EXPECT_EQ(*reason, exit_reason::hung());
    control->release();
    ASSERT_TRUE(control->wait([&] { return control->destroyed == 1; }));
  }
}

TEST(Watchdog, AProcessOnADedicatedThreadMayBlockWithoutBeingDeclaredHungOrStallingOthers) {
  auto control = std::make_shared<loop_control>();
  {
    runtime rt{watchdog_config()};
    scoped_process watcher{rt};
    spawn_options own_thread;
    own_thread.dedicated_thread = true;
    pid blocker = rt.spawn<looper>(own_thread, control);
    pid third = rt.spawn<responder>({});
    watcher.monitor(blocker);

    rt.send(blocker, block{});
    ASSERT_TRUE(control->wait([&] { return control->looping == 1; }));

    // Four budgets pass: the watchdog leaves it alone, and the scheduler threads serve others.
    EXPECT_FALSE(watcher.receive<down>(400ms)) << "a dedicated thread was declared hung";
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(answers(rt, third));
    EXPECT_TRUE(rt.alive(blocker));
    EXPECT_EQ(rt.scheduler_threads(), 2u);

    control->release();
    EXPECT_TRUE(answers(rt, blocker)) << "it carries on once its handler returns";

    // End it while the runtime is alive: a dedicated thread still ending a process during the
    // runtime's destruction races with it (reported; see the final report of this suite).
    rt.exit(blocker, exit_reason::kill());
    ASSERT_TRUE(control->wait([&] { return control->destroyed == 1; }));
    EXPECT_TRUE(answers(rt, third));
  }
}

TEST(Watchdog, AHandlerThatFinishesWithinItsBudgetIsLeftAlone) {
  auto control = std::make_shared<loop_control>();
  {
    runtime rt{watchdog_config(/*budget=*/60000ms)};
    scoped_process watcher{rt};
    pid worker_pid = rt.spawn<looper>({}, control);
    watcher.monitor(worker_pid);

    rt.send(worker_pid, block{});
    ASSERT_TRUE(control->wait([&] { return control->looping == 1; }));
    EXPECT_FALSE(watcher.receive<down>(200ms));
    control->release();

    EXPECT_TRUE(answers(rt, worker_pid));
    EXPECT_EQ(rt.scheduler_threads(), 2u);
  }
}

}  // namespace
}  // namespace respawn::sup_test
