// Restart backoff (backoff_spec, which OTP lacks): restart number k of a child waits
// min(max, initial * multiplier^k), +/- jitter, and the count starts again once the child has run
// for reset_after. On the deterministic clock we measure each delay to the millisecond by
// advancing one millisecond at a time until the child's init runs. Jitter comes from a PRNG
// seeded by supervisor_flags::seed, so the same seed gives the same delays.
#include "harness.hpp"

namespace respawn::sup_test {
namespace {

backoff_spec exact_backoff() {
  backoff_spec b;
  b.initial = 10ms;
  b.max = 100ms;
  b.multiplier = 2.0;
  b.jitter = 0.0;
  b.reset_after = 5000ms;
  return b;
}

struct backed_off {
  std::unique_ptr<runtime> rt = std::make_unique<runtime>(deterministic_config());
  std::shared_ptr<event_log> log = std::make_shared<event_log>();
  pid sup;

  backed_off(backoff_spec b, std::uint64_t seed = 1) {
    child_spec w = worker_spec("w", log);
    w.backoff = b;
    supervisor_spec spec = spec_of(strategy::one_for_one, {w}, /*intensity=*/1000, 60000ms);
    spec.flags.seed = seed;
    sup = rt->spawn<supervisor>({}, spec);
    rt->run_until_idle();
  }
  std::size_t starts() const { return log->count("start:w"); }
  // Crashes w and returns how many milliseconds pass before it starts again (-1: not within `limit`).
  int crash_and_time_restart(int limit = 2000) {
    const std::size_t before = starts();
    crash(*rt, sup, "w");
    for (int ms = 0; ms <= limit; ++ms) {
      if (starts() > before) return ms;
      rt->advance(1ms);
      rt->run_until_idle();
    }
    return -1;
  }
};

TEST(Backoff, EachRestartWaitsInitialTimesMultiplierToTheKCappedAtMax) {
  backed_off s{exact_backoff()};
  std::vector<int> delays;
  for (int k = 0; k < 7; ++k) delays.push_back(s.crash_and_time_restart());
  EXPECT_EQ(delays, (std::vector<int>{10, 20, 40, 80, 100, 100, 100}));
}

TEST(Backoff, AChildWaitingForItsRestartIsListedWithoutAPidAndTheSupervisorAnswersMeanwhile) {
  backed_off s{exact_backoff()};
  crash(*s.rt, s.sup, "w");
  EXPECT_FALSE(pid_of(*s.rt, s.sup, "w"));
  EXPECT_EQ(s.rt->call<std::size_t>(s.sup, count_children{}, 1s).value(), 0u);
  s.rt->advance(10ms);
  s.rt->run_until_idle();
  EXPECT_TRUE(pid_of(*s.rt, s.sup, "w"));
}

TEST(Backoff, TheCountStartsAgainOnceTheChildHasRunForResetAfter) {
  backed_off s{exact_backoff()};
  for (int k = 0; k < 4; ++k) s.crash_and_time_restart();
  s.rt->advance(4999ms);  // not quite long enough
  s.rt->run_until_idle();
  EXPECT_EQ(s.crash_and_time_restart(), 100);
  s.rt->advance(5000ms);
  s.rt->run_until_idle();
  EXPECT_EQ(s.crash_and_time_restart(), 10);
  EXPECT_EQ(s.crash_and_time_restart(), 20);
}

backoff_spec jittery_backoff() {
  backoff_spec b = exact_backoff();
  b.max = 200ms;
  b.jitter = 0.5;
  return b;
}

std::vector<int> jittered_delays(std::uint64_t seed) {
  backed_off s{jittery_backoff(), seed};
  std::vector<int> delays;
  for (int k = 0; k < 8; ++k) delays.push_back(s.crash_and_time_restart());
  return delays;
}

TEST(Backoff, JitterKeepsEachDelayWithinItsBounds) {
  const std::vector<int> base = {10, 20, 40, 80, 160, 200, 200, 200};
  for (std::uint64_t seed : {1u, 2u, 3u, 12345u}) {
    std::vector<int> delays = jittered_delays(seed);
    ASSERT_EQ(delays.size(), base.size());
    for (std::size_t k = 0; k < base.size(); ++k) {
      EXPECT_GE(delays[k], base[k] / 2) << "seed " << seed << ", restart " << k;
      EXPECT_LE(delays[k], base[k] * 3 / 2) << "seed " << seed << ", restart " << k;
    }
  }
}

TEST(Backoff, TheSameSeedGivesTheSameJitteredDelays) {
  EXPECT_EQ(jittered_delays(42), jittered_delays(42));
  EXPECT_NE(jittered_delays(42), jittered_delays(43)) << "the seed should matter";
}

TEST(Backoff, ASpecWithAMultiplierBelowOneIsRejectedAtStart) {
  auto log = std::make_shared<event_log>();
  child_spec w = worker_spec("w", log);
  w.backoff = exact_backoff();
  w.backoff->multiplier = 0.5;
  EXPECT_THROW(supervisor{spec_of(strategy::one_for_one, {w})}, std::invalid_argument);
  w.backoff->multiplier = 2.0;
  w.backoff->jitter = 1.5;
  EXPECT_THROW(supervisor{spec_of(strategy::one_for_one, {w})}, std::invalid_argument);
}

}  // namespace
}  // namespace respawn::sup_test
