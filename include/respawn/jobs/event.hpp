// Events: everything that happens to a job, in the order it happened. The log of a job's events is
// the truth; its current state is only a fold over them (fold.hpp). Each event carries the job,
// its sequence number within that job (1 for `submitted`, then +1 each: receivers deduplicate by
// (job, sequence), DESIGN.md §4), the time, and a JSON payload whose shape depends on the type.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "respawn/jobs/job.hpp"

namespace respawn::jobs {

enum class event_type : std::uint8_t {
  submitted,         // {request}: the job exists, queued (always sequence 1)
  claimed,           // {attempt}: an attempt starts. Logged when the job is claimed, BEFORE it
                     // runs, so that a job which kills its worker every time is still counted
  progress,          // {progress}: latest progress report (running)
  output,            // {chunk}: a piece of streamed output (running)
  snapshot,          // {snapshot}: a recovery snapshot the next attempt may continue from
  succeeded,         // {result}: final
  attempt_failed,    // {error, retry_at}: the attempt failed; a retry is due at retry_at
  dead,              // {error}: final, no more attempts
  cancel_requested,  // {reason}: a cancel was asked for; a running job keeps running until stopped
  cancelled,         // {}: final
  // Session jobs (docs/sessions.md) only:
  input,             // {seq, data, end}: a client's input, logged once per seq; answered by an
                     // `output` whose chunk carries the same seq
  paused,            // {reason}: the last client stream ended; the session is out of memory
  resumed,           // {}: a client streams again; the session continues from the log
};

inline constexpr std::array<event_type, 13> all_event_types = {
    event_type::submitted,      event_type::claimed, event_type::progress,
    event_type::output,         event_type::snapshot, event_type::succeeded,
    event_type::attempt_failed, event_type::dead,    event_type::cancel_requested,
    event_type::cancelled,      event_type::input,   event_type::paused,
    event_type::resumed,
};

std::string_view to_string(event_type type);
std::optional<event_type> parse_event_type(std::string_view text);

struct event {
  job_id job = 0;
  std::uint64_t sequence = 0;
  job_time time{};
  event_type type = event_type::submitted;
  nlohmann::json payload = nlohmann::json::object();

  bool operator==(const event&) const = default;
};

void to_json(nlohmann::json& out, const event& e);
void from_json(const nlohmann::json& in, event& e);

// One maker per type, so that payloads have one shape everywhere.
event make_submitted(job_id job, job_time time, const job_request& request);
event make_claimed(job_id job, std::uint64_t sequence, job_time time, std::uint32_t attempt);
event make_progress(job_id job, std::uint64_t sequence, job_time time, nlohmann::json progress);
event make_output(job_id job, std::uint64_t sequence, job_time time, nlohmann::json chunk);
event make_snapshot(job_id job, std::uint64_t sequence, job_time time, nlohmann::json snapshot);
event make_succeeded(job_id job, std::uint64_t sequence, job_time time, nlohmann::json result);
event make_attempt_failed(job_id job, std::uint64_t sequence, job_time time, std::string error,
                          job_time retry_at);
event make_dead(job_id job, std::uint64_t sequence, job_time time, std::string error);
event make_cancel_requested(job_id job, std::uint64_t sequence, job_time time, std::string reason);
event make_cancelled(job_id job, std::uint64_t sequence, job_time time);
event make_input(job_id job, std::uint64_t sequence, job_time time, std::uint64_t seq,
                 nlohmann::json data, bool end);
event make_paused(job_id job, std::uint64_t sequence, job_time time, std::string reason);
event make_resumed(job_id job, std::uint64_t sequence, job_time time);

}  // namespace respawn::jobs
