// backoff: how long the client waits before trying a down or overloaded server again.
// Exponential from `initial`, doubled each time up to `cap`, with "equal jitter" (a delay drawn
// uniformly from the upper half of the nominal one) so that many clients a restart cut off do not
// all come back in the same instant; a Retry-After from the server is a floor. The randomness is a
// seeded PRNG, so a test can fix the schedule.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace respawn::client {

struct backoff_policy {
  std::chrono::milliseconds initial{250};
  std::chrono::milliseconds cap{5000};
};

class backoff {
 public:
  backoff(backoff_policy policy, std::uint64_t seed) : policy_(policy), random_(seed) {}

  // The delay before the next attempt; `retry_after` (the server's Retry-After) if longer.
  std::chrono::milliseconds next(std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  // After a success: the next failure starts again from `initial`.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  backoff_policy policy_;
  std::mt19937_64 random_;
  int failures_ = 0;
};

}  // namespace respawn::client
