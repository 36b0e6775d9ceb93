// Exponential backoff with deterministic jitter (see retry_policy.hpp for why it is hashed).
#include "respawn/jobs/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace respawn::jobs {
namespace {
// splitmix64's finaliser: a well-mixed 64-bit hash of its input.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::optional<std::string> retry_policy::validate() const {
  if (attempts_max == 0) return "retry_policy.attempts_max must be at least 1";
  if (backoff_initial.count() < 0) return "retry_policy.backoff_initial must not be negative";
  if (backoff_max < backoff_initial) {
    return "retry_policy.backoff_max must be at least backoff_initial";
  }
  if (!(backoff_multiplier >= 1.0)) return "retry_policy.backoff_multiplier must be at least 1";
  if (!(jitter >= 0.0 && jitter <= 1.0)) return "retry_policy.jitter must be within [0, 1]";
  return std::nullopt;
}

std::chrono::milliseconds backoff_delay(const retry_policy& policy, job_id job,
                                        std::uint32_t attempt) {
  const double exponent = attempt == 0 ? 0.0 : static_cast<double>(attempt - 1);
  double delay = static_cast<double>(policy.backoff_initial.count()) *
                 std::pow(policy.backoff_multiplier, exponent);
  delay = std::min(delay, static_cast<double>(policy.backoff_max.count()));
  const std::uint64_t h = mix(policy.seed ^ mix(job ^ mix(attempt)));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  delay *= 1.0 - policy.jitter * u;
  return std::chrono::milliseconds{static_cast<std::int64_t>(delay)};
}

retry_decision after_failed_attempt(const retry_policy& policy, const job_state& state,
                                    job_time now) {
  const std::uint32_t attempts_max =
      state.request.attempts_max != 0 ? state.request.attempts_max : policy.attempts_max;
  if (state.attempts >= attempts_max) return retry_decision{.dead = true, .retry_at = now};
  return retry_decision{.dead = false,
                        .retry_at = now + backoff_delay(policy, state.id, state.attempts)};
}

}  // namespace respawn::jobs
