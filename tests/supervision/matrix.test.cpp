// OTP's supervisor matrix: every strategy x restart type x exit reason. A supervisor has three
// named children a, b, c (a and c permanent); b has the restart type under test and ends with the
// reason under test. We check who is restarted (and in what order), who is stopped (in reverse
// start order), whether b stays listed (temporary children are removed), which pids change, and
// that every name reaches the current instance through whereis. One table instead of 36 tests,
// because the expected outcome is a small function of the three parameters, as in OTP's suite.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

struct matrix_case {
  strategy strat;
  restart_type restart;
  ending end;
};

std::vector<matrix_case> all_cases() {
  std::vector<matrix_case> out;
  for (strategy s : {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one}) {
    for (restart_type r : {restart_type::permanent, restart_type::transient, restart_type::temporary}) {
      for (const ending& e : endings()) out.push_back({s, r, e});
    }
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<matrix_case>& info) {
  std::string s = to_string(info.param.strat);
  std::string r = to_string(info.param.restart);
  return s + "_" + r + "_" + info.param.end.name;
}

class SupervisorMatrix : public ::testing::TestWithParam<matrix_case> {};

TEST_P(SupervisorMatrix, RestartsStopsAndRemovesExactlyTheChildrenOtpWould) {
  const matrix_case& param = GetParam();
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(param.strat, {worker_spec("a", log, restart_type::permanent, "name-a"),
                                                            worker_spec("b", log, param.restart, "name-b"),
                                                            worker_spec("c", log, restart_type::permanent, "name-c")}));
  rt.run_until_idle();
  ASSERT_EQ(log->events, (std::vector<std::string>{"start:a", "start:b", "start:c"}));
  const pid a0 = pid_of(rt, sup, "a"), b0 = pid_of(rt, sup, "b"), c0 = pid_of(rt, sup, "c");
  const std::size_t mark = log->size();

  param.end.end(rt, b0);
  rt.run_until_idle();

  const bool restarted = param.restart == restart_type::permanent ||
                         (param.restart == restart_type::transient && param.end.abnormal);
  // The group OTP restarts with b, in start order.
  std::vector<std::string> group = {"b"};
  if (param.strat == strategy::one_for_all) group = {"a", "b", "c"};
  if (param.strat == strategy::rest_for_one) group = {"b", "c"};
  if (!restarted) group = {};

  std::vector<std::string> expected;
  if (!param.end.seen.is(exit_reason::kind::killed)) expected.push_back("stop:b");  // b's own terminate()
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if (*it != "b") expected.push_back("stop:" + *it);  // siblings: last started, first stopped
  }
  for (const std::string& id : group) expected.push_back("start:" + id);
  EXPECT_EQ(log->since(mark), expected);

  EXPECT_TRUE(rt.alive(sup));
  std::vector<child_info> children = children_of(rt, sup);
  if (param.restart == restart_type::temporary) {
    EXPECT_EQ(ids_of(children), (std::vector<std::string>{"a", "c"})) << "a temporary child is removed when it ends";
    EXPECT_FALSE(rt.whereis("name-b"));
  } else {
    ASSERT_EQ(ids_of(children), (std::vector<std::string>{"a", "b", "c"}));
    const child_info& b = children[1];
    EXPECT_EQ(b.last_exit_reason, param.end.seen.to_string());
    EXPECT_EQ(b.restarts, restarted ? 1u : 0u);
    if (restarted) {
      EXPECT_TRUE(b.pid);
      EXPECT_NE(b.pid, b0);
    } else {
      EXPECT_FALSE(b.pid) << "a transient child that ended with " << param.end.name << " is not restarted";
      EXPECT_FALSE(rt.whereis("name-b"));
    }
  }
  EXPECT_FALSE(rt.alive(b0));

  auto in_group = [&](const std::string& id) { return std::find(group.begin(), group.end(), id) != group.end(); };
  for (auto [id, before] : {std::pair<std::string, pid>{"a", a0}, {"c", c0}}) {
    pid now = pid_of(rt, sup, id);
    ASSERT_TRUE(now) << id << " should be running";
    if (in_group(id)) {
      EXPECT_NE(now, before) << id << " should have been restarted with b";
      EXPECT_FALSE(rt.alive(before));
    } else {
      EXPECT_EQ(now, before) << id << " should not have been touched";
    }
  }
  // Names are registered again by every restart: callers that look them up reach the new instance.
  for (auto& c : children_of(rt, sup)) {
    if (c.pid) {
      EXPECT_EQ(rt.whereis(c.name), c.pid) << c.id;
    }
  }
  for (const char* name : {"name-a", "name-b", "name-c"}) {
    if (pid p = rt.whereis(name)) {
      auto r = rt.call<std::string>(p, get_id{}, 1s);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ("name-" + r.value(), name);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(StrategyByRestartTypeByExitReason, SupervisorMatrix, ::testing::ValuesIn(all_cases()),
                         case_name);

TEST(OneForAll, StopsATemporarySiblingAndDoesNotStartItAgain) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_all, {worker_spec("a", log),
                                                                     worker_spec("t", log, restart_type::temporary),
                                                                     worker_spec("c", log)}));
  rt.run_until_idle();
  const std::size_t mark = log->size();

  crash(rt, sup, "a");

  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:a", "stop:c", "stop:t", "start:a", "start:c"}));
  EXPECT_EQ(ids_of(children_of(rt, sup)), (std::vector<std::string>{"a", "c"}));
}

