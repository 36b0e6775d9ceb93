// job_status names and job_request's JSON form (the payload of `submitted`, and what idempotency
// compares).
#include "respawn/jobs/job.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <array>
#include <utility>

namespace respawn::jobs {
namespace {
constexpr std::array<std::pair<job_status, std::string_view>, 7> status_names = {{
    {job_status::queued, "queued"},
    {job_status::running, "running"},
    {job_status::succeeded, "succeeded"},
    {job_status::failed, "failed"},
    {job_status::dead, "dead"},
    {job_status::cancelled, "cancelled"},
    {job_status::paused, "paused"},
}};
}  // namespace

std::string_view to_string(job_status status) {
  for (const auto& [s, name] : status_names) {
    if (s == status) return name;
  }
  return "unknown";
}

std::optional<job_status> parse_job_status(std::string_view text) {
  for (const auto& [s, name] : status_names) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool job_request::same_request_as(const job_request& other) const {
  return user == other.user && kind == other.kind && args == other.args &&
         priority == other.priority && attempts_max == other.attempts_max &&
         timeout_ms == other.timeout_ms;
}

void to_json(nlohmann::json& out, const job_request& request) {
  out = nlohmann::json{{"user", request.user},
                       {"kind", request.kind},
                       {"args", request.args},
                       {"priority", request.priority},
                       {"attempts_max", request.attempts_max}};
  if (request.timeout_ms != 0) out["timeout_ms"] = request.timeout_ms;
  if (request.idempotency_key) out["idempotency_key"] = *request.idempotency_key;
}

void from_json(const nlohmann::json& in, job_request& request) {
  request.user = in.at("user").get<std::string>();
  request.kind = in.at("kind").get<std::string>();
  request.args = in.value("args", nlohmann::json::object());
  request.priority = integer_value(in, "priority", std::int32_t{0});
  request.attempts_max = integer_value(in, "attempts_max", std::uint32_t{0});
  request.timeout_ms = integer_value(in, "timeout_ms", std::uint32_t{0});
  if (auto it = in.find("idempotency_key"); it != in.end() && !it->is_null()) {
    request.idempotency_key = it->get<std::string>();
  } else {
    request.idempotency_key.reset();
  }
}

}  // namespace respawn::jobs
