// Registry life cycle: register / whereis / unregister; a name has one holder and a process one
// name; a name is released when its holder ends (whatever the reason), so it can be taken again;
// spawn with a taken name throws spawn_error and leaves no process behind.
#include "harness.hpp"

namespace respawn::test {
namespace {

TEST(Registry, RegisterWhereisAndUnregister) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid p = rt.spawn<puppet>({}, observer.self());

  EXPECT_EQ(rt.whereis("server"), pid{});
  EXPECT_TRUE(rt.register_name("server", p));
  EXPECT_EQ(rt.whereis("server"), p);
  EXPECT_EQ(rt.info(p)->name, "server");

  EXPECT_TRUE(rt.unregister_name("server"));
  EXPECT_EQ(rt.whereis("server"), pid{});
  EXPECT_EQ(rt.info(p)->name, "");
  EXPECT_FALSE(rt.unregister_name("server"));
  EXPECT_TRUE(rt.alive(p)) << "unregistering does not end the process";
}

TEST(Registry, ATakenNameCannotBeRegisteredAgain) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  pid b = rt.spawn<puppet>({}, observer.self());

  ASSERT_TRUE(rt.register_name("server", a));
  EXPECT_FALSE(rt.register_name("server", b));
  EXPECT_EQ(rt.whereis("server"), a);
  EXPECT_EQ(rt.info(b)->name, "");
}

TEST(Registry, AProcessHasAtMostOneName) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());

  ASSERT_TRUE(rt.register_name("first", a));
  EXPECT_FALSE(rt.register_name("second", a));
  EXPECT_EQ(rt.whereis("second"), pid{});
}

TEST(Registry, ADeadPidOrAnEmptyNameCannotBeRegistered) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid dead = rt.spawn<puppet>({}, observer.self());
  rt.exit(dead, exit_reason::kill());
  rt.run_until_idle();
  pid live = rt.spawn<puppet>({}, observer.self());

  EXPECT_FALSE(rt.register_name("ghost", dead));
  EXPECT_EQ(rt.whereis("ghost"), pid{});
  EXPECT_FALSE(rt.register_name("", live));
  EXPECT_FALSE(rt.register_name("nobody", pid{}));
}

class RegistryRelease : public ::testing::TestWithParam<ending> {};

TEST_P(RegistryRelease, ANameIsReleasedWhenItsProcessEnds) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  pid a = rt.spawn<puppet>({}, observer.self());
  rt.run_until_idle();
  ASSERT_TRUE(rt.register_name("server", a));

  GetParam().end(rt, a);
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(a));
  EXPECT_EQ(rt.whereis("server"), pid{});
  pid b = rt.spawn<puppet>({}, observer.self());
  EXPECT_TRUE(rt.register_name("server", b));
  EXPECT_EQ(rt.whereis("server"), b);
}

INSTANTIATE_TEST_SUITE_P(EveryReason, RegistryRelease, ::testing::ValuesIn(endings()), ending_name);

TEST(Registry, SpawnWithANameRegistersIt) {
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  spawn_options options;
  options.name = "named";
  pid p = rt.spawn<puppet>(options, observer.self());

  EXPECT_EQ(rt.whereis("named"), p);
  EXPECT_EQ(rt.info(p)->name, "named");
}

TEST(Registry, SpawnWithATakenNameThrowsAndLeavesNoProcessBehind) {
  struct counted_process : process {
    explicit counted_process(std::shared_ptr<int> live) : live_{std::move(live)} { ++*live_; }
    ~counted_process() override { --*live_; }
    void handle(message&) override {}
    std::shared_ptr<int> live_;
  };
  runtime rt{deterministic_config()};
  auto live = std::make_shared<int>(0);
  spawn_options options;
  options.name = "taken";
  pid holder = rt.spawn<counted_process>(options, live);
  rt.run_until_idle();
  std::size_t count = rt.process_count();
  std::size_t listed = rt.processes().size();
  ASSERT_EQ(*live, 1);

  try {
    rt.spawn<counted_process>(options, live);
    ADD_FAILURE() << "spawn with a taken name did not throw";
  } catch (const spawn_error& e) {
    EXPECT_NE(std::string{e.what()}.find("already registered"), std::string::npos) << e.what();
  }
  rt.run_until_idle();

  EXPECT_EQ(rt.process_count(), count);
  EXPECT_EQ(rt.processes().size(), listed);
  EXPECT_EQ(*live, 1) << "the process that could not be spawned was not destroyed";
  EXPECT_EQ(rt.whereis("taken"), holder);
}

TEST(Registry, AFailedSpawnInsideAProcessThrowsToThatProcessOnly) {
  // The spawn_error escapes the parent's handler like any exception: the parent ends with an
  // error reason naming spawn_error; the name's holder is untouched.
  runtime rt{deterministic_config()};
  scoped_process observer{rt};
  spawn_options named;
  named.name = "taken";
  pid holder = rt.spawn<puppet>(named, observer.self());
  pid parent = rt.spawn<puppet>({}, observer.self());
  observer.monitor(parent);
  rt.run_until_idle();

  rt.send(parent, spawn_puppet{named});
  observed seen = collect(observer);

  ASSERT_TRUE(seen.down_of(parent));
  EXPECT_EQ(seen.down_of(parent)->reason.type(), "respawn::spawn_error");
  EXPECT_TRUE(seen.spawns.empty());
  EXPECT_EQ(rt.whereis("taken"), holder);
  EXPECT_EQ(rt.process_count(), 2u);  // the holder and the observer
}

}  // namespace
}  // namespace respawn::test
