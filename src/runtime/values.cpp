// The small value types of the public API: pid, exit_reason, call_error, message type names.
#include <cstring>
#include <string>

#include "respawn/exit_reason.hpp"
#include "respawn/message.hpp"
#include "respawn/pid.hpp"
#include "respawn/result.hpp"

namespace respawn {

std::string pid::to_string() const {
  return "<0." + std::to_string(index) + "." + std::to_string(generation) + ">";
}

exit_reason exit_reason::error(std::string type, std::string text) {
  exit_reason r{kind::error};
  r.detail_ = std::make_shared<const detail_text>(detail_text{std::move(type), std::move(text)});
  return r;
}

exit_reason exit_reason::other(std::string text) {
  exit_reason r{kind::other};
  r.detail_ = std::make_shared<const detail_text>(detail_text{{}, std::move(text)});
  return r;
}

namespace {
const std::string empty_string;
}

const std::string& exit_reason::type() const noexcept { return detail_ ? detail_->type : empty_string; }
const std::string& exit_reason::text() const noexcept { return detail_ ? detail_->text : empty_string; }

std::string exit_reason::to_string() const {
  switch (kind_) {
    case kind::normal:
      return "normal";
    case kind::shutdown:
      return "shutdown";
    case kind::kill:
      return "kill";
    case kind::killed:
      return "killed";
    case kind::noproc:
      return "noproc";
    case kind::hung:
      return "hung";
    case kind::error:
      return "error: " + type() + ": " + text();
    case kind::other:
      return text();
  }
  return "unknown";
}

bool operator==(const exit_reason& a, const exit_reason& b) noexcept {
  return a.kind_ == b.kind_ && a.type() == b.type() && a.text() == b.text();
}

std::string call_error::message() const {
  switch (what) {
    case code::timeout:
      return "timeout";
    case code::callee_exited:
      return "callee exited with " + reason.to_string();
    case code::bad_reply:
      return "reply of unexpected type " + reply_type;
    case code::mailbox_full:
      return "callee's mailbox is full";
  }
  return "unknown";
}

namespace detail {
const char* trim_type_name(const char* pretty) noexcept {
  // "const char* respawn::detail::type_name_of() [with T = foo::bar; ...]" -> "foo::bar"
  std::string s = pretty;
  auto start = s.find("T = ");
  if (start != std::string::npos) {
    start += 4;
    auto end = s.find_first_of(";]", start);
    s = s.substr(start, end - start);
  }
  return strdup(s.c_str());  // once per type, kept for the program's life
}
}  // namespace detail

}  // namespace respawn
