// runtime_gate: a way for threads the runtime does not own (the store's writer thread, in its
// commit callbacks) to send to a process without ever touching a destroyed runtime. The gate is
// closed by the runtime's own shutdown (it is a runtime extension, destroyed after every process
// has ended and before the runtime's tables): a send after that is dropped, a send in progress
// finishes first.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "respawn/runtime.hpp"

namespace respawn::engine::detail {

class runtime_gate {
 public:
  explicit runtime_gate(runtime& rt) : rt_{&rt} {}

  template <class T>
  void send(respawn::pid to, T&& value) {
    std::lock_guard lock{mutex_};
    if (rt_ != nullptr) rt_->send(to, std::forward<T>(value));
  }
  // To whichever process holds `name` now (dropped if none does).
  template <class T>
  void send_named(const std::string& name, T&& value) {
    std::lock_guard lock{mutex_};
    if (rt_ == nullptr) return;
    if (auto to = rt_->whereis(name)) rt_->send(to, std::forward<T>(value));
  }
  void close() {
    std::lock_guard lock{mutex_};
    rt_ = nullptr;
  }

 private:
  std::mutex mutex_;
  runtime* rt_;
};

// The runtime's gate (made on first use). Callbacks keep the shared_ptr; the runtime's extension
// slot holds an owner whose destruction closes the gate.
inline std::shared_ptr<runtime_gate> gate_of(runtime& rt) {
  struct owner {
    std::shared_ptr<runtime_gate> gate;
    ~owner() {
      if (gate) gate->close();
    }
  };
  return rt.extension<owner>([&rt] {
               auto o = std::make_shared<owner>();  // made in place: a moved-from temporary would close it
               o->gate = std::make_shared<runtime_gate>(rt);
               return o;
             })
      .gate;
}

}  // namespace respawn::engine::detail
