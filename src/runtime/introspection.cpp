// Introspection: snapshots of live processes, read from other threads while they run. Counters
// and the state are atomics the owner writes; links, monitors and the name are copied under the
// process's extras mutex. A snapshot is consistent per process, not across processes.
#include "runtime_impl.hpp"

namespace respawn::detail {

process_info process_ops::info(process& p) {
  process_info out;  // out.pid is the caller's: self_ is written once more right after insert()
  out.parent = p.parent_;
  out.mailbox_length = mailbox_length(p);
  out.messages_handled = p.handled_.load(std::memory_order_relaxed);
  out.state = static_cast<process_state>(p.state_.load(std::memory_order_relaxed));
  out.trap_exit = p.trap_exit_.load(std::memory_order_relaxed);
  process_extras* x = p.extras_.load(std::memory_order_acquire);
  if (x != nullptr && x != extras_tombstone) {
    std::lock_guard lock{x->mutex};
    out.name = x->name;
    out.links = x->links;
    for (auto& [ref, target] : x->monitors) out.monitors.push_back(target);
    for (auto& [ref, watcher] : x->monitored_by) out.monitored_by.push_back(watcher);
  }
  return out;
}

}  // namespace respawn::detail

namespace respawn {

const char* to_string(process_state s) noexcept {
  switch (s) {
    case process_state::runnable:
      return "runnable";
    case process_state::running:
      return "running";
    case process_state::waiting:
      return "waiting";
    case process_state::exiting:
      return "exiting";
  }
  return "unknown";
}

std::optional<process_info> runtime::info(pid p) const {
  process* proc = impl_->table.pin(p);
  if (proc == nullptr) return std::nullopt;
  process_info out = detail::process_ops::info(*proc);
  out.pid = p;
  impl_->table.unpin(p.index);
  return out;
}

std::vector<process_info> runtime::processes() const {
  std::vector<process_info> out;
  std::uint32_t high = impl_->table.high_water();
  for (std::uint32_t i = 0; i < high; ++i) {
    pid p = impl_->table.live_pid_at(i);
    if (!p) continue;
    if (auto one = info(p)) out.push_back(std::move(*one));
  }
  return out;
}

}  // namespace respawn
