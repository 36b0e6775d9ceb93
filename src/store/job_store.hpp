// The store seam: everything the job engine needs from durable storage, and nothing more. One
// interface, many backends (SQLite now, PostgreSQL later), all held to one conformance suite
// (tests/store/conformance.*). See docs/store.md.
//
// Writes are asynchronous at the seam: a backend may batch every write that arrives while a
// commit is in flight into its next transaction (group commit), and calls `done` once the write's
// transaction has committed, or failed. A write is all or nothing. The synchronous submit/append
// wrappers wait for `done`. Reads see only committed writes.
//
// Writes run in the order they were queued, and their `done` callbacks are called in that order:
// a caller may queue an append right after a submission without waiting for it; the append sees
// the submitted job, and fails (not_found) if the submission failed.
//
// All member functions are thread-safe. `done` callbacks run on the backend's writer thread: they
// must be quick, must not throw, and must not call the synchronous wrappers (that would wait on
// the very thread that runs them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job.hpp"
#include "respawn/jobs/job_state.hpp"
#include "store/store_error.hpp"

namespace respawn::store {

using jobs::job_id;

// One job to store: its id comes from allocate_id first (seed 000's order: id, then store, then
// tell the scheduler), so a crash between the steps leaves at most an unused id.
struct submission {
  job_id id = 0;
  jobs::job_request request{};
  jobs::job_time time{};
};

struct submit_outcome {
  job_id id = 0;          // the stored job: the submission's id, or the existing job's
  bool existing = false;  // true: the idempotency key named a job stored before; nothing written
  bool operator==(const submit_outcome&) const = default;
};

// Which jobs to list: every given field must match; keyset pagination by ascending id.
struct job_filter {
  std::optional<std::string> user{};
  std::optional<jobs::job_status> status{};
  std::optional<std::string> kind{};
  job_id after_id = 0;      // exclusive: pass the previous page's next_after_id
  std::size_t limit = 100;  // at most this many jobs per page (1..10,000)
};

struct job_page {
  std::vector<jobs::job_state> jobs{};
  std::optional<job_id> next_after_id{};  // set when the page is full: there may be more
  // Jobs the page met whose stored state is unreadable: skipped (not in `jobs`), logged once and
  // quarantined by the backend, never an error of the whole page (docs/store.md, "Quarantine").
  // They count towards the page's limit, so that keyset pagination goes past them.
  std::vector<job_id> quarantined{};
};

using submit_callback = std::function<void(store_result<std::vector<submit_outcome>>)>;
using append_callback = std::function<void(store_result<committed>)>;

class job_store {
 public:
  virtual ~job_store() = default;

  // A new job id, never returned before, even across restarts. Usually served from memory.
  virtual store_result<job_id> allocate_id() = 0;

  // Stores each job (its `submitted` event, sequence 1, and its current-state row) in one
  // transaction. A submission whose (user, idempotency key) names a stored job with the same
  // request yields that job, `existing`; with a different request the whole batch fails with
  // idempotency_conflict. Outcomes are in the submissions' order.
  virtual void submit_async(std::vector<submission> batch, submit_callback done) = 0;

  // Appends events (for one job or several, each job's in sequence order) and updates the
  // current-state rows, in one transaction. Every event is checked with jobs::apply against the
  // stored state: one that does not follow (a gap, a duplicate sequence, an event after a final
  // state) fails the whole append with invalid_transition.
  virtual void append_async(std::vector<jobs::event> events, append_callback done) = 0;

  virtual store_result<jobs::job_state> get(job_id id) = 0;
  // The job's events with sequence > after_sequence, in order, at most `limit`.
  virtual store_result<std::vector<jobs::event>> events(job_id id, std::uint64_t after_sequence,
                                                        std::size_t limit) = 0;
  virtual store_result<job_page> list(const job_filter& filter) = 0;
  // Jobs that are not final (queued, running, failed), by ascending id: what recovery rebuilds.
  // Paused session jobs are not among them: they wait on disk until a client comes back.
  virtual store_result<job_page> list_unfinished(job_id after_id, std::size_t limit) = 0;

  // Synchronous forms: return once the write is durable (or failed).
  store_result<std::vector<submit_outcome>> submit(std::vector<submission> batch);
  store_result<committed> append(std::vector<jobs::event> events);

  // The user who owns job `id` (not_found if there is none), read without loading the job's
  // state: the HTTP API checks ownership before it reads a whole row (review F18). The default
  // loads the state; a store with an owner column answers from it.
  virtual store_result<std::string> owner_of(job_id id) {
    auto job = get(id);
    if (!job.ok()) return job.error();
    return std::move(job).value().request.user;
  }
};

}  // namespace respawn::store
