// child_process: a program the serve tests start (respawn serve, the CLI), with its stdout on a
// pipe read line by line with deadlines and its stderr left to the test's log. A test that ends
// kills whatever it started.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace respawn::serve_test {

class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      for (auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~child_process() {
    kill(SIGKILL);
    wait_exit(std::chrono::seconds{30});
    if (out_ >= 0) ::close(out_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void kill(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // The next line on its stdout, or nullopt-like "" with ok=false at EOF or after `limit`.
  bool next_line(std::string& line, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || out_ < 0) return false;
      pollfd p{out_, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno != EINTR) return false;
      if (n <= 0) continue;
      char chunk[4096];
      auto got = ::read(out_, chunk, sizeof chunk);
      if (got <= 0) return false;
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }
  // Lines until one starts with `prefix` (returned), or "" after `limit`.
  std::string line_starting(const std::string& prefix, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    std::string line;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !next_line(line, left)) return "";
      if (line.rfind(prefix, 0) == 0) return line;
    }
  }

  // Its exit code (128 + signal if killed), or -1 if it is still running after `limit`.
  int wait_exit(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return exit_code_;
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      if (std::chrono::steady_clock::now() > until) return -1;
      // Wait on its stdout closing (it exits), not on a clock; bounded at 20 ms per round.
      if (out_ >= 0) {
        pollfd p{out_, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0) {
          char chunk[4096];
          auto got = ::read(out_, chunk, sizeof chunk);
          if (got > 0) buffer_.append(chunk, static_cast<std::size_t>(got));
          else { ::close(out_); out_ = -1; }
        }
      } else {
        ::poll(nullptr, 0, 20);
      }
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
};

}  // namespace respawn::serve_test
