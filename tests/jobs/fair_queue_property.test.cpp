// Property tests of the fair queue (rapidcheck): no user starves (with k users all backlogged,
// each is dispatched within any k consecutive dispatches), and under random pushes, pops,
// finishes and removes the caps and bounds always hold and no job is lost or dispatched twice.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "respawn/jobs/fair_queue.hpp"

namespace respawn::jobs {
namespace {

RC_GTEST_PROP(FairQueueProperty, WithKBackloggedUsersEachIsDispatchedWithinKDispatches,
              (const std::vector<std::uint8_t>& backlog_choices)) {
  const std::size_t k = backlog_choices.size() % 8 + 2;
  fair_queue q({.running_per_user_max = 1'000, .held_max = 100'000, .held_per_user_max = 10'000});
  job_id next = 1;
  for (std::size_t u = 0; u < k; ++u) {
    // Backlogs of very different sizes: fairness must not depend on them.
    const std::size_t jobs = 50 + (u < backlog_choices.size() ? backlog_choices[u] : 0) * (u + 1);
    for (std::size_t j = 0; j < jobs; ++j) {
      RC_ASSERT(!q.push({.id = next++, .user = "user" + std::to_string(u),
                         .priority = static_cast<std::int32_t>(j % 3)}));
    }
  }
  // Every window of k consecutive dispatches (while all are backlogged) has k distinct users.
  std::vector<std::string> window;
  for (int i = 0; i < 50 * static_cast<int>(k); ++i) {
    auto j = q.pop();
    RC_ASSERT(j.has_value());
    q.finish(j->id);  // finishing at once keeps every user under its cap
    window.push_back(j->user);
    if (window.size() > k) window.erase(window.begin());
    if (window.size() == k) {
      RC_ASSERT(std::set<std::string>(window.begin(), window.end()).size() == k);
    }
  }
}

RC_GTEST_PROP(FairQueueProperty, CapsAndBoundsHoldAndNoJobIsLostOrDispatchedTwice,
              (const std::vector<std::pair<std::uint8_t, std::uint8_t>>& ops)) {
  const fair_queue_limits limits{.running_per_user_max = 2, .held_max = 20, .held_per_user_max = 8};
  fair_queue q(limits);
  std::set<job_id> queued, running, ever_dispatched;
  std::map<job_id, std::string> owner;
  std::map<std::string, std::uint32_t> running_by_user;
  job_id next = 1;
  for (const auto& [op, arg] : ops) {
    const std::string user = "u" + std::to_string(arg % 4);
    switch (op % 4) {
      case 0: {  // push
        const job_id id = next++;
        const bool full = queued.size() + running.size() >= limits.held_max;
        std::size_t held_by_user = 0;
        for (job_id j : queued) held_by_user += owner[j] == user;
        held_by_user += running_by_user[user];
        auto refusal = q.push({.id = id, .user = user, .priority = arg % 3});
        if (full || held_by_user >= limits.held_per_user_max) {
          RC_ASSERT(refusal.has_value());
        } else {
          RC_ASSERT(!refusal.has_value());
          queued.insert(id);
          owner[id] = user;
        }
        break;
      }
      case 1: {  // pop
        auto j = q.pop();
        if (!j) {
          // Nothing dispatchable: every queued job's user is at its cap.
          for (job_id id : queued) RC_ASSERT(running_by_user[owner[id]] >= limits.running_per_user_max);
          break;
        }
        RC_ASSERT(queued.erase(j->id) == 1);
        RC_ASSERT(ever_dispatched.insert(j->id).second);
        running.insert(j->id);
        RC_ASSERT(++running_by_user[j->user] <= limits.running_per_user_max);
        break;
      }
      case 2: {  // finish a running job
        if (running.empty()) break;
        auto it = std::next(running.begin(), arg % running.size());
        q.finish(*it);
        --running_by_user[owner[*it]];
        running.erase(it);
        break;
      }
      case 3: {  // remove (cancel) a queued job
        if (queued.empty()) break;
        auto it = std::next(queued.begin(), arg % queued.size());
        RC_ASSERT(q.remove(*it));
        queued.erase(it);
        break;
      }
    }
    RC_ASSERT(q.queued() == queued.size());
    RC_ASSERT(q.running() == running.size());
    RC_ASSERT(q.queued() + q.running() <= limits.held_max);
  }
}

}  // namespace
}  // namespace respawn::jobs
