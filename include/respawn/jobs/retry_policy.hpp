// When a failed attempt is retried: exponential backoff with jitter, up to a maximum number of
// attempts, after which the job is dead (a poison job stops consuming workers). The jitter is not
// drawn from a shared random generator but hashed from (seed, job, attempt): the same policy gives
// the same delay for the same failure on every replay and in every test, with no state to thread
// through, while different jobs failing together still spread out (no thundering herd).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "respawn/jobs/job.hpp"
#include "respawn/jobs/job_state.hpp"

namespace respawn::jobs {

struct retry_policy {
  std::uint32_t attempts_max = 5;                  // a job's own attempts_max, if set, wins
  std::chrono::milliseconds backoff_initial{100};  // delay after the first failed attempt
  std::chrono::milliseconds backoff_max{60'000};   // the delay never grows past this
  double backoff_multiplier = 2.0;                 // delay(n) = initial * multiplier^(n-1)
  double jitter = 0.2;   // fraction of the delay that is random: delay * (1 - jitter * u), u in [0,1)
  std::uint64_t seed = 0;

  // Bad configuration is refused once, up front: the message says what to change.
  std::optional<std::string> validate() const;
};

// The delay before the retry that follows failed attempt number `attempt` (1-based).
std::chrono::milliseconds backoff_delay(const retry_policy& policy, job_id job,
                                        std::uint32_t attempt);

struct retry_decision {
  bool dead = false;   // out of attempts: log `dead`, not `attempt_failed`
  job_time retry_at{}; // when not dead: when the next attempt is due
};

// What to do when the attempt under way in `state` (state.attempts, already counted at claim)
// has failed at `now`.
retry_decision after_failed_attempt(const retry_policy& policy, const job_state& state,
                                    job_time now);

}  // namespace respawn::jobs
