// Fuzz target: the client's Server-Sent Events parser (src/client/sse_parser.*), which reads
// whatever the server, or anything between client and server, sends. The first byte picks a
// piece size: the stream is fed whole to one parser and in pieces to another, and both must
// dispatch the same events and end with the same last event id (a stream may be cut anywhere).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "sse_parser.hpp"

namespace {

bool same(const std::vector<respawn::client::sse_event>& a, const std::vector<respawn::client::sse_event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].type != b[i].type || a[i].data != b[i].data) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  respawn::client::sse_parser whole;
  auto whole_events = whole.feed(text);

  respawn::client::sse_parser pieces;
  std::vector<respawn::client::sse_event> piece_events;
  for (std::size_t at = 0; at < text.size(); at += piece) {
    auto got = pieces.feed(text.substr(at, piece));
    piece_events.insert(piece_events.end(), got.begin(), got.end());
  }
  if (!same(whole_events, piece_events)) std::abort();
  if (whole.last_event_id() != pieces.last_event_id()) std::abort();
  if (whole.retry_ms() != pieces.retry_ms()) std::abort();
  for (const auto& e : whole_events) {
    if (e.type.empty()) std::abort();  // "message" when the stream names none
  }
  return 0;
}
