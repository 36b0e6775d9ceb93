// result<T>: the value of an operation that can fail in an expected way, or why it failed.
// (std::expected is C++23; GCC 12 in C++20 mode does not have it.) Used by call().
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "respawn/exit_reason.hpp"

namespace respawn {

// Why a call() did not return a reply.
struct call_error {
  enum class code : std::uint8_t {
    timeout,         // no reply within the timeout
    callee_exited,   // the callee ended (or did not exist: reason noproc) before replying
    bad_reply,       // the reply was not of the type the caller asked for
    mailbox_full,    // the callee's mailbox was at its bound: the request was refused at once
  };
  code what = code::timeout;
  exit_reason reason;      // callee_exited: why the callee ended
  std::string reply_type;  // bad_reply: the type that came back

  // "timeout", "callee exited with REASON", "reply of unexpected type T", "callee's mailbox is full".
  std::string message() const;
};

template <class T>
class result {
 public:
  result(T value) : v_{std::in_place_index<0>, std::move(value)} {}            // NOLINT
  result(call_error error) : v_{std::in_place_index<1>, std::move(error)} {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const call_error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, call_error> v_;
};

}  // namespace respawn
