// frame: the wire format between the node and a `respawn worker` process over their socketpair.
//
// Every frame is a fixed 16-byte header followed by `length` payload bytes:
//
//   u32 length   payload bytes (little-endian), at most max_payload
//   u8  version  protocol_version; anything else is a malformed frame
//   u8  type     frame_type
//   u16 flags    0 (reserved; non-zero is malformed)
//   u64 task     the task the frame is about (0 when none)
//
// Payloads are short binary records (put/get below) whose JSON parts are kept as text: the node
// never parses a task's arguments or result, and the worker parses arguments only when the
// handler asks for them, so a no-op task costs no JSON work at all.
//
// A reader that finds a malformed frame stops reading that peer: the node ends that worker (never
// itself), the worker exits. Many frames may sit in one read or one write (batching is free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace respawn::wire {

inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::size_t header_size = 16;
inline constexpr std::uint32_t max_payload = 16u << 20;  // 16 MiB

enum class frame_type : std::uint8_t {
  // node -> worker
  task = 1,    // task_frame
  cancel = 2,  // (empty) ask the running task `task` to stop; it sees cancelled()
  ping = 3,    // (empty) heartbeat; the worker answers pong at once, even while a task runs
  recall = 4,  // (empty) give task `task` back if it has not started: the worker answers a result
               // of status `recalled` if it dropped it from its queue, recall_refused otherwise
  // worker -> node
  hello = 64,     // hello_frame, the worker's first frame
  result = 65,    // result_frame: task `task` ended
  progress = 66,  // JSON text: the task's progress report
  output = 67,    // JSON text: an output the task emitted
  snapshot = 68,  // JSON text: the task's latest recovery snapshot
  pong = 69,      // (empty) answer to ping
  recall_refused = 70,  // (empty) answer to a recall of a task that is not queued (it runs or ended)
};
// Compatibility across a hot upgrade: the node keeps its code while new workers start from the
// new file, so a worker never sends a frame type (or result status) newer than the protocol's
// first version unless the node asked for it: `recalled` and recall_refused only answer a recall,
// which only a node that knows them sends.

bool known_type(std::uint8_t t) noexcept;
const char* to_string(frame_type t) noexcept;

struct frame {
  frame_type type{};
  std::uint64_t task = 0;
  std::string payload{};
};

// What a worker is asked to run. Limits of 0 mean "none".
struct task_frame {
  std::string kind{};
  std::uint32_t attempt = 1;
  std::uint32_t memory_limit_mb = 0;   // the worker caps its address space while the task runs
  std::uint32_t cpu_limit_s = 0;       // the worker caps its CPU time (SIGXCPU past it)
  std::string args{"{}"};              // JSON text
  std::string snapshot{};              // JSON text of the snapshot to restore from; "" for none
};

enum class task_status : std::uint8_t {
  succeeded = 0,  // value: the handler's result (JSON text)
  failed = 1,     // value: the escaped exception as "TYPE: what()"
  cancelled = 2,  // value: "" (the handler returned after cancelled() became true)
  unknown_kind = 3,
  recalled = 4,  // value: "" (dropped from the worker's queue on a recall; it never started)
};
struct result_frame {
  task_status status = task_status::succeeded;
  std::string value{};
};

struct hello_frame {
  std::uint32_t os_pid = 0;
  std::string build{};  // the worker binary's build identity (respawn::build_id())
};

// Encoding: appends one whole frame to `out`.
void append_frame(std::string& out, frame_type type, std::uint64_t task, std::string_view payload);
std::string encode(const task_frame& t);
std::string encode(const result_frame& r);
std::string encode(const hello_frame& h);

class malformed_frame : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Decoding a payload throws malformed_frame if it does not hold exactly one record.
task_frame decode_task(std::string_view payload);
result_frame decode_result(std::string_view payload);
hello_frame decode_hello(std::string_view payload);

// Splits a byte stream into frames: feed() what was read, then take whole frames out.
// A malformed header makes feed() throw malformed_frame; the decoder is then unusable.
class decoder {
 public:
  // Appends `bytes`, moves every complete frame into `out`.
  void feed(std::string_view bytes, std::vector<frame>& out);
  std::size_t buffered() const noexcept { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
};

}  // namespace respawn::wire
