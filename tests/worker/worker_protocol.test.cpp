// worker_protocol.test: the worker side of the protocol, spoken to the real test-worker-v1 binary
// over a socketpair exactly as a node would (child end on fd 3, `worker --fd 3 --parent PID`).
// Each test asserts on the frames the worker sends back and on how the process ends: its exit
// code or the signal that killed it is what the node turns into an exit reason.
//
// Every wait has a deadline (poll on the socket, poll on a pidfd for the exit): a worker that
// hangs fails its test instead of stalling the suite, and every child started is reaped.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <csignal>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "exit_codes.hpp"
#include "frame.hpp"

extern char** environ;

namespace wire = respawn::wire;
using namespace std::chrono_literals;

namespace {

constexpr auto frame_deadline = 10s;

// How a worker process ended.
struct ending {
  bool exited = false;
  int code = -1;    // if exited
  int signal = 0;   // if killed by a signal
};

std::ostream& operator<<(std::ostream& os, const ending& e) {
  if (e.exited) return os << "exited with code " << e.code;
  return os << "killed by signal " << e.signal << " (" << strsignal(e.signal) << ")";
}

// One `test-worker-v1 worker` process and our end of its socket.
class worker_child {
 public:
  // `parent` is what --parent says (our pid unless a test lies); extra_args replace the usual
  // `--fd 3 --parent PID` when given.
  explicit worker_child(std::optional<pid_t> parent = std::nullopt, std::vector<std::string> args = {}) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error{"socketpair"};
    fd_ = sv[0];
    int child_end = sv[1];
    // dup2 onto fd 3 clears close-on-exec only if the fds differ.
    if (child_end == 3) {
      child_end = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
      ::close(sv[1]);
    }
    if (args.empty()) {
      args = {"worker", "--fd", "3", "--parent", std::to_string(parent.value_or(::getpid()))};
    }
    std::vector<std::string> argv_strings{TEST_WORKER_V1};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_end, 3);
    int error = ::posix_spawn(&pid_, TEST_WORKER_V1, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(child_end);
    if (error != 0) throw std::runtime_error{std::string{"posix_spawn: "} + std::strerror(error)};
    // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C" and does not link from C++.
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      throw std::runtime_error{"pidfd_open"};
    }
  }

  ~worker_child() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
    ::close(pidfd_);
  }

  worker_child(const worker_child&) = delete;
  worker_child& operator=(const worker_child&) = delete;

  pid_t pid() const { return pid_; }

  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error{std::string{"send: "} + std::strerror(errno)};
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void send(wire::frame_type type, std::uint64_t task, std::string_view payload = {}) {
    std::string out;
    wire::append_frame(out, type, task, payload);
    send_raw(out);
  }
  void send_task(std::uint64_t id, const wire::task_frame& task) {
    send(wire::frame_type::task, id, wire::encode(task));
  }

  // The next frame, or nullopt on end of file or at the deadline.
  std::optional<wire::frame> next(std::chrono::milliseconds timeout = frame_deadline) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (decoded_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char buffer[65536];
      ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      decoder_.feed({buffer, static_cast<std::size_t>(n)}, decoded_);
    }
    wire::frame f = std::move(decoded_.front());
    decoded_.erase(decoded_.begin());
    return f;
  }

  // Frames until the result of `task` (the frames before it, of any task, are kept in `before`).
  std::optional<wire::result_frame> result_of(std::uint64_t task, std::vector<wire::frame>* before = nullptr) {
    for (;;) {
      auto f = next();
      if (!f) return std::nullopt;
      if (f->type == wire::frame_type::result && f->task == task) return wire::decode_result(f->payload);
      if (before != nullptr) before->push_back(std::move(*f));
    }
  }

  // Runs one task and returns its result (the hello is read first if it has not been yet).
  std::optional<wire::result_frame> run(std::uint64_t id, const wire::task_frame& task) {
    if (!hello_seen_) expect_hello();
    send_task(id, task);
    return result_of(id);
  }

  wire::hello_frame expect_hello() {
    auto f = next();
    if (!f) throw std::runtime_error{"no hello"};
    if (f->type != wire::frame_type::hello) throw std::runtime_error{"first frame is not a hello"};
    hello_seen_ = true;
    return wire::decode_hello(f->payload);
  }

  void close_socket() {
    ::close(fd_);
    fd_ = -1;
  }

  // How the worker ended; kills it (and reports that as a failure) if it has not within `timeout`.
  ending wait_exit(std::chrono::milliseconds timeout = frame_deadline) {
    pollfd p{pidfd_, POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      ADD_FAILURE() << "worker " << pid_ << " did not exit within " << timeout.count() << " ms; killing it";
      ::kill(pid_, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    ending e;
    if (WIFEXITED(status)) {
      e.exited = true;
      e.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      e.signal = WTERMSIG(status);
    }
    return e;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  bool hello_seen_ = false;
  wire::decoder decoder_;
  std::vector<wire::frame> decoded_;
};

wire::task_frame task(std::string kind, std::string args = "{}") {
  wire::task_frame t;
  t.kind = std::move(kind);
  t.args = std::move(args);
  return t;
}

bool exited_with(const ending& e, int code) { return e.exited && e.code == code; }
bool killed_by(const ending& e, int signal) { return !e.exited && e.signal == signal; }

}  // namespace

TEST(WorkerProtocol, HelloComesFirstWithTheWorkersPidAndBuild) {
  worker_child w;
  wire::hello_frame hello = w.expect_hello();
  EXPECT_EQ(hello.os_pid, static_cast<std::uint32_t>(w.pid()));
  EXPECT_EQ(hello.build.rfind("respawn ", 0), 0u) << hello.build;
}

TEST(WorkerProtocol, NoopSucceedsWithNull) {
  worker_child w;
  auto r = w.run(1, task("noop"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::succeeded);
  EXPECT_EQ(r->value, "null");
}

TEST(WorkerProtocol, SumOfTenIsFiftyFive) {
  worker_child w;
  auto r = w.run(7, task("sum", R"({"n":10})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::succeeded);
  EXPECT_EQ(r->value, "55");
}

TEST(WorkerProtocol, SumOfAHundredThousandIsExact) {
  worker_child w;
  auto r = w.run(1, task("sum", R"({"n":100000})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "5000050000");
}

// A long task reports progress as it goes and stops when cancelled; `kind` runs for hours.
void expect_progress_then_cancelled(const char* kind, const char* args) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task(kind, args));
  auto f = w.next();
  ASSERT_TRUE(f) << kind << ": no progress";
  ASSERT_EQ(f->type, wire::frame_type::progress) << kind;
  double fraction = nlohmann::json::parse(f->payload).get<double>();
  EXPECT_GT(fraction, 0.0) << kind;
  EXPECT_LT(fraction, 1.0) << kind;
  w.send(wire::frame_type::cancel, 1);
  auto r = w.result_of(1);
  ASSERT_TRUE(r) << kind << ": no result after cancel";
  EXPECT_EQ(r->status, wire::task_status::cancelled) << kind;
}

TEST(WorkerProtocol, ABigSumReportsProgressAndStopsWhenCancelled) {
  expect_progress_then_cancelled("sum", R"({"n":1000000000000000})");
}

TEST(WorkerProtocol, ABigFibReportsProgressAndStopsWhenCancelled) {
  expect_progress_then_cancelled("fib", R"({"n":90})");
}

TEST(WorkerProtocol, FibIsTheFibonacciNumber) {
  worker_child w;
  auto r = w.run(1, task("fib", R"({"n":20})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "6765");
}

TEST(WorkerProtocol, ExitFromATaskIsTheWorkersExitCode) {
  worker_child w;
  EXPECT_FALSE(w.run(1, task("exit_code", R"({"code":3})")));
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, 3)) << e;
}

TEST(WorkerProtocol, AThrowingHandlerFailsOnlyItsTaskWithTheDemangledExceptionType) {
  worker_child w;
  auto r = w.run(1, task("sum", R"({"n":13})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::failed);
  EXPECT_EQ(r->value, "std::domain_error: 13 is unlucky");
  // The worker lives on.
  auto next = w.run(2, task("sum", R"({"n":3})"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->value, "6");
}

TEST(WorkerProtocol, ArgumentsThatAreNotJsonFailTheTaskClearly) {
  worker_child w;
  auto r = w.run(1, task("echo_args", "{not json"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::failed);
  EXPECT_EQ(r->value.rfind("std::invalid_argument: the task's arguments are not valid JSON", 0), 0u) << r->value;
  auto echoed = w.run(2, task("echo_args", R"({"a":[1,2]})"));
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->value, R"({"a":[1,2]})");
}

TEST(WorkerProtocol, AnUnknownKindIsAnsweredAsSuch) {
  worker_child w;
  auto r = w.run(1, task("no_such_kind"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::unknown_kind);
  EXPECT_EQ(r->value, "unknown kind no_such_kind");
}

TEST(WorkerProtocol, AThousandPipelinedTasksInOneWriteComeBackInOrder) {
  worker_child w;
  w.expect_hello();
  std::string batch;
  std::string noop = wire::encode(task("noop"));
  for (std::uint64_t id = 1; id <= 1000; ++id) wire::append_frame(batch, wire::frame_type::task, id, noop);
  w.send_raw(batch);
  for (std::uint64_t id = 1; id <= 1000; ++id) {
    auto f = w.next();
    ASSERT_TRUE(f) << "no result for task " << id;
    ASSERT_EQ(f->type, wire::frame_type::result);
    ASSERT_EQ(f->task, id);
    EXPECT_EQ(wire::decode_result(f->payload).status, wire::task_status::succeeded);
  }
}

TEST(WorkerProtocol, PingIsAnsweredWhileATaskLoops) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task("loop"));
  for (std::uint64_t n = 1; n <= 3; ++n) {
    w.send(wire::frame_type::ping, 100 + n);
    auto f = w.next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type, wire::frame_type::pong);
    EXPECT_EQ(f->task, 100 + n);
  }
}

// The pool's recall (issue 13): a task still queued behind the running one is given back
// (result `recalled`, it never runs); the running one is not (recall_refused; it runs on).
TEST(WorkerProtocol, RecallGivesBackAQueuedTaskButNotTheRunningOne) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task("started_then_deaf"));
  auto started = w.next();
  ASSERT_TRUE(started);
  ASSERT_EQ(started->type, wire::frame_type::progress) << "task 1 did not start";
  w.send_task(2, task("noop"));
  w.send(wire::frame_type::recall, 2);
  auto back = w.next();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, wire::frame_type::result);
  EXPECT_EQ(back->task, 2u);
  EXPECT_EQ(wire::decode_result(back->payload).status, wire::task_status::recalled);
  w.send(wire::frame_type::recall, 1);
  auto refused = w.next();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->type, wire::frame_type::recall_refused);
  EXPECT_EQ(refused->task, 1u);
  // Task 2 is gone for good: a recall of it again is refused, and no result of it comes.
  w.send(wire::frame_type::recall, 2);
  auto again = w.next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->type, wire::frame_type::recall_refused);
  EXPECT_EQ(again->task, 2u);
}