TEST(OneForAll, StartsAgainASiblingThatWasTerminatedBeforeTheCrash) {
  // OTP restarts every non-temporary child of a one_for_all supervisor, running or not.
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_all, {worker_spec("a", log), worker_spec("b", log)}));
  rt.run_until_idle();
  ASSERT_TRUE(rt.call<bool>(sup, terminate_child{"b"}, 1s).value());
  ASSERT_FALSE(pid_of(rt, sup, "b"));

  crash(rt, sup, "a");

  EXPECT_TRUE(pid_of(rt, sup, "a"));
  EXPECT_TRUE(pid_of(rt, sup, "b"));
}

TEST(RestForOne, LeavesTheChildrenStartedBeforeTheCrashedOneAlone) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::rest_for_one, {worker_spec("a", log), worker_spec("b", log),
                                                                      worker_spec("c", log), worker_spec("d", log)}));
  rt.run_until_idle();
  const std::size_t mark = log->size();

  crash(rt, sup, "b");

  EXPECT_EQ(log->since(mark),
            (std::vector<std::string>{"stop:b", "stop:d", "stop:c", "start:b", "start:c", "start:d"}));
}

TEST(TerminateChild, StopsTheChildWithoutRestartingItAndRestartChildStartsItAgain) {
  runtime rt{deterministic_config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_all, {worker_spec("a", log),
                                                                     worker_spec("b", log, restart_type::permanent,
                                                                                 "name-b")}));
  rt.run_until_idle();
  const pid a0 = pid_of(rt, sup, "a");
  const std::size_t mark = log->size();

  EXPECT_TRUE(rt.call<bool>(sup, terminate_child{"b"}, 1s).value());
  EXPECT_FALSE(rt.call<bool>(sup, terminate_child{"b"}, 1s).value()) << "b is no longer running";
  EXPECT_FALSE(rt.call<bool>(sup, terminate_child{"nobody"}, 1s).value());
  EXPECT_EQ(log->since(mark), (std::vector<std::string>{"stop:b"})) << "no strategy applies to terminate_child";
  EXPECT_FALSE(rt.whereis("name-b"));
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 1u);
  EXPECT_EQ(pid_of(rt, sup, "a"), a0);

  EXPECT_TRUE(rt.call<bool>(sup, restart_child{"b"}, 1s).value());
  EXPECT_FALSE(rt.call<bool>(sup, restart_child{"b"}, 1s).value()) << "b is already running";
  EXPECT_FALSE(rt.call<bool>(sup, restart_child{"nobody"}, 1s).value());
  EXPECT_TRUE(pid_of(rt, sup, "b"));
  EXPECT_EQ(rt.whereis("name-b"), pid_of(rt, sup, "b"));
  EXPECT_EQ(rt.call<std::size_t>(sup, count_children{}, 1s).value(), 2u);
}

}  // namespace
}  // namespace respawn::sup_test
