// message: what travels through a mailbox. A message is one heap node holding a header (intrusive
// link, type, sender, call reference) and the value of any C++ type. The type is identified by
// the address of a per-type table (no RTTI on the hot path), so matching is one compare:
//
//   if (auto* p = m.get_if<ping>()) ...
//
// Runtime signals (exit signals, link and monitor requests) use the same nodes with tables of
// their own, so signals and messages between a pair of processes stay in send order, as in Erlang.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "respawn/exit_reason.hpp"
#include "respawn/pid.hpp"
#include "respawn/snapshot.hpp"

namespace respawn {

class message;

namespace detail {

// What a node is to the runtime. Everything but user is handled by the runtime itself.
enum class signal_kind : std::uint8_t {
  user,
  exit,       // exit(pid, reason) from anyone
  link_exit,  // a linked process ended
  link,
  unlink,
  monitor,
  demonitor,
  down,
};

struct message_vtable {
  void (*destroy)(message*) noexcept;
  const char* (*type_name)() noexcept;  // for errors and introspection
  signal_kind signal;
};

// The type's name as the compiler spells it, cut out of __PRETTY_FUNCTION__ once.
const char* trim_type_name(const char* pretty) noexcept;
template <class T>
const char* type_name_of() noexcept {
  static const char* name = trim_type_name(__PRETTY_FUNCTION__);
  return name;
}

}  // namespace detail

class message {
 public:
  message(const message&) = delete;
  message& operator=(const message&) = delete;

  template <class T>
  bool is() const noexcept;
  template <class T>
  T* get_if() noexcept;
  template <class T>
  const T* get_if() const noexcept;
  template <class T>
  T& get() noexcept {
    assert(is<T>());
    return *get_if<T>();
  }

  // Who sent it: a null pid when sent from outside any process.
  pid sender() const noexcept { return sender_; }
  // Non-zero when the message is a call(): reply() answers it.
  std::uint64_t call_ref() const noexcept { return ref_; }
  bool is_call() const noexcept { return ref_ != 0; }
  // The C++ type's name, for errors and logs.
  const char* type_name() const noexcept { return vtable_->type_name(); }

  // --- runtime internals (public so that the runtime's free functions can reach them) ---
  message* next_ = nullptr;
  const detail::message_vtable* vtable_;
  pid sender_{};
  std::uint64_t ref_ = 0;

 protected:
  explicit message(const detail::message_vtable* vt) noexcept : vtable_{vt} {}
  ~message() = default;
};

template <class T>
class envelope final : public message {
 public:
  template <class... Args>
  explicit envelope(const detail::message_vtable* vt, Args&&... args)
      : message{vt}, value{std::forward<Args>(args)...} {}
  T value;
};

namespace detail {

template <class T>
void destroy_envelope(message* m) noexcept {
  delete static_cast<envelope<T>*>(m);
}

// One table per (type, signal kind); its address is the type's identity.
template <class T, signal_kind S = signal_kind::user>
inline constexpr message_vtable vtable_of{&destroy_envelope<T>, &type_name_of<T>, S};

template <class T, signal_kind S = signal_kind::user, class... Args>
message* make_message(Args&&... args) {
  return new envelope<T>(&vtable_of<T, S>, std::forward<Args>(args)...);
}

inline void destroy(message* m) noexcept { m->vtable_->destroy(m); }

}  // namespace detail

template <class T>
bool message::is() const noexcept {
  return vtable_ == &detail::vtable_of<std::decay_t<T>>;
}
template <class T>
T* message::get_if() noexcept {
  return is<T>() ? &static_cast<envelope<T>*>(this)->value : nullptr;
}
template <class T>
const T* message::get_if() const noexcept {
  return is<T>() ? &static_cast<const envelope<T>*>(this)->value : nullptr;
}

// Owns a message taken out of a mailbox.
struct message_deleter {
  void operator()(message* m) const noexcept { detail::destroy(m); }
};
using message_ptr = std::unique_ptr<message, message_deleter>;

// --- messages the runtime delivers to processes (Erlang's 'DOWN' and 'EXIT' messages) ---

// A monitored process ended (or did not exist: reason noproc).
struct down {
  monitor_ref ref{};
  respawn::pid process{};
  exit_reason reason{};
};

// An exit signal, delivered as a message because the receiver traps exits.
struct exit_signal {
  respawn::pid from{};
  exit_reason reason{};
  // To the parent only (the supervisor): the last recovery snapshot the process saved.
  respawn::snapshot state{};
};

}  // namespace respawn
