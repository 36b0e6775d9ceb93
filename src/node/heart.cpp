// heart.cpp: see heart.hpp. One loop per node life: fork + exec the node with the write end of a
// heartbeat pipe, then poll three things -- heart's own signals (signalfd), the heartbeat pipe and
// the node's pidfd (so its exit is seen at once, with no SIGCHLD handler) -- with a one-second
// tick that checks the heartbeat's age.
#include "heart.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
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
  std::deque<clock_type::time_point> restarts;
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
    auto last_beat = clock_type::now();
    bool stopping = false, hung = false;
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
            if (!stopping) say("stopping the node (it drains first)");
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
    auto now = clock_type::now();
    restarts.push_back(now);
    while (!restarts.empty() && now - restarts.front() > options.period) restarts.pop_front();
    if (restarts.size() > options.intensity) {
      say("node " + std::to_string(child) + " " + describe(status) + "; " + std::to_string(restarts.size()) +
          " restarts within " + std::to_string(options.period.count()) + " s: giving up");
      return 1;
    }
    say("node " + std::to_string(child) + " " + describe(status) + "; starting it again (" +
        std::to_string(restarts.size()) + " of at most " + std::to_string(options.intensity) + " restarts in " +
        std::to_string(options.period.count()) + " s)");
  }
}

}  // namespace respawn::node
