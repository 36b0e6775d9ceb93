// The dispatcher's queue: which job runs next. Round robin across users (one user's flood of
// 100,000 jobs delays another user's single job by at most one round), priority within a user
// (higher first, then oldest job first: by id, so a retried or recovered job keeps its place), a per-user concurrency cap, and admission bounds per
// user and in total, past which a submission is refused with a reason (the engine answers 429)
// instead of growing memory without bound. Every operation is O(log n) in the user's queue length
// plus O(1) expected for the hash lookups; nothing scans.
//
// Not thread-safe: it is the dispatcher process's private state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "respawn/jobs/job.hpp"

namespace respawn::jobs {

struct fair_queue_limits {
  std::uint32_t running_per_user_max = 4;  // a user's jobs running at once
  std::size_t held_max = 1'000'000;        // jobs in the queue (queued + running), all users
  std::size_t held_per_user_max = 100'000; // jobs in the queue (queued + running), one user

  std::optional<std::string> validate() const;
};

struct queued_job {
  job_id id = 0;
  std::string user{};
  std::int32_t priority = 0;
  bool operator==(const queued_job&) const = default;
};

struct admission_refusal {
  enum class code : std::uint8_t {
    total_bound,  // the queue holds held_max jobs
    user_bound,   // this user has held_per_user_max jobs in the queue
    duplicate,    // this job id is in the queue already
  };
  code what = code::total_bound;
  std::string message{};
};

class fair_queue {
 public:
  explicit fair_queue(fair_queue_limits limits = {});
  fair_queue(const fair_queue&) = delete;
  fair_queue& operator=(const fair_queue&) = delete;

  // Admits a new job, or says why not (and holds nothing for it).
  std::optional<admission_refusal> push(queued_job job);
  // Puts back a job that was admitted before (recovery, a retry that fell due): never refused by
  // the bounds, because refusing it now would lose a job already acknowledged. Asserts it is new.
  void restore(queued_job job);

  // The next job to run, now counted as running for its user; nullopt if no user has a queued job
  // and room under running_per_user_max.
  std::optional<queued_job> pop();
  // A running job ended (whatever the outcome): frees its user's slot. Asserts it was running.
  void finish(job_id id);
  // Removes a queued job (cancel). False if it is not queued (unknown, or running).
  bool remove(job_id id);

  std::size_t queued() const { return queued_; }
  std::size_t running() const { return running_; }
  std::size_t queued(const std::string& user) const;
  std::uint32_t running(const std::string& user) const;
  std::size_t users() const { return users_.size(); }
  const fair_queue_limits& limits() const { return limits_; }

 private:
  struct entry {
    std::int32_t priority{};
    std::uint64_t order{};  // the job id (submission order): oldest first among equal priorities
    job_id id{};
    bool operator<(const entry& other) const {
      if (priority != other.priority) return priority > other.priority;
      return order < other.order;
    }
  };
  struct user_queue;
  using ring = std::list<user_queue*>;
  struct user_queue {
    std::string name{};
    std::set<entry> queued{};
    std::uint32_t running = 0;
    bool in_ring = false;
    ring::iterator ring_position;
  };
  struct slot {
    user_queue* user = nullptr;
    bool running = false;
    std::set<entry>::iterator position{};  // valid while queued
  };

  user_queue& user_for(const std::string& name);
  void insert(queued_job job);
  bool eligible(const user_queue& user) const;
  void join_ring(user_queue& user);
  void leave_ring(user_queue& user);
  void forget_if_idle(user_queue& user);

  fair_queue_limits limits_;
  std::unordered_map<std::string, user_queue> users_{};  // node-based: user_queue* stay valid
  std::unordered_map<job_id, slot> jobs_{};
  ring ready_;  // users with a queued job and room to run one, in round-robin order
  std::size_t queued_ = 0;
  std::size_t running_ = 0;
};

}  // namespace respawn::jobs
