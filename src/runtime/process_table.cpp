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

pid process_table::insert(process* p) {
  std::uint32_t index;
  {
    std::lock_guard lock{mutex_};
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = high_water_.load(std::memory_order_relaxed);
      if (index == capacity_.load(std::memory_order_relaxed)) {
        std::uint32_t c = index >> chunk_bits;
        if (c >= max_chunks) throw std::bad_alloc{};
        chunks_[c] = new slot[chunk_size];
        capacity_.store(index + chunk_size, std::memory_order_release);
      }
      high_water_.store(index + 1, std::memory_order_release);
    }
  }
  slot& s = at(index);
  s.ptr.store(p, std::memory_order_relaxed);
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
  process* p = s.ptr.exchange(nullptr, std::memory_order_acq_rel);
  delete p;
  std::lock_guard lock{mutex_};
  free_.push_back(index);
}

}  // namespace respawn::detail
