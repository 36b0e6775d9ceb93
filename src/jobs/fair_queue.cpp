// The fair queue: a ring of users that can run a job now, each with its own ordered set of queued
// jobs. pop takes the user at the front of the ring, takes that user's best job, and moves the
// user to the back: with k users waiting, each is served within k pops, whatever their backlogs.
// A user leaves the ring when it has nothing queued or reaches its concurrency cap, and rejoins
// at the back when that changes; an idle user is forgotten, so memory follows what is held.
#include "respawn/jobs/fair_queue.hpp"

#include <cassert>
#include <cstdlib>
#include <cstdio>

namespace respawn::jobs {
namespace {
// Programmer errors stay checked in release builds: a queue that lost track of a job is corrupt.
void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fair_queue: %s\n", what);
    std::abort();
  }
}
}  // namespace

std::optional<std::string> fair_queue_limits::validate() const {
  if (running_per_user_max == 0) return "fair_queue_limits.running_per_user_max must be at least 1";
  if (held_max == 0) return "fair_queue_limits.held_max must be at least 1";
  if (held_per_user_max == 0) return "fair_queue_limits.held_per_user_max must be at least 1";
  return std::nullopt;
}

fair_queue::fair_queue(fair_queue_limits limits) : limits_(limits) {
  if (auto problem = limits_.validate()) {
    std::fprintf(stderr, "fair_queue: %s\n", problem->c_str());
    std::abort();
  }
}

fair_queue::user_queue& fair_queue::user_for(const std::string& name) {
  auto [it, inserted] = users_.try_emplace(name);
  if (inserted) it->second.name = name;
  return it->second;
}

bool fair_queue::eligible(const user_queue& user) const {
  return !user.queued.empty() && user.running < limits_.running_per_user_max;
}

void fair_queue::join_ring(user_queue& user) {
  if (user.in_ring) return;
  user.ring_position = ready_.insert(ready_.end(), &user);
  user.in_ring = true;
}

void fair_queue::leave_ring(user_queue& user) {
  if (!user.in_ring) return;
  ready_.erase(user.ring_position);
  user.in_ring = false;
}

void fair_queue::forget_if_idle(user_queue& user) {
  if (user.queued.empty() && user.running == 0) {
    require(!user.in_ring, "an idle user is still in the ring");
    users_.erase(users_.find(user.name));  // by iterator: the key is inside `user`, destroyed
  }
}

std::optional<admission_refusal> fair_queue::push(queued_job job) {
  using code = admission_refusal::code;
  if (jobs_.contains(job.id)) {
    return admission_refusal{code::duplicate,
                             "job " + std::to_string(job.id) + " is in the queue already"};
  }
  if (queued_ + running_ >= limits_.held_max) {
    return admission_refusal{code::total_bound,
                             "the service holds " + std::to_string(limits_.held_max) +
                                 " jobs, its limit: try again later"};
  }
  auto found = users_.find(job.user);
  if (found != users_.end() &&
      found->second.queued.size() + found->second.running >= limits_.held_per_user_max) {
    return admission_refusal{code::user_bound,
                             "user " + job.user + " has " +
                                 std::to_string(limits_.held_per_user_max) +
                                 " jobs queued or running, the per-user limit: try again later"};
  }
  insert(std::move(job));
  return std::nullopt;
}

void fair_queue::restore(queued_job job) {
  require(!jobs_.contains(job.id), "restore of a job that is in the queue already");
  insert(std::move(job));
}

void fair_queue::insert(queued_job job) {
  user_queue& user = user_for(job.user);
  // FIFO by job id: ids are allocated in submission order, so a job that comes back (its retry
  // fell due, or recovery after a node death) takes its original place, ahead of newer jobs --
  // the jobs a crash interrupted run again first, not after the whole backlog.
  auto [position, inserted] = user.queued.insert(entry{job.priority, job.id, job.id});
  require(inserted, "duplicate queue entry");
  jobs_.emplace(job.id, slot{.user = &user, .running = false, .position = position});
  ++queued_;
  if (eligible(user)) join_ring(user);
}

std::optional<queued_job> fair_queue::pop() {
  if (ready_.empty()) return std::nullopt;
  user_queue& user = *ready_.front();
  leave_ring(user);
  require(!user.queued.empty(), "a user in the ring has nothing queued");
  const entry best = *user.queued.begin();
  user.queued.erase(user.queued.begin());
  slot& s = jobs_.at(best.id);
  s.running = true;
  s.position = {};
  ++user.running;
  --queued_;
  ++running_;
  if (eligible(user)) join_ring(user);  // to the back: round robin
  return queued_job{.id = best.id, .user = user.name, .priority = best.priority};
}

void fair_queue::finish(job_id id) {
  auto it = jobs_.find(id);
  require(it != jobs_.end() && it->second.running, "finish of a job that is not running");
  user_queue& user = *it->second.user;
  jobs_.erase(it);
  --user.running;
  --running_;
  if (eligible(user)) join_ring(user);
  forget_if_idle(user);
}

bool fair_queue::remove(job_id id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.running) return false;
  user_queue& user = *it->second.user;
  user.queued.erase(it->second.position);
  jobs_.erase(it);
  --queued_;
  if (!eligible(user)) leave_ring(user);
  forget_if_idle(user);
  return true;
}

std::size_t fair_queue::queued(const std::string& user) const {
  auto it = users_.find(user);
  return it == users_.end() ? 0 : it->second.queued.size();
}

std::uint32_t fair_queue::running(const std::string& user) const {
  auto it = users_.find(user);
  return it == users_.end() ? 0 : it->second.running;
}

}  // namespace respawn::jobs
