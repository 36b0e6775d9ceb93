// snapshot: a recovery snapshot (Kompact's RecoveryFunction, seed 003). A process hands the
// runtime a copy of its state whenever it likes (process::save_snapshot); when it crashes, its
// supervisor starts the replacement from the latest snapshot instead of from scratch. Immutable
// and shared: saving is one allocation, passing it on is a reference count.
#pragma once

#include <memory>
#include <utility>

namespace respawn {

class snapshot {
 public:
  snapshot() = default;

  template <class T>
  static snapshot of(T value) {
    snapshot s;
    s.data_ = std::make_shared<const T>(std::move(value));
    s.type_ = &type_tag<T>;
    return s;
  }

  bool empty() const noexcept { return data_ == nullptr; }
  explicit operator bool() const noexcept { return data_ != nullptr; }
  // The saved state if it is a T, else nullptr.
  template <class T>
  const T* get() const noexcept {
    return type_ == &type_tag<T> ? static_cast<const T*>(data_.get()) : nullptr;
  }

 private:
  template <class T>
  static constexpr char type_tag = 0;
  std::shared_ptr<const void> data_;
  const void* type_ = nullptr;
};

}  // namespace respawn
