// slot_count: see slot_count.hpp.
#include "slot_count.hpp"

namespace respawn::http {

std::shared_ptr<slot_count> slot_count::make(std::size_t total_max, std::size_t per_key_max) {
  return std::shared_ptr<slot_count>{new slot_count{total_max, per_key_max}};
}

slot_count::taken slot_count::try_take(const std::string& key) {
  {
    std::lock_guard lock(mutex_);
    if (total_ >= total_max_) return {nullptr, refusal::total_full};
    auto& n = per_key_[key];
    if (n >= per_key_max_) {
      if (n == 0) per_key_.erase(key);  // per_key_max_ 0: nothing was taken
      return {nullptr, refusal::key_full};
    }
    ++n;
    ++total_;
  }
  // The handle owns nothing but the giving back (it points at the counter, which it keeps alive, so
  // the order in which the server's parts are destroyed does not matter; it is never null).
  auto self = shared_from_this();
  return {std::shared_ptr<void>{static_cast<void*>(this), [self, key](void*) { self->give_back(key); }},
          refusal::none};
}

std::size_t slot_count::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void slot_count::give_back(const std::string& key) {
  std::lock_guard lock(mutex_);
  --total_;
  if (auto it = per_key_.find(key); it != per_key_.end() && --it->second == 0) per_key_.erase(it);
}

}  // namespace respawn::http
