// heart.cpp: see heart.hpp. One loop per node life: fork + exec the node with the write end of a
// heartbeat pipe, then poll three things -- heart's own signals (signalfd), the heartbeat pipe and
// the node's pidfd (so its exit is seen at once, with no SIGCHLD handler) -- with a one-second
// tick that checks the heartbeat's age. Between lives it waits out the backoff delay, still
// answering its signals.
#include "heart.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace respawn::node {

namespace {

using clock_type = std::chrono::steady_clock;

// The node's exit code for "do not start me again": its configuration is wrong (the port is
// taken, the data directory cannot be used), and a restart would fail the same way.
constexpr int exit_config = 78;  // EX_CONFIG

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string{"was killed by signal "} + ::strsignal(WTERMSIG(status));
  return "ended";
}

}  // namespace

int heart_fd_from_environment() {
  const char* text = std::getenv(heart_fd_env);
  if (text == nullptr || *text == '\0') return -1;
  char* end = nullptr;
  long fd = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || fd < 0) return -1;
  ::unsetenv(heart_fd_env);  // not for the node's own children (its workers)
  return static_cast<int>(fd);
}

int run_heart(const std::vector<std::string>& argv, const heart_options& options) {
  auto say = [&](const std::string& line) {
    if (!options.quiet) std::fprintf(stderr, "heart: %s\n", line.c_str());
  };
  sigset_t handled, previous;
  sigemptyset(&handled);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &handled, &previous);
  int signals = ::signalfd(-1, &handled, SFD_CLOEXEC);
  if (signals < 0) {
    say(std::string{"signalfd failed: "} + std::strerror(errno));
    return 1;
  }
  std::chrono::milliseconds delay{0};  // before the next restart; 0: none yet in this run of crashes
  std::uint64_t crashes_in_a_row = 0;
  pid_t heart_pid = ::getpid();
  for (;;) {
    int beat[2];
    if (::pipe2(beat, O_CLOEXEC) != 0) {
      say(std::string{"pipe failed: "} + std::strerror(errno));
      return 1;
    }
    pid_t child = ::fork();
    if (child < 0) {
      say(std::string{"fork failed: "} + std::strerror(errno));
      return 1;
    }
    if (child == 0) {
      ::sigprocmask(SIG_SETMASK, &previous, nullptr);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // heart gone: the node drains and stops
      if (::getppid() != heart_pid) ::_exit(1);
      int fd = ::dup(beat[1]);  // a dup does not inherit O_CLOEXEC
      ::setenv(heart_fd_env, std::to_string(fd).c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::fprintf(stderr, "heart: cannot run %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(beat[1]);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    if (pidfd < 0) {
      say(std::string{"pidfd_open failed: "} + std::strerror(errno));
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      return 1;
    }
    auto started_at = clock_type::now();
    auto last_beat = started_at;
    auto stop_asked = started_at;
    bool stopping = false, hung = false, stop_killed = false;
    int status = 0;
    for (;;) {
      pollfd fds[3] = {{signals, POLLIN, 0}, {beat[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
      int n = ::poll(fds, 3, 1000);
      if (n < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signals, &info, sizeof info) == sizeof info) {
          int sig = static_cast<int>(info.ssi_signo);
          if (sig == SIGHUP) {
            ::kill(child, SIGHUP);  // hot code upgrade of the node's workers
          } else {
            if (!stopping) {
              say("stopping the node (it drains first)");
              stop_asked = clock_type::now();
            }
            stopping = true;
            ::kill(child, SIGTERM);
          }
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP)) {
        char bytes[64];
        if (::read(beat[0], bytes, sizeof bytes) > 0) last_beat = clock_type::now();
        else fds[1].fd = -1;
      }
      if (fds[2].revents & POLLIN) {
        ::waitpid(child, &status, 0);
        break;
      }
      if (stopping && !stop_killed && clock_type::now() - stop_asked > options.stop_timeout) {
        say("node " + std::to_string(child) + " still running " + std::to_string(options.stop_timeout.count()) +
            " ms after it was asked to stop: killing it");
        stop_killed = true;
        ::kill(child, SIGKILL);
      }
      if (!stopping && !hung && clock_type::now() - last_beat > options.beat_timeout) {
        say("no heartbeat from node " + std::to_string(child) + " for " +
            std::to_string(options.beat_timeout.count()) + " ms: killing it");
        hung = true;
        ::kill(child, SIGKILL);
      }
    }
    ::close(pidfd);
    ::close(beat[0]);
    if (stopping) return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;  // it stopped by request
    if (WIFEXITED(status) && WEXITSTATUS(status) == exit_config) {
      say("the node cannot start with this configuration; not restarting it");
      return exit_config;
    }
    // A crash (or a hang). Back off: a node that keeps dying must not spin the machine, and the
    // fault may pass (a full disk, a database being restored), so never give up for good.
    if (clock_type::now() - started_at >= options.stable_after) {
      delay = std::chrono::milliseconds{0};
      crashes_in_a_row = 0;
    }
    ++crashes_in_a_row;
    delay = delay.count() == 0 ? options.backoff_initial : std::min(delay * 2, options.backoff_max);
    say("node " + std::to_string(child) + " " + describe(status) + "; starting it again in " +
        std::to_string(delay.count()) + " ms (crash " + std::to_string(crashes_in_a_row) + " in a row)");
    auto until = clock_type::now() + delay;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
      if (left.count() <= 0) break;
      pollfd p{signals, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1000)));
      if (n < 0 && errno != EINTR) break;
      if (n > 0 && (p.revents & POLLIN)) {
        signalfd_siginfo info{};
        if (::read(signals, &info, sizeof info) == sizeof info && info.ssi_signo != SIGHUP) {
          say("stopping while the node is down: not starting it again");
          return 0;
        }
      }
    }
  }
}

}  // namespace respawn::node
