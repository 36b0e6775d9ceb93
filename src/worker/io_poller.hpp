// io_poller: the one thread that watches every worker's socket and pidfd (epoll), like ERTS's
// check_io for ports. What it reads it decodes into frames and sends to the worker's owner as a
// runtime message; a worker's end (pidfd readable) it reaps at once with waitid, so there is no
// zombie and no SIGCHLD handler, and sends the owner the exit status.
//
// It is also the thread that starts workers: PR_SET_PDEATHSIG fires when the *thread* that forked
// the child ends, not the process, so workers must be spawned from a thread that lives as long as
// the node's use of them; scheduler threads may retire (the watchdog), this one does not.
//
// A port is one worker as the poller sees it. Its owner writes frames to it from any thread;
// what the socket does not take at once is kept and flushed when it is writable. release() hands
// the port back: the poller closes the socket and keeps the pidfd until the worker is reaped.
//
// There is one poller per runtime (poller_of), a runtime extension: it is destroyed after every
// process has ended, so a process can never outlive it, and its thread, which sends into the
// runtime, is joined before the runtime's tables go away. Its destructor kills and reaps any
// worker that is left.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "frame.hpp"
#include "respawn/pid.hpp"

namespace respawn {
class runtime;
}

namespace respawn::detail {

// --- what the poller sends a port's owner ---
struct port_frames {
  std::vector<wire::frame> frames;
};
struct port_malformed {
  std::string what;
};
struct port_closed {};  // the worker closed its end (EOF) or the socket failed
struct port_exited {
  int status = 0;  // as waitpid's: WIFEXITED / WIFSIGNALED apply
};

struct spawn_request {
  std::string binary;
  std::vector<std::string> args;  // after argv[0]; --fd 3 --parent PID are appended
};

class io_poller;

class port {
 public:
  // Sends whole frames (appended to the output if the socket is full). False once closed.
  bool write(std::string_view bytes);
  // Signals the worker through its pidfd (no pid-reuse race). False if it is already reaped.
  bool signal(int sig);
  // Closes the node's end of the socket: the worker reads EOF and exits (a clean stop).
  void close_socket();
  pid_t os_pid() const noexcept { return os_pid_; }
  // When the poller last read bytes from the worker (steady_clock), 0 if never: written by the
  // poller thread as it reads, so a heartbeat judged by it does not depend on how soon the
  // worker's owner was scheduled to handle the frames.
  std::chrono::steady_clock::time_point last_read() const noexcept {
    return std::chrono::steady_clock::time_point{std::chrono::steady_clock::duration{last_read_ns_.load(std::memory_order_relaxed)}};
  }

 private:
  friend class io_poller;
  std::mutex mutex_;
  int sock_ = -1;
  int pidfd_ = -1;
  pid_t os_pid_ = 0;
  bool reaped_ = false;
  bool want_out_ = false;  // EPOLLOUT armed
  bool reading_ = true;
  std::string out_;
  wire::decoder decoder_;
  respawn::pid owner_{};
  io_poller* poller_ = nullptr;
  std::uint64_t key_ = 0;
  std::atomic<std::chrono::steady_clock::rep> last_read_ns_{0};
};

class io_poller {
 public:
  explicit io_poller(runtime& rt);
  // Stops the thread: it kills and reaps every worker still running, then ends; joined.
  ~io_poller();
  io_poller(const io_poller&) = delete;
  io_poller& operator=(const io_poller&) = delete;

  // Starts a worker (on the poller's thread) whose events go to `owner`. Throws
  // std::runtime_error (saying why) if the binary cannot be started.
  std::shared_ptr<port> spawn(const spawn_request& request, respawn::pid owner);
  // The owner is done with the port: the socket is closed, the worker (if still running) is
  // killed, and the poller reaps it.
  void release(const std::shared_ptr<port>& p);

 private:
  friend class port;
  void run();
  void wake();
  // Reads at most read_budget_bytes per wake-up (epoll is level-triggered: it comes back for the
  // rest), so that one worker writing at full speed cannot hold the poller thread, which every
  // worker shares, or grow one batch of frames without bound (review F23). drain: read all
  // (the worker has exited; its last words must come before its exit).
  void on_socket(port& p, std::uint32_t events, bool drain = false);
  static constexpr std::size_t read_budget_bytes = 1024 * 1024;
  void on_pidfd(port& p);
  void arm_output(port& p);  // p.mutex_ held
  struct command;
  void execute(command& c);

  runtime& rt_;
  int epoll_ = -1;
  int event_ = -1;  // eventfd: commands queued, or stop
  mutable std::mutex mutex_;
  std::vector<command*> commands_;
  std::unordered_map<std::uint64_t, std::shared_ptr<port>> ports_;
  std::uint64_t next_key_ = 1;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above is set up
};

// The runtime's poller, started on first use.
io_poller& poller_of(runtime& rt);

}  // namespace respawn::detail
