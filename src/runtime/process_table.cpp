// process_table: see the header. Slot allocation takes a mutex (spawn is not the send path);
// freeing a process happens here, on whichever thread drops its last pin.
#include "process_table.hpp"

#include <cassert>
#include <new>

#include "respawn/process.hpp"

namespace respawn::detail {

process_table::process_table() : chunks_{new slot*[max_chunks]()} {}

process_table::~process_table() {
  for (std::uint32_t c = 0; c < max_chunks && chunks_[c]; ++c) delete[] chunks_[c];
  delete[] chunks_;
}

bool process_table::pop_free(std::uint32_t& index) noexcept {
  std::uint64_t head = free_head_.load(std::memory_order_acquire);
  for (;;) {
    std::uint32_t top = static_cast<std::uint32_t>(head);
    if (top == 0) return false;
    // If another thread pops `top` first, this read may see a process pointer; the CAS then
    // fails (the tag moved on) and the value is never used.
    std::uint64_t next = at(top - 1).ptr.load(std::memory_order_acquire) & 0xffffffffu;
    std::uint64_t desired = (((head >> 32) + 1) << 32) | next;
    if (free_head_.compare_exchange_weak(head, desired, std::memory_order_acq_rel, std::memory_order_acquire)) {
      index = top - 1;
      return true;
    }
  }
}

void process_table::push_free(std::uint32_t index) noexcept {
  std::uint64_t head = free_head_.load(std::memory_order_acquire);
  for (;;) {
    at(index).ptr.store(head & 0xffffffffu, std::memory_order_release);
    std::uint64_t desired = (((head >> 32) + 1) << 32) | (std::uint64_t{index} + 1);
    if (free_head_.compare_exchange_weak(head, desired, std::memory_order_acq_rel, std::memory_order_acquire)) return;
  }
}

pid process_table::insert(process* p) {
  std::uint32_t index;
  if (!pop_free(index)) {
    std::lock_guard lock{mutex_};
    index = high_water_.load(std::memory_order_relaxed);
    if (index == capacity_.load(std::memory_order_relaxed)) {
      std::uint32_t c = index >> chunk_bits;
      if (c >= max_chunks) throw std::bad_alloc{};
      chunks_[c] = new slot[chunk_size];
      capacity_.store(index + chunk_size, std::memory_order_release);
    }
    high_water_.store(index + 1, std::memory_order_release);
  }
  slot& s = at(index);
  s.ptr.store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_relaxed);
  // Stale senders may hold transient pins on a free slot; adding keeps their count intact.
  std::uint64_t old = s.state.fetch_add(live_bit + pin_one, std::memory_order_acq_rel);
  assert(!(old & (live_bit | dying_bit)));
  return pid{index, static_cast<std::uint32_t>(old >> 32)};
}

void process_table::try_finalize(std::uint32_t index) noexcept {
  slot& s = at(index);
  std::uint64_t st = s.state.load(std::memory_order_acquire);
  for (;;) {
    if (!(st & dying_bit) || (st & pins_mask) != 0) return;  // someone else finalizes
    std::uint64_t generation = (st >> 32) + 1;
    if (generation > 0xffffffffu) generation = 1;  // 0 is the null pid's
    if (s.state.compare_exchange_weak(st, generation << 32, std::memory_order_acq_rel)) break;
  }
  auto* p = reinterpret_cast<process*>(s.ptr.exchange(0, std::memory_order_acq_rel));
  delete p;
  push_free(index);
}

}  // namespace respawn::detail
