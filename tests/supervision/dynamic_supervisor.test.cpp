// dynamic_supervisor (OTP's simple_one_for_one, Elixir's DynamicSupervisor): children of one spec
// started at run time with an argument (start_child), at most max_children of them running
// (beyond that start_child answers a null pid), temporary children removed when they end,
// permanent ones restarted with the argument they were started with and their latest snapshot,
// all within the supervisor's intensity.
#include <any>

#include "harness.hpp"

namespace respawn::sup_test {
namespace {

// The child's start value is the start_child argument (an int), or its latest snapshot.
dynamic_supervisor_spec dynamic_spec(const std::shared_ptr<event_log>& log, restart_type restart,
                                     std::size_t max_children = 0) {
  dynamic_supervisor_spec spec;
  spec.child.id = "job";
  spec.child.restart = restart;
  spec.make_child = [log](const std::any& argument, const snapshot& last) {
    const int* saved = last.get<int>();
    int value = saved != nullptr ? *saved : std::any_cast<int>(argument);
    return std::make_unique<worker>("job", log, value);
  };
  spec.max_children = max_children;
  return spec;
}

pid start_job(runtime& rt, pid sup, int argument) {
  auto r = rt.call<pid>(sup, start_child{std::any{argument}}, 1s);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? r.value() : pid{};
}

int value_of(runtime& rt, pid p) {
  auto r = rt.call<int>(p, get_value{}, 1s);
  return r.ok() ? r.value() : -1;
}

TEST(DynamicSupervisor, StartChildStartsAChildWithTheGivenArgument) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<dynamic_supervisor>({}, dynamic_spec(log, restart_type::permanent));
  rt.run_until_idle();
  EXPECT_TRUE(children_of(rt, sup).empty());

  pid a = start_job(rt, sup, 7);
  pid b = start_job(rt, sup, 11);

  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(a, b);
  EXPECT_EQ(value_of(rt, a), 7);
  EXPECT_EQ(value_of(rt, b), 11);
  auto children = children_of(rt, sup);
  ASSERT_EQ(children.size(), 2u);
  EXPECT_NE(children[0].id, children[1].id);
  EXPECT_EQ(children[0].pid, a);
  EXPECT_EQ(children[1].pid, b);
}

TEST(DynamicSupervisor, RefusesStartChildPastMaxChildrenWithANullPid) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<dynamic_supervisor>({}, dynamic_spec(log, restart_type::temporary, 2));
  rt.run_until_idle();

  pid a = start_job(rt, sup, 1);
  pid b = start_job(rt, sup, 2);
  pid refused = start_job(rt, sup, 3);

  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_FALSE(refused);
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 2u);
  EXPECT_EQ(rt.process_count(), 3u) << "no third child was spawned";

  rt.send(a, exit_with{exit_reason::normal()});
  rt.run_until_idle();
  EXPECT_TRUE(start_job(rt, sup, 4)) << "room again once a child has ended";
}

TEST(DynamicSupervisor, RemovesATemporaryChildWhenItEnds) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<dynamic_supervisor>({}, dynamic_spec(log, restart_type::temporary));
  rt.run_until_idle();
  pid a = start_job(rt, sup, 1);
  pid b = start_job(rt, sup, 2);

  rt.send(a, throw_error{});
  rt.send(b, exit_with{exit_reason::normal()});
  rt.run_until_idle();

  EXPECT_TRUE(children_of(rt, sup).empty());
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 0u);
  EXPECT_TRUE(rt.alive(sup));
}

TEST(DynamicSupervisor, RestartsAPermanentChildWithItsArgumentAndOnlyThatChild) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<dynamic_supervisor>({}, dynamic_spec(log, restart_type::permanent));
  rt.run_until_idle();
  pid a = start_job(rt, sup, 5);
  pid b = start_job(rt, sup, 9);

  rt.send(a, throw_error{});
  rt.run_until_idle();

  auto children = children_of(rt, sup);
  ASSERT_EQ(children.size(), 2u);
  EXPECT_TRUE(children[0].pid);
  EXPECT_NE(children[0].pid, a);
  EXPECT_EQ(children[0].restarts, 1u);
  EXPECT_EQ(value_of(rt, children[0].pid), 5) << "started again with the same argument";
  EXPECT_EQ(children[1].pid, b);
}

TEST(DynamicSupervisor, RestartsAPermanentChildFromItsLatestSnapshot) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<dynamic_supervisor>({}, dynamic_spec(log, restart_type::permanent));
  rt.run_until_idle();
  pid a = start_job(rt, sup, 100);
  rt.send(a, increment{});
  rt.send(a, increment{});
  rt.run_until_idle();

  rt.exit(a, exit_reason::kill());
  rt.run_until_idle();

  EXPECT_EQ(value_of(rt, children_of(rt, sup).at(0).pid), 102);
}

TEST(DynamicSupervisor, GivesUpPastItsIntensity) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  dynamic_supervisor_spec spec = dynamic_spec(log, restart_type::permanent);
  spec.intensity = 2;
  pid sup = rt.spawn<dynamic_supervisor>({}, spec);
  rt.run_until_idle();
  std::vector<pid> jobs = {start_job(rt, sup, 1), start_job(rt, sup, 2), start_job(rt, sup, 3)};

  for (pid j : jobs) rt.send(j, throw_error{});
  rt.run_until_idle();

  EXPECT_FALSE(rt.alive(sup));
  EXPECT_EQ(rt.process_count(), 0u) << "every child ends with its supervisor";
}

TEST(DynamicSupervisor, AChildWhoseStartFailsIsNotAddedAndTheCallerGetsANullPid) {
  runtime rt{deterministic_config()};
  dynamic_supervisor_spec spec;
  spec.make_child = [](const std::any& argument, const snapshot&) -> std::unique_ptr<process> {
    if (!argument.has_value()) throw std::runtime_error{"no argument"};
    return std::make_unique<worker>("job", std::make_shared<event_log>(), 0);
  };
  pid sup = rt.spawn<dynamic_supervisor>({}, spec);
  rt.run_until_idle();

  auto r = rt.call<pid>(sup, start_child{}, 1s);

  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
  EXPECT_TRUE(children_of(rt, sup).empty());
  EXPECT_TRUE(rt.alive(sup));
}

}  // namespace
}  // namespace respawn::sup_test
