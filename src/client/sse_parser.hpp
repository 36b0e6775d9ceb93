// sse_parser: Server-Sent Events (the WHATWG "event stream" format) read incrementally, since a
// stream arrives in pieces that cut lines, and even a CR LF pair, anywhere. It keeps the last
// event id, which the client sends back as Last-Event-ID when it reconnects after a drop.
//
// What a server sends is not trusted to be small: a line, and an event's data, are bounded
// (`max_bytes`, 1 MiB by default). Past it the parser stops with an error instead of growing
// without bound (review F29): a broken or hostile server, or a proxy, cannot exhaust the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace respawn::client {

struct sse_event {
  std::string id;       // the last event id at dispatch (empty if the stream never set one)
  std::string type;     // the `event:` field, "message" if none
  std::string data;     // `data:` lines joined with "\n"
};

class sse_parser {
 public:
  static constexpr std::size_t default_max_bytes = 1 << 20;

  explicit sse_parser(std::size_t max_bytes = default_max_bytes) : max_bytes_{max_bytes} {}

  // Feeds the next piece of the stream; returns the events it completes, in order. Once error()
  // is set it reads nothing more.
  std::vector<sse_event> feed(std::string_view piece);
  // The last event id the stream set, if any (as sent in Last-Event-ID).
  const std::optional<std::string>& last_event_id() const { return last_event_id_; }
  // The reconnection delay the stream asked for (`retry:` field), in ms. A value too large for
  // the type is ignored, as any other invalid one.
  std::optional<std::int64_t> retry_ms() const { return retry_ms_; }
  // Why the parser stopped: a line or an event's data longer than max_bytes.
  const std::optional<std::string>& error() const { return error_; }

 private:
  void line(std::string_view text, std::vector<sse_event>& out);
  void fail(std::string why);

  std::size_t max_bytes_;
  std::string line_{};
  bool after_cr_ = false;     // the previous piece ended in CR: a LF now ends nothing
  bool started_ = false;      // a leading byte order mark has been checked for
  std::string data_{};
  std::string type_{};
  std::string id_buffer_{};
  bool id_set_ = false;
  std::optional<std::string> last_event_id_{};
  std::optional<std::int64_t> retry_ms_{};
  std::optional<std::string> error_{};
};

}  // namespace respawn::client