TEST(WorkerProtocol, CancelStopsTheRunningTask) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task("sleep", R"({"ms":60000})"));
  // Running or (rarely) still queued when the cancel arrives, the answer is the same; the big sum
  // and fib tests above cancel tasks known to be running (they have reported progress).
  w.send(wire::frame_type::cancel, 1);
  auto r = w.result_of(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::cancelled);
  EXPECT_EQ(r->value, "");
}

TEST(WorkerProtocol, CancelOfAQueuedTaskAnswersAtOnceAndItNeverRuns) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task("sleep", R"({"ms":60000})"));
  w.send_task(2, task("fail"));
  w.send(wire::frame_type::cancel, 2);
  auto queued = w.result_of(2);
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->status, wire::task_status::cancelled);
  w.send(wire::frame_type::cancel, 1);
  auto running = w.result_of(1);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, wire::task_status::cancelled);
  // Task 2 never ran: the next result is the next task's.
  auto after = w.run(3, task("noop"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, wire::task_status::succeeded);
}

TEST(WorkerProtocol, ProgressOutputAndSnapshotComeBeforeTheResult) {
  worker_child w;
  w.expect_hello();
  w.send_task(5, task("progress_then_result"));
  std::vector<wire::frame> before;
  auto r = w.result_of(5, &before);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::succeeded);
  EXPECT_EQ(r->value, "null");  // a fresh start: nothing restored
  ASSERT_EQ(before.size(), 3u);
  EXPECT_EQ(before[0].type, wire::frame_type::progress);
  EXPECT_EQ(before[0].payload, "0.5");
  EXPECT_EQ(before[1].type, wire::frame_type::output);
  EXPECT_EQ(before[1].payload, R"({"x":1})");
  EXPECT_EQ(before[2].type, wire::frame_type::snapshot);
  EXPECT_EQ(before[2].payload, R"({"s":2})");
  for (const auto& f : before) EXPECT_EQ(f.task, 5u);
}

