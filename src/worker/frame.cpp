// frame.cpp: encoding and decoding of the node <-> worker frames (see frame.hpp for the format).
// Written by hand rather than with a serialization library: the records are four small structs,
// the format must stay byte-stable across builds for hot code upgrade, and the hot path (a no-op
// task) must not allocate more than its payload string.
#include "frame.hpp"

#include <cstring>

namespace respawn::wire {

namespace {

void put_u16(std::string& out, std::uint16_t v) {
  char b[2] = {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  out.append(b, 2);
}
void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}
void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::uint64_t load_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Reads fields off a payload; any overrun or leftover is a malformed frame.
class reader {
 public:
  explicit reader(std::string_view s) : s_{s} {}
  std::uint64_t uint(int n) {
    need(static_cast<std::size_t>(n));
    auto v = load_le(s_.data() + pos_, n);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  std::string str() {
    auto n = static_cast<std::size_t>(uint(4));
    need(n);
    std::string v{s_.substr(pos_, n)};
    pos_ += n;
    return v;
  }
  void end() const {
    if (pos_ != s_.size()) throw malformed_frame{"trailing bytes in a frame payload"};
  }

 private:
  void need(std::size_t n) const {
    if (s_.size() - pos_ < n) throw malformed_frame{"truncated frame payload"};
  }
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

bool known_type(std::uint8_t t) noexcept {
  switch (static_cast<frame_type>(t)) {
    case frame_type::task:
    case frame_type::cancel:
    case frame_type::ping:
    case frame_type::recall:
    case frame_type::recall_refused:
    case frame_type::hello:
    case frame_type::result:
    case frame_type::progress:
    case frame_type::output:
    case frame_type::snapshot:
    case frame_type::pong:
      return true;
  }
  return false;
}

const char* to_string(frame_type t) noexcept {
  switch (t) {
    case frame_type::task: return "task";
    case frame_type::cancel: return "cancel";
    case frame_type::ping: return "ping";
    case frame_type::hello: return "hello";
    case frame_type::result: return "result";
    case frame_type::progress: return "progress";
    case frame_type::output: return "output";
    case frame_type::snapshot: return "snapshot";
    case frame_type::pong: return "pong";
    case frame_type::recall: return "recall";
    case frame_type::recall_refused: return "recall_refused";
  }
  return "unknown";
}

void append_frame(std::string& out, frame_type type, std::uint64_t task, std::string_view payload) {
  out.reserve(out.size() + header_size + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  out.push_back(static_cast<char>(protocol_version));
  out.push_back(static_cast<char>(type));
  put_u16(out, 0);
  put_u64(out, task);
  out.append(payload);
}

std::string encode(const task_frame& t) {
  std::string out;
  out.reserve(24 + t.kind.size() + t.args.size() + t.snapshot.size());
  put_str(out, t.kind);
  put_u32(out, t.attempt);
  put_u32(out, t.memory_limit_mb);
  put_u32(out, t.cpu_limit_s);
  put_str(out, t.args);
  put_str(out, t.snapshot);
  return out;
}

std::string encode(const result_frame& r) {
  std::string out;
  out.reserve(5 + r.value.size());
  out.push_back(static_cast<char>(r.status));
  put_str(out, r.value);
  return out;
}

std::string encode(const hello_frame& h) {
  std::string out;
  put_u32(out, h.os_pid);
  put_str(out, h.build);
  return out;
}

task_frame decode_task(std::string_view payload) {
  reader r{payload};
  task_frame t;
  t.kind = r.str();
  t.attempt = static_cast<std::uint32_t>(r.uint(4));
  t.memory_limit_mb = static_cast<std::uint32_t>(r.uint(4));
  t.cpu_limit_s = static_cast<std::uint32_t>(r.uint(4));
  t.args = r.str();
  t.snapshot = r.str();
  r.end();
  return t;
}

result_frame decode_result(std::string_view payload) {
  reader r{payload};
  result_frame out;
  auto status = r.uint(1);
  if (status > static_cast<std::uint64_t>(task_status::recalled)) {
    throw malformed_frame{"unknown task status " + std::to_string(status)};
  }
  out.status = static_cast<task_status>(status);
  out.value = r.str();
  r.end();
  return out;
}

hello_frame decode_hello(std::string_view payload) {
  reader r{payload};
  hello_frame h;
  h.os_pid = static_cast<std::uint32_t>(r.uint(4));
  h.build = r.str();
  r.end();
  return h;
}

void decoder::feed(std::string_view bytes, std::vector<frame>& out) {
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  buffer_.append(bytes);
  for (;;) {
    std::size_t avail = buffer_.size() - start_;
    if (avail < header_size) break;
    const char* h = buffer_.data() + start_;
    auto length = static_cast<std::uint32_t>(load_le(h, 4));
    auto version = static_cast<std::uint8_t>(h[4]);
    auto type = static_cast<std::uint8_t>(h[5]);
    auto flags = static_cast<std::uint16_t>(load_le(h + 6, 2));
    if (version != protocol_version) {
      throw malformed_frame{"frame of protocol version " + std::to_string(version) + ", expected " +
                            std::to_string(protocol_version)};
    }
    if (!known_type(type)) throw malformed_frame{"unknown frame type " + std::to_string(type)};
    if (flags != 0) throw malformed_frame{"non-zero reserved flags in a frame"};
    if (length > max_payload) {
      throw malformed_frame{"frame of " + std::to_string(length) + " bytes, over the limit of " +
                            std::to_string(max_payload)};
    }
    if (avail < header_size + length) break;
    frame f;
    f.type = static_cast<frame_type>(type);
    f.task = load_le(h + 8, 8);
    f.payload.assign(h + header_size, length);
    out.push_back(std::move(f));
    start_ += header_size + length;
  }
  // Compact once the consumed prefix dominates, so a long stream does not grow the buffer.
  if (start_ > 0 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
}

}  // namespace respawn::wire
