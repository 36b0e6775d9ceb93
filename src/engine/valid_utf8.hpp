// valid_utf8: strings from workers (errors, results, progress), made valid UTF-8 before they
// become events. Job code may put anything in an exception's what() (a file name in Latin-1, a
// truncated buffer); nlohmann::json::dump() throws on invalid UTF-8, so such a string would fail
// the append and crash the job process, and the real error would be lost as "interrupted"
// (review F24). Each invalid byte becomes U+FFFD, as nlohmann's error_handler_t::replace does.
#pragma once

#include <string>

namespace respawn::engine::detail {

// `text` itself when it is valid UTF-8 (the usual case, checked without copying twice), else a
// copy with every invalid sequence replaced by U+FFFD.
std::string valid_utf8(const std::string& text);

}  // namespace respawn::engine::detail
