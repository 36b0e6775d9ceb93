// job_json: see job_json.hpp. Pure functions over the domain's types; no I/O.
#include "job_json.hpp"

#include <cstdio>
#include <ctime>
#include <limits>

namespace respawn::http {

namespace {

constexpr std::int64_t max_timeout_ms = 7LL * 24 * 3600 * 1000;  // a week; beyond is a mistake
constexpr std::int64_t max_attempts_limit = 1000;
constexpr std::size_t max_key_bytes = 255;
constexpr std::size_t max_kind_bytes = 128;

nlohmann::json or_null(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

// Common fields of a request (in job JSON and in the `queued` event).
void put_request(nlohmann::json& out, const jobs::job_request& r, std::uint32_t default_max_attempts) {
  out["kind"] = r.kind;
  out["args"] = r.args;
  out["priority"] = r.priority;
  out["max_attempts"] = r.attempts_max != 0 ? r.attempts_max : default_max_attempts;
  out["timeout_ms"] = r.timeout_ms != 0 ? nlohmann::json(r.timeout_ms) : nlohmann::json(nullptr);
  out["idempotency_key"] = r.idempotency_key ? nlohmann::json(*r.idempotency_key) : nlohmann::json(nullptr);
}

std::optional<api_error> read_integer(const nlohmann::json& in, std::string_view where, const char* name,
                                      std::int64_t min, std::int64_t max, std::int64_t& out) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    return unprocessable("invalid_field", std::string{where} + name + " must be an integer");
  }
  // A number beyond int64 parses as unsigned; treat it as out of range, not as wrapped around.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return unprocessable("invalid_field", std::string{where} + name + " must be at most " + std::to_string(max));
  }
  auto v = it->get<std::int64_t>();
  if (v < min || v > max) {
    return unprocessable("invalid_field", std::string{where} + name + " must be between " + std::to_string(min) +
                                              " and " + std::to_string(max));
  }
  out = v;
  return std::nullopt;
}

}  // namespace

std::string format_time(jobs::job_time time) {
  auto us = jobs::to_microseconds(time);
  auto seconds = static_cast<std::time_t>(us / 1'000'000);
  auto fraction = us % 1'000'000;
  if (fraction < 0) {  // before 1970: floor, not truncate
    fraction += 1'000'000;
    --seconds;
  }
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[96];  // room for any int the format could be given (-Wformat-truncation)
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(fraction));
  return buffer;
}

nlohmann::json job_to_json(const jobs::job_state& job, std::uint32_t default_max_attempts) {
  job_defaults defaults;
  defaults.max_attempts = default_max_attempts;
  return job_to_json(job, defaults);
}

