// The state machine of a job (the table in fold.hpp) and the fold over its events. apply works on
// a copy and commits it only when every check passed, so a rejected event leaves no trace: the
// engine can try an event before logging it, and the store can refuse an append atomically.
#include "respawn/jobs/fold.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <utility>

namespace respawn::jobs {
namespace {

std::string describe(const event& e) {
  return "job " + std::to_string(e.job) + ": event " + std::to_string(e.sequence) + " (" +
         std::string(to_string(e.type)) + ")";
}

transition_error make_error(transition_error::code code, const event& e, std::string message) {
  return transition_error{.what = code, .job = e.job, .sequence = e.sequence, .type = e.type,
                          .message = std::move(message)};
}

// Reads payload[key] as T, or explains what is wrong with it.
template <class T>
std::optional<std::string> read(const event& e, const char* key, T& out) {
  auto it = e.payload.find(key);
  if (it == e.payload.end()) return std::string("payload has no \"") + key + "\"";
  try {
    if constexpr (std::is_integral_v<T>) {
      out = integer_value<T>(*it);  // never a float cast out of range (found by tests/fuzz)
    } else {
      out = it->get<T>();
    }
  } catch (const nlohmann::json::exception& ex) {
    return std::string("payload's \"") + key + "\" is malformed: " + ex.what();
  }
  return std::nullopt;
}

// Applies the payload of `e` to `next` (a copy of the state, already moved to its new status).
std::optional<std::string> apply_payload(job_state& next, const event& e) {
  switch (e.type) {
    case event_type::submitted: {
      if (auto err = read(e, "request", next.request)) return err;
      next.id = e.job;
      next.created_at = e.time;
      return std::nullopt;
    }
    case event_type::claimed: {
      std::uint32_t attempt = 0;
      if (auto err = read(e, "attempt", attempt)) return err;
      if (attempt != next.attempts + 1) {
        return "claims attempt " + std::to_string(attempt) + " but " +
               std::to_string(next.attempts) + " attempts were started before it";
      }
      next.attempts = attempt;
      next.retry_at.reset();
      return std::nullopt;
    }
    case event_type::progress:
      return read(e, "progress", next.progress);
    case event_type::output:
      if (!e.payload.contains("chunk")) return std::string("payload has no \"chunk\"");
      ++next.outputs;
      return std::nullopt;
    case event_type::snapshot:
      return read(e, "snapshot", next.snapshot);
    case event_type::succeeded:
      if (!e.payload.contains("result")) return std::string("payload has no \"result\"");
      next.result = e.payload.at("result");
      return std::nullopt;
    case event_type::attempt_failed: {
      std::int64_t retry_at_us = 0;
      if (auto err = read(e, "error", next.last_error)) return err;
      if (auto err = read(e, "retry_at_us", retry_at_us)) return err;
      next.retry_at = from_microseconds(retry_at_us);
      return std::nullopt;
    }
    case event_type::dead:
      next.retry_at.reset();
      return read(e, "error", next.last_error);
    case event_type::cancel_requested:
      next.cancel_requested = true;
      return std::nullopt;
    case event_type::cancelled:
      next.retry_at.reset();
      return std::nullopt;
    case event_type::input: {
      std::uint64_t seq = 0;
      if (auto err = read(e, "seq", seq)) return err;
      if (seq == 0) return std::string("input seq must be positive");
      if (!e.payload.contains("data")) return std::string("payload has no \"data\"");
      return std::nullopt;
    }
    case event_type::paused:
    case event_type::resumed:
      return std::nullopt;
  }
  return std::string("unknown event type");
}

}  // namespace

std::string_view to_string(transition_error::code code) {
  switch (code) {
    case transition_error::code::wrong_job: return "wrong_job";
    case transition_error::code::sequence_gap: return "sequence_gap";
    case transition_error::code::not_submitted_first: return "not_submitted_first";
    case transition_error::code::after_final_state: return "after_final_state";
    case transition_error::code::invalid_transition: return "invalid_transition";
    case transition_error::code::bad_payload: return "bad_payload";
  }
  return "unknown";
}

std::optional<job_status> next_status(job_status from, event_type type) {
  using s = job_status;
  using t = event_type;
  if (is_final(from)) return std::nullopt;
  switch (type) {
    case t::submitted:
      return std::nullopt;  // only ever the first event, handled by apply
    case t::claimed:
      if (from == s::queued || from == s::failed) return s::running;
      return std::nullopt;
    case t::progress:
    case t::output:
    case t::snapshot:
      if (from == s::running) return s::running;
      return std::nullopt;
    case t::succeeded:
      if (from == s::running) return s::succeeded;
      return std::nullopt;
    case t::attempt_failed:
      if (from == s::running) return s::failed;
      return std::nullopt;
    case t::dead:
      if (from == s::running || from == s::failed) return s::dead;
      return std::nullopt;
    case t::cancel_requested:
      return from;  // queued, running, failed: only the flag changes
    case t::cancelled:
      return s::cancelled;  // from any non-final state
    case t::input:
      return from;  // a session job takes input whether it runs, waits or is paused
    case t::paused:
      if (from == s::running) return s::paused;
      return std::nullopt;
    case t::resumed:
      if (from == s::paused) return s::running;
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<transition_error> apply(job_state& state, const event& e) {
  using code = transition_error::code;
  if (state.empty()) {
    if (e.type != event_type::submitted) {
      return make_error(code::not_submitted_first, e,
                        describe(e) + ": a job's first event must be submitted");
    }
    if (e.sequence != 1) {
      return make_error(code::sequence_gap, e,
                        describe(e) + ": submitted must be sequence 1");
    }
  } else {
    if (e.job != state.id) {
      return make_error(code::wrong_job, e,
                        describe(e) + " applied to the state of job " +
                            std::to_string(state.id));
    }
    if (e.sequence != state.last_sequence + 1) {
      return make_error(code::sequence_gap, e,
                        describe(e) + ": expected sequence " +
                            std::to_string(state.last_sequence + 1));
    }
    if (is_final(state.status)) {
      return make_error(code::after_final_state, e,
                        describe(e) + " after the final state " +
                            std::string(to_string(state.status)));
    }
  }

  job_state next = state;
  if (state.empty()) {
    next.status = job_status::queued;
  } else {
    auto to = next_status(state.status, e.type);
    if (!to) {
      return make_error(code::invalid_transition, e,
                        describe(e) + " cannot follow state " +
                            std::string(to_string(state.status)));
    }
    next.status = *to;
  }
  if (auto problem = apply_payload(next, e)) {
    return make_error(code::bad_payload, e, describe(e) + ": " + *problem);
  }
  next.last_sequence = e.sequence;
  next.updated_at = e.time;
  state = std::move(next);
  return std::nullopt;
}

invalid_event_log::invalid_event_log(transition_error error)
    : std::runtime_error("invalid event log: " + error.message), error_(std::move(error)) {}

job_state fold(std::span<const event> events) {
  job_state state;
  for (const event& e : events) {
    if (auto error = apply(state, e)) throw invalid_event_log(std::move(*error));
  }
  return state;
}

}  // namespace respawn::jobs
