// process_table: maps a pid (index, generation) to its process, without a global lock.
//
// Slots live in fixed chunks that are never freed, so a slot's memory stays valid forever and a
// sender can always look at it. Each slot has one 64-bit state word:
//   [generation:32 | live:1 | dying:1 | pins:30]
// A sender pins the slot (fetch_add), checks the generation and the live bit, and only then
// touches the process; it unpins when done. A process that ends clears live, sets dying and drops
// its own pin. Whoever drops the last pin of a dying slot (the process itself, or a sender that
// was still inside a send) frees the process and moves the generation on, so a stale pid can
// never reach the process that reuses the slot. This is a split reference count; it costs two
// uncontended atomic adds per send and no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "respawn/pid.hpp"

namespace respawn {
class process;
}

namespace respawn::detail {

class process_table {
 public:
  static constexpr std::uint64_t pin_one = 1;
  static constexpr std::uint64_t pins_mask = (std::uint64_t{1} << 30) - 1;
  static constexpr std::uint64_t dying_bit = std::uint64_t{1} << 30;
  static constexpr std::uint64_t live_bit = std::uint64_t{1} << 31;

  struct slot {
    std::atomic<std::uint64_t> state{std::uint64_t{1} << 32};  // generation 1, free
    // The process while live; while the slot is free, the next free index + 1 (0: none).
    std::atomic<std::uintptr_t> ptr{0};
  };

  process_table();
  ~process_table();
  process_table(const process_table&) = delete;
  process_table& operator=(const process_table&) = delete;

  // Takes a free slot and makes `p` live in it, holding one pin for the process itself.
  // thread-safe
  pid insert(process* p);

  // The live process behind `id`, pinned; nullptr if it is dead. Pair with unpin().
  // thread-safe
  process* pin(pid id) noexcept {
    if (id.index >= capacity_.load(std::memory_order_acquire)) return nullptr;
    slot& s = at(id.index);
    std::uint64_t old = s.state.fetch_add(pin_one, std::memory_order_acquire);
    if ((old >> 32) != id.generation || !(old & live_bit)) {
      unpin(id.index);
      return nullptr;
    }
    return reinterpret_cast<process*>(s.ptr.load(std::memory_order_acquire));
  }

  // thread-safe
  void unpin(std::uint32_t index) noexcept {
    slot& s = at(index);
    std::uint64_t old = s.state.fetch_sub(pin_one, std::memory_order_acq_rel);
    if ((old & dying_bit) && (old & pins_mask) == 1) try_finalize(index);
  }

  // Called once by a process as it starts to end: no new pins succeed from now on, so sends
  // fail with noproc and alive() is false. The process keeps its own pin until it unpins. thread-safe
  void mark_dying(std::uint32_t index) noexcept {
    at(index).state.fetch_add(dying_bit - live_bit, std::memory_order_acq_rel);
  }
  // mark_dying and drop the process's own pin: it is freed when the last pin is dropped.
  void retire(std::uint32_t index) noexcept {
    mark_dying(index);
    unpin(index);
  }

  // Whether `id` names a live process right now. thread-safe
  bool alive(pid id) const noexcept {
    if (id.index >= capacity_.load(std::memory_order_acquire)) return false;
    std::uint64_t st = at(id.index).state.load(std::memory_order_acquire);
    return (st >> 32) == id.generation && (st & live_bit);
  }

  // One past the highest index ever handed out (for introspection walks). thread-safe
  std::uint32_t high_water() const noexcept { return high_water_.load(std::memory_order_acquire); }
  // The pid currently live at `index`, or a null pid. thread-safe
  pid live_pid_at(std::uint32_t index) const noexcept {
    std::uint64_t st = at(index).state.load(std::memory_order_acquire);
    if (!(st & live_bit)) return pid{};
    return pid{index, static_cast<std::uint32_t>(st >> 32)};
  }

 private:
  static constexpr unsigned chunk_bits = 16;
  static constexpr std::uint32_t chunk_size = 1u << chunk_bits;
  static constexpr std::uint32_t max_chunks = 1u << 14;  // 2^30 processes

  slot& at(std::uint32_t index) const noexcept {
    return chunks_[index >> chunk_bits][index & (chunk_size - 1)];
  }
  void try_finalize(std::uint32_t index) noexcept;
  // The free slots: a lock-free stack (Treiber) threaded through the free slots' ptr fields,
  // its head tagged with a counter against ABA. Spawning and ending processes on different
  // threads contended on a mutex here (26% and 17% of spawn's time, BENCHMARKS.md).
  bool pop_free(std::uint32_t& index) noexcept;
  void push_free(std::uint32_t index) noexcept;

  slot** chunks_;                          // max_chunks pointers; filled under mutex_
  std::atomic<std::uint32_t> capacity_{0};  // slots in allocated chunks
  std::atomic<std::uint32_t> high_water_{0};
  std::mutex mutex_;                        // guards chunk growth
  std::atomic<std::uint64_t> free_head_{0};  // [tag:32 | index + 1:32]; index part 0: empty
};

}  // namespace respawn::detail
