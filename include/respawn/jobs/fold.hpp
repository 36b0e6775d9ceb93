// A job's state is a fold over its events. `apply` is one step: it checks that the event may
// follow the state (right job, next sequence number, a transition the state machine allows, a
// payload of the right shape) and either updates the state or says exactly why not, leaving the
// state untouched. The engine applies an event before logging it; recovery folds the log.
//
//   from       event             to
//   (nothing)  submitted         queued
//   queued     claimed           running      (attempts + 1)
//   queued     cancelled         cancelled
//   running    progress, output, snapshot     running
//   running    succeeded         succeeded
//   running    attempt_failed    failed       (retry_at set)
//   running    dead              dead
//   running    cancelled         cancelled
//   failed     claimed           running      (attempts + 1)
//   failed     dead              dead
//   failed     cancelled         cancelled
//   queued, running, failed: cancel_requested keeps the state and sets cancel_requested.
//   Session jobs (docs/sessions.md) add:
//   running    paused            paused       (the last client stream ended)
//   paused     resumed           running
//   paused     cancelled         cancelled
//   any non-final: input keeps the state (seq > 0, data present)
//   succeeded, dead, cancelled are final: nothing may follow them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job_state.hpp"

namespace respawn::jobs {

struct transition_error {
  enum class code : std::uint8_t {
    wrong_job,            // the event is about another job than the state
    sequence_gap,         // its sequence is not last_sequence + 1 (a gap, or a duplicate)
    not_submitted_first,  // a job's first event must be `submitted`
    after_final_state,    // the job is succeeded, dead or cancelled: final states absorb nothing
    invalid_transition,   // this event cannot follow this state (e.g. succeeded while queued)
    bad_payload,          // the payload lacks what the event type needs, or disagrees with it
  };
  code what = code::invalid_transition;
  job_id job = 0;
  std::uint64_t sequence = 0;
  event_type type = event_type::submitted;
  std::string message{};  // a sentence naming the job, the event and the state
};

std::string_view to_string(transition_error::code code);

// The state a job moves to when `type` follows `from`, or nullopt if the state machine does not
// allow it. Payload and sequence checks are apply's.
std::optional<job_status> next_status(job_status from, event_type type);

// One step of the fold. On error the state is left exactly as it was.
std::optional<transition_error> apply(job_state& state, const event& e);

// Thrown by fold: a log that does not fold is corrupt, and corrupt state is a crash.
class invalid_event_log : public std::runtime_error {
 public:
  explicit invalid_event_log(transition_error error);
  const transition_error& error() const noexcept { return error_; }

 private:
  transition_error error_;
};

// Folds a job's events, in order, from nothing.
job_state fold(std::span<const event> events);

}  // namespace respawn::jobs