TEST(WorkerProtocol, ARestoredSnapshotReachesTheHandler) {
  worker_child w;
  wire::task_frame t = task("progress_then_result");
  t.snapshot = R"({"s":41})";
  auto r = w.run(1, t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, R"({"s":41})");
}

TEST(WorkerProtocol, TheAttemptNumberReachesTheHandler) {
  worker_child w;
  wire::task_frame t = task("attempt");
  t.attempt = 3;
  auto r = w.run(1, t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "3");
}

TEST(WorkerProtocol, CounterResumesFromItsSnapshotAndAbortsPast255) {
  worker_child w;
  wire::task_frame t = task("counter", R"({"to":300,"snapshot_every":10})");
  t.snapshot = R"({"value":240})";
  w.expect_hello();
  w.send_task(1, t);
  std::vector<wire::frame> before;
  EXPECT_FALSE(w.result_of(1, &before));  // no result: the worker died
  std::vector<std::string> snapshots;
  for (const auto& f : before) {
    if (f.type == wire::frame_type::snapshot) snapshots.push_back(f.payload);
  }
  EXPECT_EQ(snapshots, (std::vector<std::string>{R"({"value":250})"}));
  EXPECT_TRUE(killed_by(w.wait_exit(), SIGABRT));
}

TEST(WorkerProtocol, GarbageFromTheNodeEndsTheWorkerWithExitProtocol) {
  worker_child w;
  w.expect_hello();
  w.send_raw(std::string(64, '\xff'));
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_protocol)) << e;
}

