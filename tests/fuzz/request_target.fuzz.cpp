// Fuzz target: the request target parser of the HTTP API (src/http/request_target.*), which reads
// the path and query of every request before authentication, so any byte string from anyone.
// Beyond "no crash": what it returns is checked against what the grammar allows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "request_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto target = respawn::http::parse_target(text);
  if (target) {
    if (text.empty() || text.front() != '/') std::abort();  // only origin-form paths are accepted
    for (const auto& segment : target->segments) {
      if (segment.empty()) std::abort();  // empty segments are dropped, never returned
    }
  }
  // Decoding never makes text longer, and a decoded escape-free text is the text itself.
  for (bool plus_is_space : {false, true}) {
    auto decoded = respawn::http::percent_decode(text, plus_is_space);
    if (decoded && decoded->size() > text.size()) std::abort();
    if (decoded && !plus_is_space && text.find('%') == std::string_view::npos && *decoded != text) std::abort();
  }
  return 0;
}
