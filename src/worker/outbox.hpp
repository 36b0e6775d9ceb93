// outbox: everything a worker sends its node goes through here, in order, without ever making the
// reader wait on the socket.
//
// Frames are appended whole to one pending buffer under a mutex. Whoever writes takes the whole
// buffer at once (a swap) and writes it while holding the write lock, so frames leave in the
// order they were appended and those appended during a write leave together in the next one
// (batching for free). Two ways to send:
//
//   post / post_bounded  asynchronous: the writer thread is woken (only if it sleeps) and writes.
//                        For pongs (the reader must never block on the socket, or the heartbeat
//                        would wait behind a full socket) and progress reports.
//   send_now             the caller writes everything pending, its own frame last, before it
//                        returns. For results, outputs and snapshots: a worker can die at any
//                        instant (that is what it is for), and a frame still pending then is
//                        lost. A lost result would make the node blame the next task's crash on
//                        a task that had finished, and a lost snapshot would make save_snapshot a
//                        lie; so the executor starts no task, and a handler goes on after no
//                        output or snapshot, before it is on the socket. It costs one write() per
//                        result, no thread hand-off.
//
// Bound: asynchronous frames from the executor (progress) wait while pending_bound bytes are
// already pending, so a task that reports faster than the node reads is slowed down, not allowed
// to eat the memory; pongs (16 bytes, one per ping the node sent) never wait. The buffer holds at
// most pending_bound + one frame + the pongs, and one more such batch is being written.
#pragma once

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unistd.h>

#include "exit_codes.hpp"
#include "frame.hpp"

namespace respawn::detail {

class outbox {
 public:
  static constexpr std::size_t pending_bound = wire::max_payload;

  explicit outbox(int fd) : fd_{fd} {}

  // thread-safe. Appends one frame for the writer thread; never waits (for the reader: pong).
  void post(wire::frame_type type, std::uint64_t task, std::string_view payload) {
    std::unique_lock lock{mutex_};
    append_and_wake(lock, type, task, payload);
  }

  // thread-safe. As post, once fewer than pending_bound bytes are pending (for progress).
  void post_bounded(wire::frame_type type, std::uint64_t task, std::string_view payload) {
    std::unique_lock lock{mutex_};
    drained_.wait(lock, [&] { return pending_.size() < pending_bound; });
    append_and_wake(lock, type, task, payload);
  }

  // thread-safe. Appends one frame and returns once it, and everything before it, is written.
  void send_now(wire::frame_type type, std::uint64_t task, std::string_view payload) {
    {
      std::lock_guard lock{mutex_};
      wire::append_frame(pending_, type, task, payload);
    }
    // No wake-up: we write it ourselves (a woken writer would find nothing to do).
    std::lock_guard write_lock{write_mutex_};
    write_pending();
  }

  // Runs on the writer thread until a write fails; ends the process then.
  [[noreturn]] void run_writer() {
    for (;;) {
      {
        std::unique_lock lock{mutex_};
        writer_sleeping_ = true;
        wake_writer_.wait(lock, [&] { return !pending_.empty(); });
        writer_sleeping_ = false;
      }
      std::lock_guard write_lock{write_mutex_};
      write_pending();
    }
  }

 private:
  void append_and_wake(std::unique_lock<std::mutex>& lock, wire::frame_type type, std::uint64_t task,
                       std::string_view payload) {
    wire::append_frame(pending_, type, task, payload);
    bool wake = writer_sleeping_;
    lock.unlock();
    if (wake) wake_writer_.notify_one();
  }

  // Caller holds write_mutex_: takes everything pending and writes it.
  void write_pending() {
    {
      std::lock_guard lock{mutex_};
      // Swapping keeps both buffers' capacity: no allocation once the worker is warm.
      in_flight_.swap(pending_);
      pending_.clear();
    }
    drained_.notify_all();
    std::string_view bytes = in_flight_;
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      // The peer closed its end: the node asked us to go (or died) while we were writing. That
      // is the same event as the reader's end of file, and must end the same way, or a clean stop
      // that races with a result would be reported as a socket failure.
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) ::_exit(wire::exit_ok);
      ::_exit(wire::exit_socket);
    }
  }

  const int fd_;
  // Lock order: write_mutex_, then mutex_.
  std::mutex write_mutex_;  // held from taking the pending bytes until they are all written
  std::string in_flight_;   // guarded by write_mutex_
  std::mutex mutex_;
  std::condition_variable wake_writer_;  // pending_ became non-empty while the writer slept
  std::condition_variable drained_;      // the pending bytes were taken
  std::string pending_;                  // whole frames, guarded by mutex_
  bool writer_sleeping_ = false;         // guarded by mutex_
};

}  // namespace respawn::detail
