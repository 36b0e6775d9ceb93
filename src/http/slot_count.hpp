// slot_count: how many of something are open — connections, event streams — in all and per key
// (a client's address, a user), each with a bound. The server takes a slot before it commits
// anything to a new connection or stream and refuses it when either bound is reached, so that one
// client or one user cannot use up what every other one needs (review F5, F13). A slot is given
// back when the last copy of its handle is destroyed, however the connection or stream ends.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace respawn::http {

class slot_count : public std::enable_shared_from_this<slot_count> {
 public:
  enum class refusal { none, total_full, key_full };
  struct taken {
    std::shared_ptr<void> slot{};  // null when refused
    refusal why = refusal::none;
  };

  static std::shared_ptr<slot_count> make(std::size_t total_max, std::size_t per_key_max);

  // A slot for `key`, or a refusal. thread-safe. The handle keeps this counter alive.
  taken try_take(const std::string& key);
  std::size_t total() const;  // thread-safe
  std::size_t total_max() const { return total_max_; }
  std::size_t per_key_max() const { return per_key_max_; }

 private:
  slot_count(std::size_t total_max, std::size_t per_key_max) : total_max_{total_max}, per_key_max_{per_key_max} {}
  void give_back(const std::string& key);

  const std::size_t total_max_;
  const std::size_t per_key_max_;
  mutable std::mutex mutex_{};
  std::size_t total_ = 0;
  std::map<std::string, std::size_t, std::less<>> per_key_{};  // only keys with a slot open: bounded
};

}  // namespace respawn::http
