// What a job is before anything happens to it: its id, what was asked (job_request) and the names
// of its states. Pure data, shared by the fold, the fair queue, the retry policy and the store, so
// that all of them speak the same words (docs/jobs.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace respawn::jobs {

// Allocated by the store (seed 000's getIdForNewJob), never reused; 0 means "no job".
using job_id = std::uint64_t;

// Wall-clock time as recorded in the log, to the microsecond. Only ever compared on the node that
// wrote it (DESIGN.md §4, rule 2); the fold never rejects an event for its time.
using job_time = std::chrono::sys_time<std::chrono::microseconds>;

enum class job_status : std::uint8_t {
  queued,     // accepted, waiting for a worker
  running,    // claimed: an attempt is counted and under way
  succeeded,  // final
  failed,     // the last attempt failed and a retry is due at retry_at (not final)
  dead,       // final: out of attempts (a poison job), or given up on
  cancelled,  // final
  paused,     // a session job no client streams: out of memory until one does (docs/sessions.md)
};

std::string_view to_string(job_status status);
std::optional<job_status> parse_job_status(std::string_view text);
constexpr bool is_final(job_status status) {
  return status == job_status::succeeded || status == job_status::dead ||
         status == job_status::cancelled;
}

// What a user asked for. The idempotency key is not part of the request's identity: the same key
// with the same request (same_request_as) names the same job, with another request it conflicts.
struct job_request {
  std::string user{};
  std::string kind{};
  nlohmann::json args = nlohmann::json::object();
  std::int32_t priority = 0;         // higher runs first within the user's own queue
  std::uint32_t attempts_max = 0;    // 0: the retry policy's attempts_max
  std::uint32_t timeout_ms = 0;      // per attempt; a worker is killed past it. 0: the engine's
  std::optional<std::string> idempotency_key{};

  bool same_request_as(const job_request& other) const;
  bool operator==(const job_request&) const = default;
};

void to_json(nlohmann::json& out, const job_request& request);
void from_json(const nlohmann::json& in, job_request& request);

// Microseconds since the epoch, the form times take in JSON payloads and in the store's columns.
constexpr std::int64_t to_microseconds(job_time time) { return time.time_since_epoch().count(); }
constexpr job_time from_microseconds(std::int64_t us) { return job_time{std::chrono::microseconds{us}}; }

}  // namespace respawn::jobs
