// The JSON form of a job's current state: the store keeps it in the `jobs` row, and tests compare
// it with the fold of the job's events, so it must round-trip exactly.
#include "respawn/jobs/job_state.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <stdexcept>

namespace respawn::jobs {

void to_json(nlohmann::json& out, const job_state& state) {
  out = nlohmann::json{{"id", state.id},
                       {"request", state.request},
                       {"status", to_string(state.status)},
                       {"last_sequence", state.last_sequence},
                       {"attempts", state.attempts},
                       {"created_at_us", to_microseconds(state.created_at)},
                       {"updated_at_us", to_microseconds(state.updated_at)},
                       {"retry_at_us", state.retry_at ? nlohmann::json(to_microseconds(*state.retry_at))
                                                      : nlohmann::json()},
                       {"last_error", state.last_error},
                       {"result", state.result},
                       {"progress", state.progress},
                       {"snapshot", state.snapshot},
                       {"outputs", state.outputs},
                       {"cancel_requested", state.cancel_requested}};
}

void from_json(const nlohmann::json& in, job_state& state) {
  state.id = in.at("id").get<job_id>();
  state.request = in.at("request").get<job_request>();
  auto status = parse_job_status(in.at("status").get<std::string>());
  if (!status) throw std::invalid_argument("unknown job status " + in.at("status").dump());
  state.status = *status;
  state.last_sequence = integer_value<std::uint64_t>(in.at("last_sequence"));
  state.attempts = integer_value<std::uint32_t>(in.at("attempts"));
  state.created_at = from_microseconds(integer_value<std::int64_t>(in.at("created_at_us")));
  state.updated_at = from_microseconds(integer_value<std::int64_t>(in.at("updated_at_us")));
  const auto& retry = in.at("retry_at_us");
  state.retry_at = retry.is_null() ? std::nullopt
                                   : std::optional<job_time>(from_microseconds(integer_value<std::int64_t>(retry)));
  state.last_error = in.at("last_error").get<std::string>();
  state.result = in.at("result");
  state.progress = in.at("progress");
  state.snapshot = in.at("snapshot");
  state.outputs = integer_value<std::uint64_t>(in.at("outputs"));
  state.cancel_requested = in.at("cancel_requested").get<bool>();
}

}  // namespace respawn::jobs
