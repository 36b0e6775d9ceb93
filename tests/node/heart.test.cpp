// Tests of heart (src/node/heart.hpp) with a stand-in node (heart_child.cpp): a node that dies
// is started again, with a delay that doubles up to its maximum, and heart never gives up on a
// crash loop; a node that ignores SIGTERM is SIGKILLed after the stop timeout; a node that stops beating is
// killed and started again; SIGTERM reaches the node, which drains, and heart exits with its
// code; a configuration error is not retried. Heart runs in a forked process of the test (it
// blocks signals and owns a signalfd); the stand-in reports each start on a pipe the test reads
// with a deadline.
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "heart.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class heart : public ::testing::Test {
 protected:
  void SetUp() override {
    starts_file_ = fs::temp_directory_path() /
                   ("respawn-heart-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove(starts_file_);
    ASSERT_EQ(::pipe(report_), 0);
  }
  void TearDown() override {
    if (heart_pid_ > 0) {
      ::kill(heart_pid_, SIGKILL);
      ::waitpid(heart_pid_, nullptr, 0);
    }
    ::close(report_[0]);
    fs::remove(starts_file_);
  }

  void start(const std::string& mode, respawn::node::heart_options options) {
    options.quiet = true;
    heart_pid_ = ::fork();
    ASSERT_GE(heart_pid_, 0);
    if (heart_pid_ == 0) {
      ::close(report_[0]);
      std::vector<std::string> argv{HEART_CHILD, mode, std::to_string(report_[1]), starts_file_.string()};
      ::_exit(respawn::node::run_heart(argv, options));
    }
    ::close(report_[1]);
  }

  // The next line the stand-in reports, or "" after `limit` (or when every writer is gone).
  std::string next_line(std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        auto line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{report_[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[256];
      auto n = ::read(report_[0], chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Heart's exit code, waited for with a deadline (-1: still running).
  int heart_exit(std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      pid_t r = ::waitpid(heart_pid_, &status, WNOHANG);
      if (r == heart_pid_) {
        heart_pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      // Every writer of the report pipe is gone once heart and its node are: wait on that.
      pollfd p{report_[0], POLLIN, 0};
      ::poll(&p, 1, 10);
      if (p.revents & POLLIN) {
        char chunk[256];
        if (::read(report_[0], chunk, sizeof chunk) > 0) continue;
      }
    }
    return -1;
  }

  fs::path starts_file_;
  int report_[2]{-1, -1};
  pid_t heart_pid_ = -1;
  std::string buffer_;
};

// Issue 12 (F15): no restart storm, no giving up. Each gap between starts is at least the backoff
// delay (1, 2, 4, 4, 4... times the initial one); the stand-in dies at once every time, so
// without the backoff the gaps would be a fork and an exec apart.
TEST_F(heart, a_crash_loop_is_restarted_with_a_doubling_delay_and_never_given_up) {
  respawn::node::heart_options o;
  o.backoff_initial = 40ms;
  o.backoff_max = 160ms;
  start("crash", o);
  std::vector<std::chrono::steady_clock::time_point> at;
  for (int i = 1; i <= 10; ++i) {
    ASSERT_EQ(next_line(), "start " + std::to_string(i)) << "heart stopped restarting the crash loop";
    at.push_back(std::chrono::steady_clock::now());
  }
  const std::chrono::milliseconds expected[] = {40ms, 80ms, 160ms, 160ms, 160ms, 160ms, 160ms, 160ms, 160ms};
  for (std::size_t i = 1; i < at.size(); ++i) {
    EXPECT_GE(at[i] - at[i - 1], expected[i - 1]) << "restart " << i << " came before its backoff delay";
  }
  EXPECT_EQ(heart_exit(0ms), -1) << "heart is still there";
}

// Issue 12 (F15): a node that does not stop when asked is killed after the stop timeout, so
// heart itself always stops.
TEST_F(heart, a_node_that_ignores_sigterm_is_killed_after_the_stop_timeout) {
  respawn::node::heart_options o;
  o.stop_timeout = 300ms;
  start("ignore-term", o);
  EXPECT_EQ(next_line(), "start 1");
  ASSERT_EQ(::kill(heart_pid_, SIGTERM), 0);
  EXPECT_EQ(heart_exit(), 1) << "heart SIGKILLed the node and exited";
  EXPECT_EQ(fs::file_size(starts_file_), 1u) << "a node stopped on request is not started again";
}

TEST_F(heart, a_crashed_node_is_started_again_and_sigterm_drains_it) {
  start("crash-twice", {});
  EXPECT_EQ(next_line(), "start 1");
  EXPECT_EQ(next_line(), "start 2");
  EXPECT_EQ(next_line(), "start 3");  // this one stays up
  ASSERT_EQ(::kill(heart_pid_, SIGTERM), 0);
  EXPECT_EQ(next_line(), "drained") << "SIGTERM reaches the node";
  EXPECT_EQ(heart_exit(), 0) << "heart exits with the drained node's code";
}

TEST_F(heart, a_node_that_stops_beating_is_killed_and_started_again) {
  respawn::node::heart_options o;
  o.beat_timeout = 300ms;
  start("hang-once", o);
  EXPECT_EQ(next_line(), "start 1");  // hangs: no heartbeat
  EXPECT_EQ(next_line(), "start 2") << "heart killed the hung node and started it again";
  ASSERT_EQ(::kill(heart_pid_, SIGTERM), 0);
  EXPECT_EQ(next_line(), "drained");
  EXPECT_EQ(heart_exit(), 0);
}

TEST_F(heart, a_configuration_error_is_not_retried) {
  start("config", {});
  EXPECT_EQ(next_line(), "start 1");
  EXPECT_EQ(heart_exit(), 78);
  EXPECT_EQ(fs::file_size(starts_file_), 1u);
}

}  // namespace
