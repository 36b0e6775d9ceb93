// worker_main: a `respawn worker` process, the place where job kinds run, cut off from the node
// so that a crash, a hang or a runaway allocation ends only this process.
//
// Three threads, so that no one of them ever waits for another's slow work:
//   reader    blocking reads on the socket; answers ping at once (the heartbeat must not wait for
//             a task), queues tasks, handles cancels and recalls, and ends the worker on end of file (the
//             node asked us to go, or died), a read error or a malformed frame.
//   writer    outbox::run_writer: puts the pongs and progress reports on the socket, batched.
//   executor  this (main) thread: runs the queued tasks one at a time, in order, each under its
//             limits, and writes each result (with whatever is pending before it) before it
//             starts the next task, so that a crash is always blamed on the task that ran.
// Nothing here ever returns to the caller: the worker ends with _exit and a reserved code
// (exit_codes.hpp) or by a signal, and the node turns either into the owner's exit reason.
#include "worker_main.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>
#include <malloc.h>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <thread>
#include <typeinfo>
#include <unistd.h>
#include <vector>

#include "exit_codes.hpp"
#include "frame.hpp"
#include "outbox.hpp"
#include "resource_limits.hpp"
#include "task_queue.hpp"
#include "worker_task_context.hpp"

namespace respawn {
namespace detail {
namespace {

// RLIMIT_AS means nothing under ASan or TSan (their shadow memory): no default memory limit there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool address_space_limits_work = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool address_space_limits_work = false;
#else
constexpr bool address_space_limits_work = true;
#endif
#else
constexpr bool address_space_limits_work = true;
#endif

// Set by run_worker before any other thread starts; read by the executor only.
worker_setup worker_defaults;

// Lowers the soft and hard limits of `resource` to `value` (never raises them).
void cap(int resource, rlim_t value, const char* what) {
  rlimit r{};
  if (::getrlimit(resource, &r) != 0) return;
  if (r.rlim_max != RLIM_INFINITY && r.rlim_max < value) value = r.rlim_max;
  r.rlim_cur = value;
  r.rlim_max = value;
  if (::setrlimit(resource, &r) != 0) std::fprintf(stderr, "respawn worker: cannot set %s: %s\n", what, std::strerror(errno));
}

[[noreturn]] void protocol_error(const std::string& what) {
  std::fprintf(stderr, "respawn worker %d: protocol error from the node: %s\n", ::getpid(), what.c_str());
  ::_exit(wire::exit_protocol);
}

// An allocation failed outside a handler (reader, writer, result encoding). Under a task's memory
// limit that is the task's doing and is reported as such; otherwise the machine is out of
// memory and crashing is all that is left.
[[noreturn]] void out_of_memory() {
  if (memory_limit_in_force().load()) ::_exit(wire::exit_memory_limit);
  std::fputs("respawn worker: out of memory\n", stderr);
  std::abort();
}

// "TYPE: what()" for the exception being handled; call only inside a catch block.
std::string describe_current_exception() {
  std::string type = "unknown exception type";
  if (const std::type_info* info = abi::__cxa_current_exception_type()) {
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> name{abi::__cxa_demangle(info->name(), nullptr, nullptr, &status),
                                                     &std::free};
    type = status == 0 && name ? name.get() : info->name();
  }
  try {
    throw;
  } catch (const std::exception& e) {
    return type + ": " + e.what();
  } catch (...) {
    return type + ": (not a std::exception)";
  }
}

// On the socket before the next task starts: were it still pending when that task crashed the
// worker, the node would blame the crash on this (finished) task, the first it has no result for.
void send_result(outbox& out, std::uint64_t id, const wire::result_frame& result) {
  out.send_now(wire::frame_type::result, id, wire::encode(result));
}

// Runs one task to its result. A handler's exception fails only the task; a bad_alloc under a
// memory limit ends the worker with exit_memory_limit, because after the limit was hit the heap
// may be in any state a handler left it in, and the node must report the limit, not a failure.
void run_task(const queued_task& queued, const kind_registry& kinds, outbox& out,
              const std::atomic<bool>& cancelled) {
  const wire::task_frame& task = queued.task;
  const kind_handler* handler = kinds.find(task.kind);
  if (handler == nullptr) {
    send_result(out, queued.id, {wire::task_status::unknown_kind, "unknown kind " + task.kind});
    return;
  }
  wire::result_frame result;
  // Outside the try: the limits must still be known to be in force when the bad_alloc is caught,
  // and be lifted before the result (which allocates) is posted.
  std::optional<resource_limits> limits;
  try {
    try {
      limits.emplace(task.memory_limit_mb != 0 ? task.memory_limit_mb : worker_defaults.task_memory_mb,
                     task.cpu_limit_s != 0 ? task.cpu_limit_s : worker_defaults.task_cpu_seconds);
      worker_task_context context{queued.id, task, out, cancelled};
      nlohmann::json value = (*handler)(context);
      result.value = value.dump();
      check_frame_size(result.value, "a result");
      result.status = wire::task_status::succeeded;
    } catch (const std::bad_alloc&) {
      if (limits && limits->memory_limited()) ::_exit(wire::exit_memory_limit);
      result = {wire::task_status::failed, describe_current_exception()};
    } catch (...) {
      result = {wire::task_status::failed, describe_current_exception()};
    }
  } catch (const std::bad_alloc&) {
    // Describing the failure ran out of memory too.
    if (limits && limits->memory_limited()) ::_exit(wire::exit_memory_limit);
    throw;
  }
  limits.reset();
  // A handler that saw cancelled() and returned (or threw on its way out) was cancelled, whatever
  // it returned.
  if (cancelled.load(std::memory_order_relaxed)) result = {wire::task_status::cancelled, ""};
  send_result(out, queued.id, result);
}

void handle_frame(wire::frame& f, task_queue& tasks, outbox& out) {
  switch (f.type) {
    case wire::frame_type::ping:
      if (!f.payload.empty()) protocol_error("a ping with a payload");
      out.post(wire::frame_type::pong, f.task, {});
      return;
    case wire::frame_type::cancel:
      if (!f.payload.empty()) protocol_error("a cancel with a payload");
      if (tasks.cancel(f.task) == task_queue::cancel_outcome::dropped_from_queue) {
        out.post(wire::frame_type::result, f.task, wire::encode(wire::result_frame{wire::task_status::cancelled, ""}));
      }
      return;
    case wire::frame_type::recall:
      // Only a node that knows the answers sends a recall (frame.hpp: compatibility).
      if (!f.payload.empty()) protocol_error("a recall with a payload");
      if (tasks.recall(f.task)) {
        out.post(wire::frame_type::result, f.task, wire::encode(wire::result_frame{wire::task_status::recalled, ""}));
      } else {
        out.post(wire::frame_type::recall_refused, f.task, {});
      }
      return;
    case wire::frame_type::task: {
      queued_task queued{f.task, {}};
      try {
        queued.task = wire::decode_task(f.payload);
      } catch (const wire::malformed_frame& e) {
        protocol_error(e.what());
      }
      if (!tasks.push(std::move(queued))) {
        protocol_error("more than " + std::to_string(task_queue::max_queued) + " tasks queued");
      }
      return;
    }
    default:
      protocol_error(std::string{"a frame of type "} + wire::to_string(f.type) + ", which only a worker sends");
  }
}

[[noreturn]] void run_reader(int fd, task_queue& tasks, outbox& out) {
  try {
    wire::decoder decoder;
    std::vector<wire::frame> frames;
    auto buffer = std::make_unique<std::array<char, 64 * 1024>>();
    for (;;) {
      ssize_t n = ::read(fd, buffer->data(), buffer->size());
      if (n < 0 && errno == EINTR) continue;
      // ECONNRESET is how a socket reports a peer that closed with our frames still unread in its
      // queue: a node that stops a busy worker. It is the same clean stop as end of file.
      if (n == 0 || (n < 0 && errno == ECONNRESET)) ::_exit(wire::exit_ok);
      if (n < 0) {
        std::perror("respawn worker: reading from the node");
        ::_exit(wire::exit_socket);
      }
      frames.clear();
      try {
        decoder.feed({buffer->data(), static_cast<std::size_t>(n)}, frames);
      } catch (const wire::malformed_frame& e) {
        protocol_error(e.what());
      }
      for (auto& f : frames) handle_frame(f, tasks, out);
    }
  } catch (const std::bad_alloc&) {
    out_of_memory();
  }
}

}  // namespace

void run_worker(int fd, pid_t parent_pid, const kind_registry& kinds, const worker_setup& setup) {
  // Die with the node. Armed first, then the parent is checked: a node that died before this line
  // left us reparented, and the death signal would never come.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (parent_pid > 0 && ::getppid() != parent_pid) {
    std::fprintf(stderr, "respawn worker: the node (pid %d) is gone\n", static_cast<int>(parent_pid));
    ::_exit(wire::exit_orphaned);
  }
  // A write to a node that closed its end must be an error we see (EPIPE), not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  // The limits this worker relies on must reach it whatever mask and dispositions the node's
  // spawning thread had: SIGXCPU ends a task past its CPU limit, SIGTERM is the node's polite stop.
  std::signal(SIGXCPU, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  // glibc gives each thread an arena of up to 64 MiB of address space; two keep the address
  // space small enough for RLIMIT_AS (resource_limits.hpp) to mean what the task allocates.
  ::mallopt(M_ARENA_MAX, 2);
  // The node's limits for this worker (docs/workers.md). Hard limits too: job code cannot raise
  // them back. A write past the file size limit fails with EFBIG instead of killing the worker.
  worker_defaults = setup;
  if (!address_space_limits_work) worker_defaults.task_memory_mb = 0;
  if (setup.max_open_files > 0) cap(RLIMIT_NOFILE, setup.max_open_files, "RLIMIT_NOFILE");
  if (setup.max_file_size_mb > 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    cap(RLIMIT_FSIZE, static_cast<rlim_t>(setup.max_file_size_mb) * 1024 * 1024, "RLIMIT_FSIZE");
  }

  // Never destroyed: the threads that use them are never joined, and a task that calls exit()
  // runs static destructors while they may still be waiting on these mutexes.
  static outbox* const out = new outbox{fd};
  static task_queue* const tasks = new task_queue;
  // The hello is written before any other thread starts: it is always first, and it is on the
  // wire before the first task can run (a task may do anything to the socket).
  out->send_now(wire::frame_type::hello, 0,
            wire::encode(wire::hello_frame{static_cast<std::uint32_t>(::getpid()), build_id()}));
  std::thread{[] { out->run_writer(); }}.detach();
  std::thread{[fd] { run_reader(fd, *tasks, *out); }}.detach();

  try {
    for (;;) {
      queued_task next = tasks->pop();
      run_task(next, kinds, *out, tasks->cancelled_flag());
      tasks->finished();
    }
  } catch (const std::bad_alloc&) {
    out_of_memory();
  }
}

}  // namespace detail

int worker_main(int fd, const kind_registry& kinds) { detail::run_worker(fd, 0, kinds); }

}  // namespace respawn
