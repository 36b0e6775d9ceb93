// A real node killed mid-load (issue 5): engine_node submits 200 jobs and runs them; after 30 have
// finished it gets SIGKILL — no clean shutdown, its workers die with it — and a new engine_node
// on the same database file recovers. Every accepted job must end succeeded, none twice, and the
// jobs that were running when the node died must have run again as a new attempt.
// And a node kill costs attempts only of tasks that had started (soak anomaly 6): jobs whose tasks
// waited in the pool or behind another task in a worker were never attempted, and run again.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct child {
  pid_t pid = -1;
  int out = -1;  // its stdout
};

child start(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads one line (without the newline); false at end of file or when `limit` passes.
bool read_line(int fd, std::string& line, std::chrono::milliseconds limit) {
  line.clear();
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return false;
    if (c == '\n') return true;
    line.push_back(c);
  }
}

int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    ::usleep(2000);
  }
}

TEST(node_kill, sigkill_mid_load_then_restart_loses_nothing_and_runs_nothing_twice) {
  fs::path dir = fs::temp_directory_path() / ("respawn-node-kill-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string db = (dir / "jobs.db").string();
  const int n = 200;

  child first = start({ENGINE_NODE, db, "submit", std::to_string(n)});
  ASSERT_GT(first.pid, 0);
  std::string line;
  ASSERT_TRUE(read_line(first.out, line, 60s)) << "the node did not start";
  ASSERT_EQ(line, "submitted");
  int finished = 0;
  while (finished < 30 && read_line(first.out, line, 60s)) finished += line.rfind("finished ", 0) == 0 ? 1 : 0;
  ASSERT_EQ(finished, 30) << "the node stopped finishing jobs";
  ASSERT_EQ(::kill(first.pid, SIGKILL), 0);
  int status = wait_exit(first.pid, 30s);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ::close(first.out);

  child second = start({ENGINE_NODE, db, "check", std::to_string(n)});
  ASSERT_GT(second.pid, 0);
  ASSERT_TRUE(read_line(second.out, line, 150s)) << "the restarted node did not finish the jobs";
  EXPECT_EQ(WEXITSTATUS(wait_exit(second.pid, 30s)), 0);
  ::close(second.out);
  auto summary = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(summary.is_discarded()) << line;
  EXPECT_EQ(summary["jobs"], n) << "every accepted job is in the log";
  EXPECT_EQ(summary["succeeded"], n) << line;
  EXPECT_EQ(summary["succeeded_twice"], 0) << line;
  EXPECT_GT(summary["recovered"].get<int>(), 0) << "the restarted node rebuilt the unfinished jobs";
  EXPECT_LE(summary["recovered"].get<int>(), n - 30) << "finished jobs are not rebuilt";
  EXPECT_GE(summary["retried"].get<int>(), 1) << "jobs running at the kill run again as a new attempt";
  fs::remove_all(dir);
}

TEST(node_kill, a_kill_burns_no_attempt_of_a_task_that_never_started) {
  fs::path dir = fs::temp_directory_path() / ("respawn-node-kill-unstarted-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string db = (dir / "jobs.db").string();
  const int n = 10;  // 1.5-s sleeps with max_attempts 1, all sent to 2 workers at once

  child first = start({ENGINE_NODE, db, "hold", std::to_string(n)});
  ASSERT_GT(first.pid, 0);
  std::string line;
  ASSERT_TRUE(read_line(first.out, line, 60s)) << "the node did not start";
  ASSERT_EQ(line, "submitted");
  ASSERT_TRUE(read_line(first.out, line, 60s)) << "no job started";
  ASSERT_EQ(line.rfind("started ", 0), 0u) << line;
  // Two tasks run (one per worker: no more can have started); the other eight wait, unstarted,
  // when the node dies.
  const int workers = 2;
  ASSERT_EQ(::kill(first.pid, SIGKILL), 0);
  int status = wait_exit(first.pid, 30s);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ::close(first.out);

  child second = start({ENGINE_NODE, db, "check", std::to_string(n)});
  ASSERT_GT(second.pid, 0);
  ASSERT_TRUE(read_line(second.out, line, 150s)) << "the restarted node did not finish the jobs";
  EXPECT_EQ(WEXITSTATUS(wait_exit(second.pid, 30s)), 0);
  ::close(second.out);
  auto summary = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(summary.is_discarded()) << line;
  EXPECT_EQ(summary["jobs"], n) << line;
  // Only the attempts that had started were lost with the node (max_attempts 1: they are dead);
  // every job whose task never started ran at the restart and succeeded.
  EXPECT_GE(summary["dead_interrupted"].get<int>(), 1) << "the running attempts were interrupted: " << line;
  EXPECT_LE(summary["dead_interrupted"].get<int>(), workers) << "attempts of unstarted tasks were burnt: " << line;
  EXPECT_EQ(summary["succeeded"].get<int>() + summary["dead_interrupted"].get<int>(), n) << line;
  fs::remove_all(dir);
}

}  // namespace
