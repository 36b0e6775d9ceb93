// worker_spawn.cpp: see worker_spawn.hpp.
#include "worker_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace respawn::detail {

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error{err, std::generic_category(), what};
}

// Owns a descriptor until release().
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

}  // namespace

std::vector<std::string> worker_environment() {
  std::vector<std::string> env;
  for (const char* name : worker_environment_names) {
    if (const char* value = std::getenv(name)) env.push_back(std::string{name} + "=" + value);
  }
  return env;
}

spawned_process spawn_process(const std::string& binary, const std::vector<std::string>& args) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail(errno, "socketpair");
  fd_guard node_end{sv[0]};
  fd_guard child_end{sv[1]};
  // Room for a burst of batched tasks without the owner having to buffer.
  int size = 1 << 20;
  ::setsockopt(node_end.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  ::setsockopt(node_end.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);

  std::vector<std::string> argv_s;
  argv_s.reserve(args.size() + 5);
  argv_s.push_back(binary);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  argv_s.insert(argv_s.end(), {"--fd", "3", "--parent", std::to_string(::getpid())});
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto 3 clears close-on-exec on the copy; if the child's end already is 3, dup2 would
  // do nothing and the descriptor would close at exec, so move it out of the way first.
  if (child_end.fd == 3) {
    int moved = ::fcntl(child_end.fd, F_DUPFD_CLOEXEC, 4);
    if (moved < 0) fail(errno, "fcntl");
    ::close(child_end.fd);
    child_end.fd = moved;
  }
  posix_spawn_file_actions_adddup2(&actions, child_end.fd, 3);
  // Everything above the socket closes in the child, whether or not it is close-on-exec: a
  // descriptor someone opened without O_CLOEXEC (a library, a race with another thread's
  // socket() and fcntl()) must not reach job code -- least of all the API's listening socket.
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGHUP, SIGINT, SIGCHLD, SIGXCPU}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  // Not the node's environment (its secrets, its configuration): the few variables job code may
  // need, named in worker_spawn.hpp and docs/workers.md.
  std::vector<std::string> env_s = worker_environment();
  std::vector<char*> env;
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);

  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) fail(rc, "cannot start worker " + binary);

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    fail(err, "pidfd_open");
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  int flags = ::fcntl(node_end.fd, F_GETFL);
  ::fcntl(node_end.fd, F_SETFL, flags | O_NONBLOCK);
  return spawned_process{pid, pidfd, node_end.release()};
}

}  // namespace respawn::detail
