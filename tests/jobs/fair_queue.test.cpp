// Tests of the fair queue: round robin across users, priority then FIFO within a user, the
// per-user concurrency cap, the admission bounds and their reasons, cancel of a queued job, and
// a quiet user's job dispatched within one round behind 100,000 jobs of a flooding user.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "respawn/jobs/fair_queue.hpp"

namespace respawn::jobs {
namespace {

std::vector<job_id> pop_ids(fair_queue& q, int n) {
  std::vector<job_id> out;
  for (int i = 0; i < n; ++i) {
    auto j = q.pop();
    if (!j) break;
    out.push_back(j->id);
  }
  return out;
}

TEST(FairQueue, UsersTakeTurns) {
  fair_queue q({.running_per_user_max = 100});
  for (job_id i = 1; i <= 3; ++i) ASSERT_FALSE(q.push({.id = i, .user = "ann"}));
  for (job_id i = 11; i <= 13; ++i) ASSERT_FALSE(q.push({.id = i, .user = "bob"}));
  EXPECT_EQ(pop_ids(q, 6), (std::vector<job_id>{1, 11, 2, 12, 3, 13}));
  EXPECT_FALSE(q.pop());
}

TEST(FairQueue, HigherPriorityFirstThenFirstInFirstOutWithinAUser) {
  fair_queue q({.running_per_user_max = 100});
  ASSERT_FALSE(q.push({.id = 1, .user = "ann", .priority = 0}));
  ASSERT_FALSE(q.push({.id = 2, .user = "ann", .priority = 5}));
  ASSERT_FALSE(q.push({.id = 3, .user = "ann", .priority = 0}));
  ASSERT_FALSE(q.push({.id = 4, .user = "ann", .priority = 5}));
  ASSERT_FALSE(q.push({.id = 5, .user = "ann", .priority = -1}));
  EXPECT_EQ(pop_ids(q, 5), (std::vector<job_id>{2, 4, 1, 3, 5}));
}

TEST(FairQueue, AUserAtItsConcurrencyCapWaitsUntilAJobFinishes) {
  fair_queue q({.running_per_user_max = 2});
  for (job_id i = 1; i <= 4; ++i) ASSERT_FALSE(q.push({.id = i, .user = "ann"}));
  EXPECT_EQ(pop_ids(q, 4), (std::vector<job_id>{1, 2}));
  EXPECT_EQ(q.running("ann"), 2u);
  q.finish(1);
  EXPECT_EQ(pop_ids(q, 4), (std::vector<job_id>{3}));
  q.finish(2);
  q.finish(3);
  EXPECT_EQ(pop_ids(q, 4), (std::vector<job_id>{4}));
  q.finish(4);
  EXPECT_EQ(q.users(), 0u) << "an idle user is forgotten";
}

TEST(FairQueue, AnotherUserRunsWhileOneIsCapped) {
  fair_queue q({.running_per_user_max = 1});
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 2, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 3, .user = "bob"}));
  EXPECT_EQ(pop_ids(q, 3), (std::vector<job_id>{1, 3}));
}

TEST(FairQueue, SubmissionPastTheTotalBoundIsRefusedWithAReason) {
  fair_queue q({.held_max = 2, .held_per_user_max = 10});
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 2, .user = "bob"}));
  auto refusal = q.push({.id = 3, .user = "cat"});
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->what, admission_refusal::code::total_bound);
  EXPECT_NE(refusal->message.find("limit"), std::string::npos);
  EXPECT_EQ(q.queued(), 2u);
}

TEST(FairQueue, SubmissionPastTheUserBoundIsRefusedButOtherUsersAreAdmitted) {
  fair_queue q({.running_per_user_max = 1, .held_max = 100, .held_per_user_max = 2});
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 2, .user = "ann"}));
  ASSERT_TRUE(q.pop());  // running jobs count too
  auto refusal = q.push({.id = 3, .user = "ann"});
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->what, admission_refusal::code::user_bound);
  EXPECT_NE(refusal->message.find("ann"), std::string::npos);
  EXPECT_FALSE(q.push({.id = 4, .user = "bob"}));
}

TEST(FairQueue, RestoreIsNeverRefusedByTheBounds) {
  fair_queue q({.held_max = 1, .held_per_user_max = 1});
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  q.restore({.id = 2, .user = "ann"});
  EXPECT_EQ(q.queued(), 2u);
}

TEST(FairQueue, ADuplicateJobIsRefused) {
  fair_queue q;
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  auto refusal = q.push({.id = 1, .user = "ann"});
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->what, admission_refusal::code::duplicate);
}

TEST(FairQueue, RemoveTakesAQueuedJobOutButNotARunningOne) {
  fair_queue q;
  ASSERT_FALSE(q.push({.id = 1, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 2, .user = "ann"}));
  ASSERT_FALSE(q.push({.id = 3, .user = "bob"}));
  EXPECT_TRUE(q.remove(3));
  EXPECT_FALSE(q.remove(3));
  EXPECT_EQ(pop_ids(q, 1), (std::vector<job_id>{1}));
  EXPECT_FALSE(q.remove(1)) << "running";
  EXPECT_TRUE(q.remove(2));
  EXPECT_FALSE(q.pop());
  EXPECT_EQ(q.queued(), 0u);
}

TEST(FairQueue, AQuietUsersJobComesOutWithinOneRoundBehindAFloodOf100000) {
  fair_queue q({.running_per_user_max = 1'000'000, .held_max = 1'000'000,
                .held_per_user_max = 1'000'000});
  const auto start = std::chrono::steady_clock::now();
  for (job_id i = 1; i <= 100'000; ++i) {
    ASSERT_FALSE(q.push({.id = i, .user = "flood", .priority = static_cast<std::int32_t>(i % 7)}));
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.pop());  // the flood is already being served
  ASSERT_FALSE(q.push({.id = 1'000'001, .user = "quiet"}));
  const auto next = pop_ids(q, 2);  // one round: two users
  EXPECT_NE(std::find(next.begin(), next.end(), 1'000'001u), next.end());
  while (q.pop()) {
  }
  EXPECT_EQ(q.running(), 100'001u);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // O(log n) per operation: 200,000 operations take well under a second even under sanitizers.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace respawn::jobs
