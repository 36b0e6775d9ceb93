// A job's current state: what folding its events gives (fold.hpp). The store keeps one such row
// per job beside the log so that reads need no replay; the fault-injection test checks that the
// row always equals the fold of the job's events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "respawn/jobs/job.hpp"

namespace respawn::jobs {

struct job_state {
  job_id id = 0;
  job_request request{};
  job_status status = job_status::queued;
  std::uint64_t last_sequence = 0;    // 0: nothing folded yet (not even `submitted`)
  std::uint32_t attempts = 0;         // attempts started: the number of `claimed` events
  job_time created_at{};
  job_time updated_at{};
  std::optional<job_time> retry_at{};   // while failed: when the next attempt is due
  std::string last_error{};             // of the last failed attempt (or of `dead`)
  nlohmann::json result{};              // null until succeeded
  nlohmann::json progress{};            // latest progress report, null if none
  nlohmann::json snapshot{};            // latest snapshot, null if none
  std::uint64_t outputs = 0;          // `output` events so far (the chunks stay in the log)
  bool cancel_requested = false;

  bool empty() const { return last_sequence == 0; }
  bool operator==(const job_state&) const = default;
};

void to_json(nlohmann::json& out, const job_state& state);
void from_json(const nlohmann::json& in, job_state& state);

}  // namespace respawn::jobs
