// Every default limit a job meets is configurable on serve and shown in the job (issue 13):
// --attempt-timeout and --max-attempts (the engine's 60 s per attempt was not configurable), bad
// values refused with a clear error and exit 64, and GET /v1/jobs/ID's "limits" as the node runs
// the job. Also --workers-per-user and --session-workers are checked here.
#include <thread>

#include "serve_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using respawn::http::test::client;
using respawn::serve_test::child_process;
using respawn::serve_test::serve;

// Runs `respawn serve ARGS` (stderr on stdout) to its exit: its output and exit code.
std::pair<std::string, int> serve_with(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", RESPAWN_BINARY, "serve", "--no-heart"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p{argv};
  std::string all, line;
  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until &&
         p.next_line(line, std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()))) {
    all += line + "\n";
  }
  return {all, p.wait_exit(10s)};
}

TEST(serve_flags, bad_limits_are_refused_with_a_clear_error_and_exit_64) {
  struct bad {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& b : std::vector<bad>{
           {{"--attempt-timeout", "0"}, "--attempt-timeout needs seconds, 1 to 604800"},
           {{"--attempt-timeout", "604801"}, "--attempt-timeout needs seconds, 1 to 604800"},
           {{"--attempt-timeout", "ten"}, "--attempt-timeout needs seconds"},
           {{"--attempt-timeout"}, "--attempt-timeout needs seconds"},
           {{"--max-attempts", "0"}, "--max-attempts needs a number from 1 to 1000"},
           {{"--max-attempts", "1001"}, "--max-attempts needs a number from 1 to 1000"},
           {{"--max-attempts", "-1"}, "--max-attempts needs a number"},
           {{"--workers-per-user", "0"}, "--workers-per-user needs a number from 1 to 1024"},
           {{"--workers", "2", "--workers-per-user", "3"}, "--workers-per-user (3) cannot be more than --workers (2)"},
           {{"--session-workers", "65"}, "--session-workers needs a number from 0 to 64"},
           {{"--session-workers", "x"}, "--session-workers needs a number from 0 to 64"},
       }) {
    auto [output, code] = serve_with(b.args);
    EXPECT_EQ(code, 64) << b.args[0] << ": " << output;
    EXPECT_NE(output.find("respawn serve: " + b.says), std::string::npos) << output;
    EXPECT_NE(output.find("usage: respawn serve"), std::string::npos) << output;
  }
}

TEST(serve_flags, help_names_every_limit_flag) {
  auto [output, code] = serve_with({"--help"});
  EXPECT_EQ(code, 0) << output;
  for (const char* flag : {"--attempt-timeout", "--max-attempts", "--workers-per-user", "--session-workers",
                           "--task-memory-mb", "--task-cpu-seconds"}) {
    EXPECT_NE(output.find(flag), std::string::npos) << flag << " is not in the usage: " << output;
  }
}

// The job shows the limits it runs with, and they are the ones applied: a 3-s sleep under
// --attempt-timeout 1 is killed at 1000 ms, once (--max-attempts 1), and dies of it.
TEST_F(serve, the_attempt_timeout_and_max_attempts_flags_apply_and_the_job_shows_its_limits) {
  start({"--attempt-timeout", "1", "--max-attempts", "1", "--task-memory-mb", "512", "--session-workers", "0",
         "--workers-per-user", "1"});
  client c{port_, 60s};
  auto r = post(c, "/v1/jobs", {{"kind", "sleep"}, {"args", {{"ms", 3000}}}});
  ASSERT_EQ(r.status, 201u) << r.body;
  auto id = r.json()["id"].get<std::uint64_t>();
  EXPECT_EQ(r.json()["limits"], (nlohmann::json{{"timeout_ms", 1000},
                                                 {"max_attempts", 1},
                                                 {"memory_mb", 512},
                                                 {"cpu_seconds", 3600},
                                                 {"cancel_grace_ms", 5000}}))
      << r.body;
  auto job = await_final(c, id);
  EXPECT_EQ(job["state"], "dead") << job.dump();
  EXPECT_EQ(job["attempts"], 1) << job.dump();
  EXPECT_NE(job["error"].get<std::string>().find("deadline (1000 ms)"), std::string::npos) << job.dump();

  // A request's own timeout and attempts win, and show.
  r = post(c, "/v1/jobs", {{"kind", "sleep"}, {"args", {{"ms", 10}}}, {"timeout_ms", 5000}, {"max_attempts", 3}});
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.json()["limits"]["timeout_ms"], 5000);
  EXPECT_EQ(r.json()["limits"]["max_attempts"], 3);
  EXPECT_EQ(await_final(c, r.json()["id"].get<std::uint64_t>())["state"], "succeeded");
}

}  // namespace
