// result<T>: a call()'s reply, or the call_error that says why there was none
// (value_or_error.hpp).
#pragma once

#include <string>
#include <utility>

#include "respawn/exit_reason.hpp"
#include "respawn/value_or_error.hpp"

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

// A call's reply, or why there was none.
template <class T>
using result = value_or_error<T, call_error>;

}  // namespace respawn
