// Fuzz target: the node <-> worker wire format (src/worker/frame.*). The node reads frames from
// worker processes, which run job code and may be buggy or hostile; a malformed frame must end
// that worker only (malformed_frame), never the node. The first byte picks a piece size: the
// bytes are decoded whole and in pieces, and both must yield the same frames and the same verdict.
// Every payload that decodes as a record must encode back to the very same bytes (the format is
// byte-stable across builds for hot code upgrade).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "frame.hpp"

namespace wire = respawn::wire;

namespace {

struct decoded {
  std::vector<wire::frame> frames;
  bool malformed = false;
};

decoded decode(std::string_view bytes, std::size_t piece) {
  wire::decoder d;
  decoded out;
  try {
    for (std::size_t at = 0; at < bytes.size(); at += piece) d.feed(bytes.substr(at, piece), out.frames);
  } catch (const wire::malformed_frame&) {
    out.malformed = true;
  }
  return out;
}

template <class Decode>
void check_round_trip(const std::string& payload, Decode decode_payload) {
  try {
    auto record = decode_payload(payload);
    if (wire::encode(record) != payload) std::abort();
  } catch (const wire::malformed_frame&) {
    // a payload that is not one whole record: the worker or the node drops that peer
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 32;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  auto whole = decode(bytes, bytes.size() == 0 ? 1 : bytes.size());
  auto pieces = decode(bytes, piece);
  if (whole.malformed != pieces.malformed || whole.frames.size() != pieces.frames.size()) std::abort();

  std::string encoded;
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    const auto& f = whole.frames[i];
    const auto& g = pieces.frames[i];
    if (f.type != g.type || f.task != g.task || f.payload != g.payload) std::abort();
    if (f.payload.size() > wire::max_payload) std::abort();
    switch (f.type) {
      case wire::frame_type::task:
        check_round_trip(f.payload, wire::decode_task);
        break;
      case wire::frame_type::result:
        check_round_trip(f.payload, wire::decode_result);
        break;
      case wire::frame_type::hello:
        check_round_trip(f.payload, wire::decode_hello);
        break;
      default:
        break;
    }
    wire::append_frame(encoded, f.type, f.task, f.payload);
  }
  // The frames it read, written again, are the bytes it consumed.
  if (bytes.substr(0, encoded.size()) != encoded) std::abort();
  return 0;
}
