// Event type names, the JSON form of an event, and one maker per event type so that every
// payload has exactly the shape fold.cpp reads.
#include "respawn/jobs/event.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <utility>

namespace respawn::jobs {
namespace {
constexpr std::array<std::pair<event_type, std::string_view>, 13> type_names = {{
    {event_type::submitted, "submitted"},
    {event_type::claimed, "claimed"},
    {event_type::progress, "progress"},
    {event_type::output, "output"},
    {event_type::snapshot, "snapshot"},
    {event_type::succeeded, "succeeded"},
    {event_type::attempt_failed, "attempt_failed"},
    {event_type::dead, "dead"},
    {event_type::cancel_requested, "cancel_requested"},
    {event_type::cancelled, "cancelled"},
    {event_type::input, "input"},
    {event_type::paused, "paused"},
    {event_type::resumed, "resumed"},
}};

event make(job_id job, std::uint64_t sequence, job_time time, event_type type,
           nlohmann::json payload) {
  return event{.job = job, .sequence = sequence, .time = time, .type = type,
               .payload = std::move(payload)};
}
}  // namespace

std::string_view to_string(event_type type) {
  for (const auto& [t, name] : type_names) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<event_type> parse_event_type(std::string_view text) {
  for (const auto& [t, name] : type_names) {
    if (name == text) return t;
  }
  return std::nullopt;
}

void to_json(nlohmann::json& out, const event& e) {
  out = nlohmann::json{{"job", e.job},
                       {"sequence", e.sequence},
                       {"time_us", to_microseconds(e.time)},
                       {"type", to_string(e.type)},
                       {"payload", e.payload}};
}

void from_json(const nlohmann::json& in, event& e) {
  e.job = in.at("job").get<job_id>();
  e.sequence = integer_value<std::uint64_t>(in.at("sequence"));
  e.time = from_microseconds(integer_value<std::int64_t>(in.at("time_us")));
  auto type = parse_event_type(in.at("type").get<std::string>());
  if (!type) throw std::invalid_argument("unknown event type " + in.at("type").dump());
  e.type = *type;
  e.payload = in.value("payload", nlohmann::json::object());
}

event make_submitted(job_id job, job_time time, const job_request& request) {
  return make(job, 1, time, event_type::submitted, {{"request", request}});
}
event make_claimed(job_id job, std::uint64_t sequence, job_time time, std::uint32_t attempt) {
  return make(job, sequence, time, event_type::claimed, {{"attempt", attempt}});
}
event make_progress(job_id job, std::uint64_t sequence, job_time time, nlohmann::json progress) {
  return make(job, sequence, time, event_type::progress, {{"progress", std::move(progress)}});
}
event make_output(job_id job, std::uint64_t sequence, job_time time, nlohmann::json chunk) {
  return make(job, sequence, time, event_type::output, {{"chunk", std::move(chunk)}});
}
event make_snapshot(job_id job, std::uint64_t sequence, job_time time, nlohmann::json snapshot) {
  return make(job, sequence, time, event_type::snapshot, {{"snapshot", std::move(snapshot)}});
}
event make_succeeded(job_id job, std::uint64_t sequence, job_time time, nlohmann::json result) {
  return make(job, sequence, time, event_type::succeeded, {{"result", std::move(result)}});
}
event make_attempt_failed(job_id job, std::uint64_t sequence, job_time time, std::string error,
                          job_time retry_at) {
  return make(job, sequence, time, event_type::attempt_failed,
              {{"error", std::move(error)}, {"retry_at_us", to_microseconds(retry_at)}});
}
event make_dead(job_id job, std::uint64_t sequence, job_time time, std::string error) {
  return make(job, sequence, time, event_type::dead, {{"error", std::move(error)}});
}
event make_cancel_requested(job_id job, std::uint64_t sequence, job_time time,
                            std::string reason) {
  return make(job, sequence, time, event_type::cancel_requested, {{"reason", std::move(reason)}});
}
event make_cancelled(job_id job, std::uint64_t sequence, job_time time) {
  return make(job, sequence, time, event_type::cancelled, nlohmann::json::object());
}
event make_input(job_id job, std::uint64_t sequence, job_time time, std::uint64_t seq,
                 nlohmann::json data, bool end) {
  return make(job, sequence, time, event_type::input,
              {{"seq", seq}, {"data", std::move(data)}, {"end", end}});
}
event make_paused(job_id job, std::uint64_t sequence, job_time time, std::string reason) {
  return make(job, sequence, time, event_type::paused, {{"reason", std::move(reason)}});
}
event make_resumed(job_id job, std::uint64_t sequence, job_time time) {
  return make(job, sequence, time, event_type::resumed, nlohmann::json::object());
}

}  // namespace respawn::jobs