TEST(WorkerProtocol, AFrameOnlyAWorkerSendsEndsTheWorkerWithExitProtocol) {
  worker_child w;
  w.expect_hello();
  w.send(wire::frame_type::result, 1, wire::encode(wire::result_frame{}));
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_protocol)) << e;
}

TEST(WorkerProtocol, AMalformedTaskRecordEndsTheWorkerWithExitProtocol) {
  worker_child w;
  w.expect_hello();
  w.send(wire::frame_type::task, 1, "xy");
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_protocol)) << e;
}

TEST(WorkerProtocol, ClosingTheSocketStopsTheWorkerCleanly) {
  worker_child w;
  w.expect_hello();
  w.close_socket();
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_ok)) << e;
}

TEST(WorkerProtocol, ClosingTheSocketStopsABusyWorkerCleanly) {
  worker_child w;
  w.expect_hello();
  w.send_task(1, task("loop"));
  w.close_socket();
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_ok)) << e;
}

TEST(WorkerProtocol, CrashSegvKillsTheWorkerBySigsegv) {
  worker_child w;
  EXPECT_FALSE(w.run(1, task("crash", R"({"signal":"SEGV"})")));
  ending e = w.wait_exit();
  EXPECT_TRUE(killed_by(e, SIGSEGV)) << e;
}

TEST(WorkerProtocol, CrashAbrtKillsTheWorkerBySigabrt) {
  worker_child w;
  EXPECT_FALSE(w.run(1, task("crash", R"({"signal":"ABRT"})")));
  ending e = w.wait_exit();
  EXPECT_TRUE(killed_by(e, SIGABRT)) << e;
}

TEST(WorkerProtocol, ATaskPastItsMemoryLimitEndsTheWorkerWithExitMemoryLimit) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RLIMIT_AS cannot work under ASan/TSan: their shadow memory reserves terabytes of "
                  "address space";
#else
  worker_child w;
  w.expect_hello();
  // Within its limit first: it succeeds, and the limit is lifted afterwards.
  wire::task_frame small = task("oom", R"({"mb":64})");
  small.memory_limit_mb = 256;
  w.send_task(1, small);
  auto r = w.result_of(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, wire::task_status::succeeded) << r->value;
  EXPECT_EQ(r->value, R"({"allocated_mb":64})");

  wire::task_frame big = task("oom", R"({"mb":4096})");
  big.memory_limit_mb = 256;
  w.send_task(2, big);
  EXPECT_FALSE(w.result_of(2));
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_memory_limit)) << e;
#endif
}

TEST(WorkerProtocol, ATaskPastItsCpuLimitIsKilledBySigxcpu) {
  worker_child w;
  wire::task_frame t = task("loop");
  t.cpu_limit_s = 1;
  EXPECT_FALSE(w.run(1, t));
  ending e = w.wait_exit();
  EXPECT_TRUE(killed_by(e, SIGXCPU)) << e;
}

TEST(WorkerProtocol, AWorkerWhoseNodeIsNotItsParentExitsOrphaned) {
  worker_child w{::getppid()};
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_orphaned)) << e;
}

TEST(WorkerProtocol, ABadCommandLineExitsWithUsage) {
  worker_child w{std::nullopt, {"worker", "--fd", "three"}};
  ending e = w.wait_exit();
  EXPECT_TRUE(exited_with(e, wire::exit_usage)) << e;
}