nlohmann::json job_to_json(const jobs::job_state& job, const job_defaults& defaults) {
  nlohmann::json out;
  out["id"] = job.id;
  out["state"] = std::string{jobs::to_string(job.status)};
  put_request(out, job.request, defaults.max_attempts);
  // What it runs with: per attempt (its timeout; at most max_attempts of them, so its running
  // time is bounded by their product, plus the retries' backoff), per task, and a cancel's grace.
  auto positive_or_null = [](std::uint32_t v) { return v != 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  out["limits"] = {
      {"timeout_ms", job.request.timeout_ms != 0 ? job.request.timeout_ms : defaults.timeout_ms},
      {"max_attempts", job.request.attempts_max != 0 ? job.request.attempts_max : defaults.max_attempts},
      {"memory_mb", positive_or_null(defaults.memory_mb)},
      {"cpu_seconds", positive_or_null(defaults.cpu_seconds)},
      {"cancel_grace_ms", defaults.cancel_grace_ms},
  };
  out["attempts"] = job.attempts;
  out["result"] = job.result;
  out["error"] = or_null(job.last_error);
  out["progress"] = job.progress;
  out["cancel_requested"] = job.cancel_requested;
  out["retry_at"] = job.retry_at ? nlohmann::json(format_time(*job.retry_at)) : nlohmann::json(nullptr);
  out["created_at"] = format_time(job.created_at);
  out["updated_at"] = format_time(job.updated_at);
  return out;
}

std::string_view sse_event_name(jobs::event_type type) {
  switch (type) {
    case jobs::event_type::submitted:
      return "queued";
    case jobs::event_type::claimed:
      return "running";
    case jobs::event_type::attempt_failed:
      return "retrying";
    default:
      return jobs::to_string(type);
  }
}

std::string sse_message(const jobs::event& e, std::uint32_t default_max_attempts) {
  nlohmann::json data = nlohmann::json::object();
  data["job_id"] = e.job;
  data["seq"] = e.sequence;
  data["time"] = format_time(e.time);
  if (e.type == jobs::event_type::submitted) {
    // The stored payload is the whole request (with the user): show it in the API's words.
    if (auto it = e.payload.find("request"); it != e.payload.end()) {
      try {
        put_request(data, it->get<jobs::job_request>(), default_max_attempts);
      } catch (const nlohmann::json::exception&) {
        // A payload this build cannot read still streams, as the ids and time alone.
      }
    }
  } else if (e.type == jobs::event_type::input) {
    data["input"] = e.payload;  // {seq, data, end}: its seq is the client's, not the event's
  } else if (e.payload.is_object()) {
    for (const auto& [key, value] : e.payload.items()) {
      if (key == "retry_at_us" && value.is_number_integer()) {
        data["retry_at"] = format_time(jobs::from_microseconds(value.get<std::int64_t>()));
      } else {
        data[key] = value;
      }
    }
  }
  std::string out = "id: " + std::to_string(e.sequence) + "\nevent: ";
  out += sse_event_name(e.type);
  out += "\ndata: ";
  // One line (dump() without indentation never writes a newline); invalid UTF-8 replaced, not thrown.
  out += data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += "\n\n";
  return out;
}

std::optional<api_error> parse_job_request(const nlohmann::json& in, std::string_view where, jobs::job_request& out) {
  if (!in.is_object()) return unprocessable("invalid_request", std::string{where} + "a job must be a JSON object");
  for (const auto& [key, value] : in.items()) {
    if (key != "kind" && key != "args" && key != "idempotency_key" && key != "max_attempts" && key != "timeout_ms" &&
        key != "priority") {
      return unprocessable("unknown_field", std::string{where} + "unknown field \"" + key +
                                                "\" (known: kind, args, idempotency_key, max_attempts, timeout_ms, "
                                                "priority)");
    }
  }
  auto kind = in.find("kind");
  if (kind == in.end() || !kind->is_string() || kind->get_ref<const std::string&>().empty()) {
    return unprocessable("invalid_field", std::string{where} + "kind is required and must be a non-empty string");
  }
  if (kind->get_ref<const std::string&>().size() > max_kind_bytes) {
    return unprocessable("invalid_field",
                         std::string{where} + "kind is longer than " + std::to_string(max_kind_bytes) + " bytes");
  }
  out.kind = kind->get<std::string>();
  if (auto args = in.find("args"); args != in.end() && !args->is_null()) {
    if (!args->is_object()) return unprocessable("invalid_field", std::string{where} + "args must be a JSON object");
    out.args = *args;
  } else {
    out.args = nlohmann::json::object();
  }
  if (auto key = in.find("idempotency_key"); key != in.end() && !key->is_null()) {
    if (!key->is_string() || key->get_ref<const std::string&>().empty() ||
        key->get_ref<const std::string&>().size() > max_key_bytes) {
      return unprocessable("invalid_field", std::string{where} + "idempotency_key must be a string of 1 to " +
                                                std::to_string(max_key_bytes) + " bytes");
    }
    out.idempotency_key = key->get<std::string>();
  } else {
    out.idempotency_key.reset();
  }
  std::int64_t attempts = 0, timeout = 0, priority = 0;
  if (auto e = read_integer(in, where, "max_attempts", 1, max_attempts_limit, attempts)) return e;
  if (auto e = read_integer(in, where, "timeout_ms", 1, max_timeout_ms, timeout)) return e;
  if (auto e = read_integer(in, where, "priority", std::numeric_limits<std::int32_t>::min(),
                            std::numeric_limits<std::int32_t>::max(), priority)) {
    return e;
  }
  out.attempts_max = static_cast<std::uint32_t>(attempts);
  out.timeout_ms = static_cast<std::uint32_t>(timeout);
  out.priority = static_cast<std::int32_t>(priority);
  return std::nullopt;
}

}  // namespace respawn::http
