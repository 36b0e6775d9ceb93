// The API's JSON vocabulary for jobs and their events, and the validation of submitted jobs. The
// engine's words (job_state, event types, attempts_max) map here to the API's (state, SSE event
// names, max_attempts), in one place, so the routes and the SSE stream cannot drift apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job.hpp"
#include "respawn/jobs/job_state.hpp"

namespace respawn::http {

// RFC 3339 in UTC, to the microsecond: "2026-11-28T09:11:36.123456Z".
std::string format_time(jobs::job_time time);

// The node's defaults for what a request leaves unset, and the limits no request sets (the
// server's configuration: serve's flags). Shown in a job's "limits" (docs/jobs.md, "Limits").
struct job_defaults {
  std::uint32_t max_attempts = 5;
  std::uint32_t timeout_ms = 60000;   // per attempt
  std::uint32_t memory_mb = 0;        // per task; 0: none
  std::uint32_t cpu_seconds = 0;      // per task; 0: none
  std::uint32_t cancel_grace_ms = 5000;
};

// A job as GET /v1/jobs/ID shows it, with "limits": the effective timeout_ms and max_attempts
// (the request's, else the defaults'), memory_mb and cpu_seconds (null: none), cancel_grace_ms.
nlohmann::json job_to_json(const jobs::job_state& job, const job_defaults& defaults);
// The same with only `default_max_attempts` known (standing in for a request's 0).
nlohmann::json job_to_json(const jobs::job_state& job, std::uint32_t default_max_attempts);

// The SSE `event:` name of an event type: queued (submitted), running (claimed), retrying
// (attempt_failed), and the type's own name for the others.
std::string_view sse_event_name(jobs::event_type type);
// One SSE message: "id: SEQ\nevent: NAME\ndata: JSON\n\n".
std::string sse_message(const jobs::event& e, std::uint32_t default_max_attempts);

// Reads one job of a submission body into `out` (user, kind, args, priority, attempts_max,
// timeout_ms, idempotency_key). Unknown fields and wrong types are errors (422), so that a typo
// ("max_attempt") is not silently ignored. `where` prefixes messages ("jobs[3]: ").
std::optional<api_error> parse_job_request(const nlohmann::json& in, std::string_view where, jobs::job_request& out);

}  // namespace respawn::http
