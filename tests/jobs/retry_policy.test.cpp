// Tests of the retry policy: exponential growth, the cap, jitter bounds, determinism per seed,
// and dead after attempts_max (the job's own, or the policy's).
#include <gtest/gtest.h>

#include <set>

#include "respawn/jobs/retry_policy.hpp"

namespace respawn::jobs {
namespace {
using std::chrono::milliseconds;
const job_time t0 = from_microseconds(1'700'000'000'000'000);

TEST(RetryPolicy, WithoutJitterTheDelayDoublesUpToTheCap) {
  retry_policy p{.attempts_max = 10, .backoff_initial = milliseconds(100),
                 .backoff_max = milliseconds(1'000), .backoff_multiplier = 2.0, .jitter = 0.0};
  EXPECT_EQ(backoff_delay(p, 1, 1), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, 1, 2), milliseconds(200));
  EXPECT_EQ(backoff_delay(p, 1, 3), milliseconds(400));
  EXPECT_EQ(backoff_delay(p, 1, 4), milliseconds(800));
  EXPECT_EQ(backoff_delay(p, 1, 5), milliseconds(1'000));
  EXPECT_EQ(backoff_delay(p, 1, 60), milliseconds(1'000));
}

TEST(RetryPolicy, JitterStaysWithinItsFractionAndSpreadsJobsOut) {
  retry_policy p{.backoff_initial = milliseconds(1'000), .backoff_max = milliseconds(1'000),
                 .jitter = 0.5, .seed = 99};
  std::set<std::int64_t> seen;
  for (job_id job = 1; job <= 200; ++job) {
    const auto d = backoff_delay(p, job, 1);
    EXPECT_GE(d, milliseconds(500));
    EXPECT_LE(d, milliseconds(1'000));
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 100u) << "jobs failing together should not all retry at once";
}

TEST(RetryPolicy, TheSameSeedGivesTheSameDelaysAndAnotherSeedOthers) {
  retry_policy a{.jitter = 0.5, .seed = 1};
  retry_policy b = a;
  retry_policy c = a;
  c.seed = 2;
  int differ = 0;
  for (std::uint32_t attempt = 1; attempt <= 20; ++attempt) {
    EXPECT_EQ(backoff_delay(a, 5, attempt), backoff_delay(b, 5, attempt));
    differ += backoff_delay(a, 5, attempt) != backoff_delay(c, 5, attempt);
  }
  EXPECT_GT(differ, 10);
}

TEST(RetryPolicy, AFailedAttemptBelowTheMaximumIsRetriedAfterTheBackoff) {
  retry_policy p{.attempts_max = 3, .backoff_initial = milliseconds(100), .jitter = 0.0};
  job_state s;
  s.id = 1;
  s.attempts = 2;
  auto d = after_failed_attempt(p, s, t0);
  EXPECT_FALSE(d.dead);
  EXPECT_EQ(d.retry_at, t0 + milliseconds(200));
}

TEST(RetryPolicy, AfterMaxAttemptsTheJobIsDead) {
  retry_policy p{.attempts_max = 3};
  job_state s;
  s.attempts = 3;
  EXPECT_TRUE(after_failed_attempt(p, s, t0).dead);
}

TEST(RetryPolicy, TheJobsOwnAttemptsMaxWins) {
  retry_policy p{.attempts_max = 3};
  job_state s;
  s.request.attempts_max = 1;
  s.attempts = 1;
  EXPECT_TRUE(after_failed_attempt(p, s, t0).dead);
  s.request.attempts_max = 10;
  s.attempts = 5;
  EXPECT_FALSE(after_failed_attempt(p, s, t0).dead);
}

TEST(RetryPolicy, BadConfigurationIsRefusedWithWhatToChange) {
  EXPECT_FALSE(retry_policy{}.validate());
  EXPECT_NE(retry_policy{.attempts_max = 0}.validate()->find("attempts_max"), std::string::npos);
  EXPECT_NE(retry_policy{.jitter = 1.5}.validate()->find("jitter"), std::string::npos);
  EXPECT_NE((retry_policy{.backoff_initial = milliseconds(10), .backoff_max = milliseconds(1)})
                .validate()
                ->find("backoff_max"),
            std::string::npos);
}

}  // namespace
}  // namespace respawn::jobs
