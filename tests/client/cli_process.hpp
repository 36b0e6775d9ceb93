// cli_process — test-only: the real client binary (respawn-client-cli) run as a child process
// with its stdout and stderr on pipes that the test reads as bytes come. It is how a test sees
// what the CLI has printed WHILE its job still runs (issue 13), which an in-process run, whose
// output is only looked at after it returns, cannot show.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace respawn::client::testing {

class cli_process {
 public:
  // Runs the binary with `args` (after argv[0]) and exactly the environment `env` ("NAME=VALUE").
  cli_process(const std::string& binary, const std::vector<std::string>& args, const std::vector<std::string>& env);
  ~cli_process();  // a child still running is killed (SIGKILL) and reaped
  cli_process(const cli_process&) = delete;
  cli_process& operator=(const cli_process&) = delete;

  // Reads what comes until `seen()` holds (true) or the deadline passes (false).
  bool wait_for(const std::function<bool()>& seen, std::chrono::milliseconds deadline);
  // Reads both pipes to their end and reaps the child: its exit code; -1 if it had to be killed
  // at the deadline, -2 if it died of a signal.
  int finish(std::chrono::milliseconds deadline);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // One poll of the pipes for up to `timeout`; appends what it read.
  void read_once(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

}  // namespace respawn::client::testing
