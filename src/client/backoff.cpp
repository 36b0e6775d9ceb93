// backoff: see backoff.hpp.
#include "backoff.hpp"

#include <algorithm>

namespace respawn::client {

std::chrono::milliseconds backoff::next(std::optional<std::chrono::milliseconds> retry_after) {
  const int doublings = std::min(failures_, 30);  // 2^30 times any initial is past any cap
  ++failures_;
  const std::int64_t nominal =
      std::min<std::int64_t>(policy_.cap.count(), policy_.initial.count() << doublings);
  std::uniform_int_distribution<std::int64_t> half(nominal / 2, nominal);
  const std::chrono::milliseconds delay{half(random_)};
  return retry_after && *retry_after > delay ? *retry_after : delay;
}

}  // namespace respawn::client
