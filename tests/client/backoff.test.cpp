// Tests of backoff: exponential within the upper half of each nominal delay, capped, Retry-After
// as a floor, reset, and reproducible from a seed.
#include "backoff.hpp"

#include <gtest/gtest.h>

namespace respawn::client {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesWithJitterUpToTheCap) {
  backoff b({milliseconds(250), milliseconds(5000)}, 42);
  const std::int64_t nominal[] = {250, 500, 1000, 2000, 4000, 5000, 5000, 5000};
  for (std::int64_t n : nominal) {
    const auto d = b.next().count();
    EXPECT_GE(d, n / 2);
    EXPECT_LE(d, n);
  }
  EXPECT_EQ(b.failures(), 8);
}

TEST(Backoff, HonoursRetryAfterAsAFloor) {
  backoff b({milliseconds(250), milliseconds(5000)}, 1);
  EXPECT_EQ(b.next(milliseconds(3000)), milliseconds(3000));
  EXPECT_EQ(b.next(milliseconds(30000)), milliseconds(30000));  // not capped: the server knows
  const auto d = b.next(milliseconds(1));
  EXPECT_GE(d.count(), 500);  // third failure: nominal 1000
}

TEST(Backoff, ResetStartsOver) {
  backoff b({milliseconds(100), milliseconds(5000)}, 7);
  for (int i = 0; i < 10; ++i) b.next();
  b.reset();
  EXPECT_LE(b.next().count(), 100);
}

TEST(Backoff, TheSameSeedGivesTheSameSchedule) {
  backoff a({}, 99);
  backoff b({}, 99);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Backoff, NeverOverflowsAfterManyFailures) {
  backoff b({milliseconds(250), milliseconds(5000)}, 3);
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next().count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 5000);
  }
}

}  // namespace
}  // namespace respawn::client
