// sse_parser: see sse_parser.hpp. Follows the WHATWG HTML standard, "Interpreting an event
// stream": lines end in CR LF, LF or CR; a blank line dispatches; `:` starts a comment; one space
// after the colon is dropped; an event with no data is not dispatched, but its id still counts.
#include "sse_parser.hpp"

#include <algorithm>
#include <charconv>

namespace respawn::client {

std::vector<sse_event> sse_parser::feed(std::string_view piece) {
  std::vector<sse_event> out;
  for (char c : piece) {
    if (error_) break;
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CR LF that a piece boundary split
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      line(line_, out);
      line_.clear();
    } else if (line_.size() >= max_bytes_) {
      fail("the event stream sent a line longer than " + std::to_string(max_bytes_) + " bytes");
    } else {
      line_ += c;
    }
  }
  return out;
}

void sse_parser::fail(std::string why) {
  error_ = std::move(why);
  line_.clear();
  line_.shrink_to_fit();
  data_.clear();
  data_.shrink_to_fit();
}

void sse_parser::line(std::string_view text, std::vector<sse_event>& out) {
  if (!started_) {  // a byte order mark may open the stream (and a piece may cut it)
    started_ = true;
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    if (text.substr(0, bom.size()) == bom) text.remove_prefix(bom.size());
  }
  if (text.empty()) {  // dispatch
    if (id_set_) last_event_id_ = id_buffer_;
    if (!data_.empty()) {
      data_.pop_back();  // the "\n" after the last data line
      out.push_back({last_event_id_.value_or(""), type_.empty() ? "message" : type_, data_});
    }
    data_.clear();
    type_.clear();
    return;
  }
  if (text.front() == ':') return;  // a comment (servers send them to keep a stream alive)
  const auto colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_bytes_) {
      return fail("the event stream sent an event with more than " + std::to_string(max_bytes_) + " bytes of data");
    }
    data_.append(value);
    data_ += '\n';
  } else if (field == "event") {
    type_ = value;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      id_buffer_ = value;
      id_set_ = true;
    }
  } else if (field == "retry") {
    // Digits only, as the standard says; from_chars, not stoll: a value past int64 is ignored
    // rather than thrown (an exception nothing caught ended the client).
    if (!value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::int64_t ms = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), ms);
      if (error == std::errc{} && end == value.data() + value.size()) retry_ms_ = ms;
    }
  }
  // any other field is ignored, as the standard says
}

}  // namespace respawn::client
