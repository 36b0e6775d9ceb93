// pid: the handle of a process. A plain value (two 32-bit words), cheap to copy and to put in
// messages, like an Erlang pid. The generation makes a handle to a dead process detectably dead:
// when the slot of the table it indexes is reused, the slot's generation moves on, so a stale
// pid never reaches the newer process (Erlang gets the same effect from never reusing pids soon).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace respawn {

struct pid {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // 0 means "no process"

  explicit operator bool() const noexcept { return generation != 0; }
  friend bool operator==(pid, pid) noexcept = default;
  friend auto operator<=>(pid, pid) noexcept = default;

  // "<0.INDEX.GENERATION>", the shape Erlang users read pids in.
  std::string to_string() const;
};

// Identifies one monitor; returned by monitor() and carried by its down message.
struct monitor_ref {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(monitor_ref, monitor_ref) noexcept = default;
};

// Identifies one pending timer; returned by send_after() and taken by cancel_timer().
struct timer_ref {
  std::uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(timer_ref, timer_ref) noexcept = default;
};

}  // namespace respawn

template <>
struct std::hash<respawn::pid> {
  std::size_t operator()(respawn::pid p) const noexcept {
    return std::hash<std::uint64_t>{}((std::uint64_t{p.generation} << 32) | p.index);
  }
};
