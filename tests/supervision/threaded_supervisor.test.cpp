// Supervisors on real scheduler threads (these also run under ThreadSanitizer): restarts under
// one_for_all with named children, reverse-order shutdown, and a child that ignores shutdown
// being killed at its timeout while the supervisor keeps answering calls. The deterministic
// suite pins the exact semantics; here we check that they survive real concurrency. Every wait
// is on a signal with a deadline.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

constexpr auto deadline = 20s;  // generous: ThreadSanitizer runs are many times slower

runtime_config threaded_config() {
  runtime_config c;
  c.scheduler_threads = 2;
  c.log = [](std::string_view) {};
  return c;
}

std::size_t starts_in(const std::vector<std::string>& events) {
  return static_cast<std::size_t>(
      std::count_if(events.begin(), events.end(), [](const std::string& e) { return e.rfind("start:", 0) == 0; }));
}

TEST(ThreadedSupervisor, RestartsTheWholeGroupUnderOneForAllAndNamesReachTheNewInstances) {
  runtime rt{threaded_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_all, {worker_spec("a", log, restart_type::permanent, "ta"),
                                          worker_spec("b", log, restart_type::permanent, "tb"),
                                          worker_spec("c", log, restart_type::permanent, "tc")},
                  /*intensity=*/1000));
  ASSERT_TRUE(log->wait_until([](auto& e) { return starts_in(e) == 3; }, deadline));

  for (int round = 0; round < 20; ++round) {
    const std::string victim = std::string{"abc"[round % 3]};
    std::vector<child_info> before = children_of(rt, sup);
    const std::size_t mark = log->size();
    rt.send(pid_of(rt, sup, victim), throw_error{});
    ASSERT_TRUE(log->wait_until([&](auto& e) { return e.size() >= mark + 6 && starts_in(e) == 3 * static_cast<std::size_t>(round + 2); },
                                deadline))
        << "round " << round;
    // (The three inits run on two threads: their order in the log is not the start order.)
    std::vector<child_info> after = children_of(rt, sup);
    ASSERT_EQ(after.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(after[i].pid);
      EXPECT_NE(after[i].pid, before[i].pid);
      EXPECT_EQ(rt.whereis(after[i].name), after[i].pid);
      auto id = rt.call<std::string>(rt.whereis(after[i].name), get_id{}, deadline);
      ASSERT_TRUE(id.ok()) << id.error().message();
      EXPECT_EQ(id.value(), after[i].id);
    }
  }
  EXPECT_EQ(child_of(rt, sup, "a")->restarts + child_of(rt, sup, "b")->restarts + child_of(rt, sup, "c")->restarts,
            20u);
}

TEST(ThreadedSupervisor, ShutsItsChildrenDownInReverseStartOrder) {
  runtime rt{threaded_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("a", log), worker_spec("b", log),
                                                                     worker_spec("c", log), worker_spec("d", log)}));
  scoped_process watcher{rt};
  watcher.monitor(sup);
  ASSERT_TRUE(log->wait_until([](auto& e) { return e.size() == 4; }, deadline));

  rt.exit(sup, exit_reason::shutdown());

  auto d = watcher.receive<down>(deadline);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, exit_reason::shutdown());
  EXPECT_EQ(log->since(4), (std::vector<std::string>{"stop:d", "stop:c", "stop:b", "stop:a"}));
}

TEST(ThreadedSupervisor, KillsAChildThatIgnoresShutdownAtItsTimeoutAndAnswersCallsMeanwhile) {
  runtime rt{threaded_config()};
  auto log = std::make_shared<event_log>();
  child_spec stubborn = worker_spec("s", log);
  stubborn.start = worker_start("s", log, /*stubborn=*/true);
  stubborn.shutdown = shutdown_spec::after(200ms);
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("a", log), stubborn}));
  scoped_process watcher{rt};
  ASSERT_TRUE(log->wait_until([](auto& e) { return e.size() == 2; }, deadline));
  const pid s = pid_of(rt, sup, "s");
  watcher.monitor(s);
  watcher.monitor(sup);
  const auto asked = std::chrono::steady_clock::now();

  rt.exit(sup, exit_reason::shutdown());
  auto children = rt.call<std::vector<child_info>>(sup, which_children{}, deadline);
  ASSERT_TRUE(children.ok()) << "the supervisor must answer while it waits for s";
  EXPECT_EQ(children.value().size(), 2u);

  std::optional<exit_reason> s_reason, sup_reason;
  for (int i = 0; i < 2; ++i) {
    auto d = watcher.receive<down>(deadline);
    ASSERT_TRUE(d);
    (d->process == s ? s_reason : sup_reason) = d->reason;
  }
  ASSERT_TRUE(s_reason);
  EXPECT_EQ(*s_reason, exit_reason::killed());
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 200ms) << "killed before its shutdown timeout";
  ASSERT_TRUE(sup_reason);
  EXPECT_EQ(*sup_reason, exit_reason::shutdown());
  EXPECT_EQ(log->since(2), (std::vector<std::string>{"stop:a"}));
}

}  // namespace
}  // namespace respawn::sup_test
