// test_worker: a worker binary for the tests, built twice (TEST_WORKER_VERSION 1 and 2, as
// test-worker-v1 and test-worker-v2) so that the node's tests can reload one build over another
// (hot code upgrade) and tell which build answered. It serves the built-in kinds plus kinds that
// misbehave in the ways a node must survive:
//
//   version            returns TEST_WORKER_VERSION
//   garbage            writes 64 bytes of 0xff to the socket, around the frames, then sleeps 10 s:
//                      the node must take it for a malformed frame and end this worker
//   close_socket       shuts down its sending side of the socket (the node reads end of file)
//                      and sleeps 60 s ignoring everything: a worker that is still alive but can
//                      no longer be heard. (A plain close() would not do: it does not interrupt
//                      the reader thread's blocked read(), so the node would see no end of file.)
//                      The node must kill it and report "worker closed its socket"
//   ignore_term        ignores SIGTERM, then sleeps 60 s ignoring cancel: the node must SIGKILL it
//   exit_code {code}   std::_Exit(code) at once
//   echo_args          returns its arguments
//   progress_then_result
//                      progress 0.5, output {"x":1}, snapshot {"s":2}, then returns the snapshot it
//                      was restored from (null if none)
//   attempt            returns its attempt number
//   started_then_deaf  reports progress 0 (so the node knows it runs), then sleeps 120 s ignoring
//                      cancel: a task that only a kill ends
//   chatty             emits args.n outputs (0, 1, ...), then returns n
//   progress_flood     reports progress 1, 2, ..., args.n in a tight loop, then returns n
//   bad_utf8           throws an exception whose what() is not valid UTF-8 (a Latin-1 file name):
//                      the node must log the error, repaired, not crash on it
#include <chrono>
#include <csignal>
#include <stdexcept>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <sys/socket.h>
#include <unistd.h>

#include "respawn/kinds.hpp"

#ifndef TEST_WORKER_VERSION
#error "build with -DTEST_WORKER_VERSION=N"
#endif

namespace {

int socket_fd = -1;  // the worker's socket, read from --fd before respawn::main runs

// Sleeps, deaf to cancel (the point of the kinds that use it).
void sleep_regardless(std::chrono::seconds total) {
  auto until = std::chrono::steady_clock::now() + total;
  while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds{10});
}

respawn::kind_registry test_kinds() {
  respawn::kind_registry kinds = respawn::builtin_kinds();
  kinds.add("version", [](respawn::task_context&) -> nlohmann::json { return TEST_WORKER_VERSION; });
  kinds.add("garbage", [](respawn::task_context&) -> nlohmann::json {
    char bytes[64];
    std::memset(bytes, 0xff, sizeof bytes);
    [[maybe_unused]] ssize_t written = ::write(socket_fd, bytes, sizeof bytes);
    sleep_regardless(std::chrono::seconds{10});
    return nullptr;
  });
  kinds.add("close_socket", [](respawn::task_context&) -> nlohmann::json {
    ::shutdown(socket_fd, SHUT_WR);
    sleep_regardless(std::chrono::seconds{60});
    return nullptr;
  });
  kinds.add("ignore_term", [](respawn::task_context&) -> nlohmann::json {
    std::signal(SIGTERM, SIG_IGN);
    sleep_regardless(std::chrono::seconds{60});
    return nullptr;
  });
  kinds.add("exit_code", [](respawn::task_context& ctx) -> nlohmann::json {
    std::_Exit(ctx.args().value("code", 0));
  });
  kinds.add("echo_args", [](respawn::task_context& ctx) -> nlohmann::json { return ctx.args(); });
  kinds.add("progress_then_result", [](respawn::task_context& ctx) -> nlohmann::json {
    ctx.progress(0.5);
    ctx.emit({{"x", 1}});
    ctx.save_snapshot({{"s", 2}});
    const auto& restored = ctx.restored_snapshot();
    return restored ? *restored : nlohmann::json(nullptr);
  });
  kinds.add("attempt", [](respawn::task_context& ctx) -> nlohmann::json { return ctx.attempt(); });
  kinds.add("started_then_deaf", [](respawn::task_context& ctx) -> nlohmann::json {
    ctx.progress(0.0);
    sleep_regardless(std::chrono::seconds{120});
    return nullptr;
  });
  kinds.add("progress_flood", [](respawn::task_context& t) -> nlohmann::json {
    const int n = t.args().value("n", 0);
    for (int i = 1; i <= n; ++i) t.progress(i);
    return n;
  });
  kinds.add("chatty", [](respawn::task_context& t) -> nlohmann::json {
    const int n = t.args().value("n", 0);
    for (int i = 0; i < n; ++i) t.emit(i);
    return n;
  });
  kinds.add("bad_utf8", [](respawn::task_context&) -> nlohmann::json {
    throw std::runtime_error("cannot open caf\xe9 \xff.txt");
  });
  return kinds;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--fd") == 0) socket_fd = std::atoi(argv[i + 1]);
  }
  return respawn::main(argc, argv, test_kinds());
}
