// Introspection: runtime::info(pid) and runtime::processes() snapshot each live process: its pid,
// registered name, parent, mailbox length, messages handled, state, trap_exit, links, whom it
// monitors and who monitors it. Checked on the deterministic scheduler, where each field has one
// known value at each step.
#include <algorithm>

#include "harness.hpp"

namespace respawn::test {
namespace {

bool contains(const std::vector<process_info>& all, pid p) {
  return std::any_of(all.begin(), all.end(), [&](const process_info& i) { return i.pid == p; });
}

TEST(Introspection, InfoReportsNameParentAndTrapExit) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid parent = rt.spawn<puppet>({}, observer.self());
  spawn_options options;
  options.name = "child";
  options.trap_exit = true;
  rt.send(parent, spawn_puppet{options});
  observed seen = collect(observer);
  ASSERT_EQ(seen.spawns.size(), 1u);
  pid child = seen.spawns[0].pid;

  std::optional<process_info> info = rt.info(child);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid, child);
  EXPECT_EQ(info->name, "child");
  EXPECT_EQ(info->parent, parent);
  EXPECT_TRUE(info->trap_exit);
  EXPECT_EQ(rt.info(parent)->parent, pid{}) << "spawned from outside any process";
  EXPECT_EQ(rt.info(parent)->name, "");
  EXPECT_FALSE(rt.info(parent)->trap_exit);
}

TEST(Introspection, MailboxLengthCountsQueuedMessagesAndMessagesHandledCountsHandledOnes) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<std::vector<int>>();
  pid r = rt.spawn<recorder>({}, log);
  rt.run_until_idle();
  EXPECT_EQ(rt.info(r)->mailbox_length, 0u);
  EXPECT_EQ(rt.info(r)->messages_handled, 0u);

  for (int i = 0; i < 3; ++i) rt.send(r, i);
  EXPECT_EQ(rt.info(r)->mailbox_length, 3u);
  EXPECT_EQ(rt.info(r)->messages_handled, 0u);

  ASSERT_TRUE(rt.step());
  EXPECT_EQ(rt.info(r)->mailbox_length, 2u);
  EXPECT_EQ(rt.info(r)->messages_handled, 1u);

  rt.run_until_idle();
  EXPECT_EQ(rt.info(r)->mailbox_length, 0u);
  EXPECT_EQ(rt.info(r)->messages_handled, 3u);
}

TEST(Introspection, AnIdleProcessIsWaitingAndAHandlingOneIsRunning) {
  struct look_at_yourself {};
  struct self_watcher : process {
    explicit self_watcher(std::shared_ptr<std::vector<process_state>> seen) : seen_{std::move(seen)} {}
    void handle(message& m) override {
      if (m.is<look_at_yourself>()) seen_->push_back(system().info(self())->state);
    }
    std::shared_ptr<std::vector<process_state>> seen_;
  };
  runtime rt{deterministic_config()};
  auto seen = std::make_shared<std::vector<process_state>>();
  pid p = rt.spawn<self_watcher>({}, seen);
  rt.run_until_idle();
  EXPECT_EQ(rt.info(p)->state, process_state::waiting);
  EXPECT_STREQ(to_string(rt.info(p)->state), "waiting");

  rt.send(p, look_at_yourself{});
  rt.run_until_idle();

  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0), process_state::running);
  EXPECT_EQ(rt.info(p)->state, process_state::waiting);
}

TEST(Introspection, LinksAndMonitorsAreListedOnBothSides) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  pid c = rt.spawn<puppet>({}, observer.self());
  rt.send(a, link_to{b});
  rt.send(a, monitor_pid{c});
  rt.send(b, monitor_pid{c});
  rt.run_until_idle();

  process_info ia = *rt.info(a);
  process_info ib = *rt.info(b);
  process_info ic = *rt.info(c);
  EXPECT_EQ(ia.links, std::vector<pid>{b});
  EXPECT_EQ(ib.links, std::vector<pid>{a});
  EXPECT_TRUE(ic.links.empty());
  EXPECT_EQ(ia.monitors, std::vector<pid>{c});
  EXPECT_EQ(ib.monitors, std::vector<pid>{c});
  EXPECT_TRUE(ic.monitors.empty());
  std::sort(ic.monitored_by.begin(), ic.monitored_by.end());  // in the order the requests came
  std::vector<pid> watchers{a, b};
  std::sort(watchers.begin(), watchers.end());
  EXPECT_EQ(ic.monitored_by, watchers);
  EXPECT_TRUE(ia.monitored_by.empty());
}

TEST(Introspection, ProcessesListsExactlyTheLiveProcesses) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();

  std::vector<process_info> all = rt.processes();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(all.size(), rt.process_count());
  EXPECT_TRUE(contains(all, a));
  EXPECT_TRUE(contains(all, b));
  EXPECT_TRUE(contains(all, observer.self()));

  rt.exit(a, exit_reason::kill());
  rt.run_until_idle();
  all = rt.processes();
  EXPECT_EQ(all.size(), 2u);
  EXPECT_FALSE(contains(all, a));
  EXPECT_FALSE(rt.info(a));
}

TEST(Introspection, TheRuntimeReportsItsMode) {
  runtime manual{deterministic_config()};
  EXPECT_TRUE(manual.deterministic());
  EXPECT_EQ(manual.scheduler_threads(), 0u);

  runtime_config threaded;
  threaded.scheduler_threads = 2;
  runtime rt{threaded};
  EXPECT_FALSE(rt.deterministic());
  EXPECT_EQ(rt.scheduler_threads(), 2u);
  EXPECT_THROW(rt.step(), std::logic_error);
  EXPECT_THROW(rt.advance(1ms), std::logic_error);
}

}  // namespace
}  // namespace respawn::test
