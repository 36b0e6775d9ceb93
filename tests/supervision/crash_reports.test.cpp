// Crash reports (OTP's SASL reports): every abnormal exit of a child is logged exactly once,
// through runtime_config::log, with the child's pid, name, id, reason, its supervisor and its
// restart count; normal and shutdown exits are not crashes and are not logged, nor are siblings
// a strategy stops. runtime_config::crash_reports = false turns the reports off.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

struct captured_log {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  runtime_config config(bool crash_reports = true) const {
    runtime_config c = deterministic_config();
    c.crash_reports = crash_reports;
    c.log = [lines = lines](std::string_view line) { lines->emplace_back(line); };
    return c;
  }
  std::vector<std::string> crash_reports() const {
    std::vector<std::string> out;
    for (auto& l : *lines) {
      if (l.rfind("crash report", 0) == 0) out.push_back(l);
    }
    return out;
  }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CrashReports, AnAbnormalExitIsLoggedOnceWithPidNameReasonSupervisorAndRestartCount) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_one, {worker_spec("w", log, restart_type::permanent, "the-worker")}));
  rt.run_until_idle();
  const pid w0 = pid_of(rt, sup, "w");

  crash(rt, sup, "w");
  const pid w1 = pid_of(rt, sup, "w");
  crash(rt, sup, "w");

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(contains(reports[0], w0.to_string())) << reports[0];
  EXPECT_TRUE(contains(reports[0], "the-worker")) << reports[0];
  EXPECT_TRUE(contains(reports[0], "'w'")) << reports[0];
  EXPECT_TRUE(contains(reports[0], "error: std::runtime_error: boom")) << reports[0];
  EXPECT_TRUE(contains(reports[0], "supervisor " + sup.to_string())) << reports[0];
  EXPECT_TRUE(contains(reports[0], "restarts so far 0")) << reports[0];
  EXPECT_TRUE(contains(reports[1], w1.to_string())) << reports[1];
  EXPECT_TRUE(contains(reports[1], "restarts so far 1")) << reports[1];
}

class ReportByEnding : public ::testing::TestWithParam<ending> {};

TEST_P(ReportByEnding, OnlyAbnormalExitsAreReported) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("w", log)}));
  rt.run_until_idle();

  GetParam().end(rt, pid_of(rt, sup, "w"));
  rt.run_until_idle();

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), GetParam().abnormal ? 1u : 0u);
  if (GetParam().abnormal) {
    EXPECT_TRUE(contains(reports[0], "exited with " + GetParam().seen.to_string())) << reports[0];
  }
}

INSTANTIATE_TEST_SUITE_P(Endings, ReportByEnding, ::testing::ValuesIn(endings()),
                         [](const ::testing::TestParamInfo<ending>& param) { return param.param.name; });

TEST(CrashReports, SiblingsStoppedByTheStrategyAreNotReported) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>(
      {}, spec_of(strategy::one_for_all, {worker_spec("a", log), worker_spec("b", log), worker_spec("c", log)}));
  rt.run_until_idle();

  crash(rt, sup, "b");

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(contains(reports[0], "'b'"));
}

TEST(CrashReports, TemporaryAndTransientChildrenAreReportedToo) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("t", log, restart_type::temporary),
                                                                     worker_spec("n", log, restart_type::transient)}));
  rt.run_until_idle();

  crash(rt, sup, "t");
  crash(rt, sup, "n");

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(contains(reports[0], "'t'"));
  EXPECT_TRUE(contains(reports[1], "'n'"));
}

TEST(CrashReports, TheCrashThatExceedsTheIntensityIsReportedOnceAndTheShutdownIsNot) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec inner = spec_of(strategy::one_for_one, {worker_spec("a", log), worker_spec("b", log)}, 0);
  pid root = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {supervisor_child("inner", inner)}));
  rt.run_until_idle();

  crash(rt, pid_of(rt, root, "inner"), "b");

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 1u) << "a's stop and the inner supervisor's shutdown are not crashes";
  EXPECT_TRUE(contains(reports[0], "'b'"));
  bool gave_up_logged = false;
  for (auto& l : *captured.lines) gave_up_logged |= contains(l, "reached its restart intensity");
  EXPECT_TRUE(gave_up_logged);
}

// Review F26: a crash loop (one failing job logged 1,616 reports in 1.5 s) must not flood the
// log. Per child id, crash_reports_max reports per crash_report_period; the rest become one
// summary line when the period ends.
TEST(CrashReports, ACrashLoopIsRateLimitedPerChildIdAndSummarised) {
  captured_log captured;
  runtime rt{captured.config()};
  auto log = std::make_shared<event_log>();
  supervisor_spec spec = spec_of(strategy::one_for_one, {worker_spec("w", log), worker_spec("v", log)}, 1000);
  spec.flags.crash_reports_max = 3;
  spec.flags.crash_report_period = std::chrono::milliseconds{1000};
  pid sup = rt.spawn<supervisor>({}, spec);
  rt.run_until_idle();

  for (int i = 0; i < 12; ++i) crash(rt, sup, "w");
  crash(rt, sup, "v");  // another child id has its own budget

  auto reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_TRUE(contains(reports[3], "'v'")) << reports[3];
  rt.advance(std::chrono::milliseconds{1001});
  rt.run_until_idle();
  reports = captured.crash_reports();
  ASSERT_EQ(reports.size(), 5u);
  EXPECT_TRUE(contains(reports[4], "9 more crashes of child 'w' suppressed in the last 1000 ms")) << reports[4];
  EXPECT_TRUE(contains(reports[4], "boom")) << reports[4];
  // A new period reports again.
  crash(rt, sup, "w");
  EXPECT_EQ(captured.crash_reports().size(), 6u);
  EXPECT_EQ(child_of(rt, sup, "w")->restarts, 13u);
}

TEST(CrashReports, TurnedOffNothingIsReported) {
  captured_log captured;
  runtime rt{captured.config(/*crash_reports=*/false)};
  auto log = std::make_shared<event_log>();
  pid sup = rt.spawn<supervisor>({}, spec_of(strategy::one_for_one, {worker_spec("w", log)}));
  rt.run_until_idle();

  crash(rt, sup, "w");
  rt.exit(pid_of(rt, sup, "w"), exit_reason::kill());
  rt.run_until_idle();

  EXPECT_TRUE(captured.crash_reports().empty());
  EXPECT_EQ(child_of(rt, sup, "w")->restarts, 2u);
}

}  // namespace
}  // namespace respawn::sup_test
