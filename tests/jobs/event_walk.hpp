// A small generator of VALID event sequences: it walks the job state machine, choosing at each
// step one of the events the current state allows (from its own table, written independently of
// fold.cpp's, so the fold is checked against a second statement of the rules). Used by the fold's
// property test, and by the store's tests to drive realistic workloads.
#pragma once

#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job.hpp"
#include "respawn/jobs/job_state.hpp"

namespace respawn::jobs {
// How gtest prints our values in a failure message (found by argument-dependent lookup).
inline void PrintTo(const job_state& s, std::ostream* out) { *out << nlohmann::json(s).dump(); }
inline void PrintTo(const event& e, std::ostream* out) { *out << nlohmann::json(e).dump(); }
inline void PrintTo(const job_request& r, std::ostream* out) { *out << nlohmann::json(r).dump(); }
inline void PrintTo(job_status s, std::ostream* out) { *out << to_string(s); }
}  // namespace respawn::jobs

namespace respawn::jobs::testing {

struct walk {
  std::vector<event> events{};
  std::vector<job_status> statuses{};  // the model's status after each event
  std::uint32_t claims = 0;
};

// The events the model allows after `status` (never `submitted`).
inline std::vector<event_type> allowed_after(job_status status) {
  using t = event_type;
  switch (status) {
    case job_status::queued:
      return {t::claimed, t::cancel_requested, t::cancelled, t::input};
    case job_status::running:
      return {t::progress, t::output,   t::snapshot,         t::succeeded, t::attempt_failed,
              t::dead,     t::cancel_requested, t::cancelled, t::input,    t::paused};
    case job_status::failed:
      return {t::claimed, t::dead, t::cancel_requested, t::cancelled, t::input};
    case job_status::paused:
      return {t::resumed, t::cancel_requested, t::cancelled, t::input};
    default:
      return {};
  }
}

// The model's status after `type` follows `status` (assumes it is allowed).
inline job_status model_next(job_status status, event_type type) {
  switch (type) {
    case event_type::claimed: return job_status::running;
    case event_type::succeeded: return job_status::succeeded;
    case event_type::attempt_failed: return job_status::failed;
    case event_type::dead: return job_status::dead;
    case event_type::cancelled: return job_status::cancelled;
    case event_type::paused: return job_status::paused;
    case event_type::resumed: return job_status::running;
    default: return status;
  }
}

// An event of `type` for the state the walk is in, with a well-formed payload.
inline event make_event(event_type type, job_id job, std::uint64_t sequence, job_time time,
                        std::uint32_t attempts_so_far) {
  switch (type) {
    case event_type::submitted:
      return make_submitted(job, time, job_request{.user = "u", .kind = "k"});
    case event_type::claimed: return make_claimed(job, sequence, time, attempts_so_far + 1);
    case event_type::progress:
      return make_progress(job, sequence, time, {{"done", sequence}});
    case event_type::output: return make_output(job, sequence, time, "line " + std::to_string(sequence));
    case event_type::snapshot:
      return make_snapshot(job, sequence, time, {{"at", sequence}});
    case event_type::succeeded: return make_succeeded(job, sequence, time, sequence * 2);
    case event_type::attempt_failed:
      return make_attempt_failed(job, sequence, time, "boom " + std::to_string(sequence),
                                 time + std::chrono::seconds(1));
    case event_type::dead: return make_dead(job, sequence, time, "out of attempts");
    case event_type::cancel_requested:
      return make_cancel_requested(job, sequence, time, "user asked");
    case event_type::cancelled: return make_cancelled(job, sequence, time);
    case event_type::input: return make_input(job, sequence, time, sequence, {{"line", sequence}}, false);
    case event_type::paused: return make_paused(job, sequence, time, "the stream ended");
    case event_type::resumed: return make_resumed(job, sequence, time);
  }
  return make_cancelled(job, sequence, time);
}

// Walks from `submitted`, one step per choice, stopping at a final state.
inline walk walk_state_machine(job_id job, std::span<const std::uint8_t> choices,
                               job_time start = from_microseconds(1'700'000'000'000'000)) {
  walk w;
  job_time time = start;
  w.events.push_back(make_event(event_type::submitted, job, 1, time, 0));
  w.statuses.push_back(job_status::queued);
  for (std::uint8_t choice : choices) {
    const job_status status = w.statuses.back();
    const auto allowed = allowed_after(status);
    if (allowed.empty()) break;
    const event_type type = allowed[choice % allowed.size()];
    time += std::chrono::milliseconds(choice + 1);
    w.events.push_back(make_event(type, job, w.events.size() + 1, time, w.claims));
    if (type == event_type::claimed) ++w.claims;
    w.statuses.push_back(model_next(status, type));
  }
  return w;
}

}  // namespace respawn::jobs::testing
