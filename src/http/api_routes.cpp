// api_routes: see api_routes.hpp. Each route checks its input completely before it touches the
// engine, so that a bad request never reaches the dispatcher, and maps every failure to one
// api_error (api_error.hpp): nothing here may crash the node because a client sent garbage.
#include "api_routes.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>
#include <thread>
#include <variant>

#include "job_json.hpp"
#include "request_target.hpp"
#include "respawn/jobs/json_limits.hpp"
#include "respawn/engine.hpp"
#include "respawn/runtime.hpp"
#include "store/job_store.hpp"

namespace respawn::http {

namespace {

constexpr std::size_t list_limit_max = 1000;
constexpr std::size_t list_limit_default = 100;
// Jobs and events are read from the store this many at a time while a page fills up to its byte
// budget (max_page_bytes), so that a page of large jobs is not parsed whole before it is cut.
constexpr std::size_t store_chunk = 32;
constexpr std::size_t idempotency_key_max_bytes = 255;
// How long a cancel waits for its effect to be durable before answering with the job as stored.
constexpr std::chrono::milliseconds cancel_settle_max{1000};

// The limits a job meets when its request sets none, as the server was configured (serve's flags).
job_defaults defaults_of(const server_config& config) {
  job_defaults d;
  d.max_attempts = config.default_max_attempts;
  d.timeout_ms = config.default_timeout_ms;
  d.memory_mb = config.task_memory_mb;
  d.cpu_seconds = config.task_cpu_seconds;
  d.cancel_grace_ms = config.cancel_grace_ms;
  return d;
}

api_response json_response(unsigned status, const nlohmann::json& body) {
  api_response r;
  r.status = status;
  // Invalid UTF-8 replaced, never thrown: an error message may quote what the client sent (a
  // path that is not UTF-8 once decoded was a 500; found by tests/fuzz), and a stored string may
  // hold any bytes a worker wrote.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

api_error method_not_allowed(std::string_view method, std::string allowed) {
  api_error e{405, "method_not_allowed", std::string{method} + " is not allowed here (allowed: " + allowed + ")"};
  e.allow = std::move(allowed);
  return e;
}

// Strict unsigned decimal: no sign, no spaces, no overflow.
std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An id or event sequence: the store keeps them as SQLite's signed 64-bit integers, so a larger
// number would wrap negative there and mean "from the start" (review F19). nullopt instead.
std::optional<std::uint64_t> parse_position(std::string_view text) {
  auto value = parse_unsigned(text);
  if (!value || *value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return value;
}

std::optional<std::string> bearer_token(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  std::string_view h = *header;
  constexpr std::string_view scheme = "bearer ";
  if (h.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {  // the scheme is case-insensitive (RFC 7235)
    if (std::tolower(static_cast<unsigned char>(h[i])) != scheme[i]) return std::nullopt;
  }
  h.remove_prefix(scheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  if (h.empty()) return std::nullopt;
  return std::string{h};
}

api_error store_failure(const store::store_error& e) {
  return unavailable("store_unavailable", "the job store failed: " + e.message);
}

// The engine's submission errors in the API's words.
api_error submit_failure(const engine::submit_reply& reply) {
  switch (reply.error_code) {
    case engine::engine_errc::overloaded:
      return {429, "overloaded", "too many jobs are waiting; try again later (" + reply.error + ")", "1"};
    case engine::engine_errc::idempotency_conflict:
      return {409, "idempotency_conflict", "this idempotency key names a job with a different request: " + reply.error};
    case engine::engine_errc::invalid_request:
      return unprocessable("invalid_request", reply.error);
    case engine::engine_errc::disk_full:
      return {503, "disk_full", "the job store's disk is full; try again later: " + reply.error, "5"};
    case engine::engine_errc::unavailable:
      return unavailable("store_unavailable", "the job could not be stored: " + reply.error);
    case engine::engine_errc::none:
      break;
  }
  return unavailable("engine_error", reply.error);
}

respawn::pid resolve_dispatcher(runtime& rt, const std::string& name, respawn::pid known) {
  if (!name.empty() && !rt.alive(known)) {
    if (auto now = rt.whereis(name)) return now;
  }
  return known;
}

struct routes_context {
  runtime& rt;
  const server_config& config;
  respawn::pid dispatcher;
  store::job_store& store;
  slot_count& streams;
  std::string user;
  std::string token;
};

// A job of this user, or 404: another user's job is indistinguishable from a missing one, so
// that ids reveal nothing about other users.
//
// The owner is read first, from its own column, and the row is loaded only for its owner: loading
// and parsing another user's whole row (up to max_body_bytes of args) before the comparison made
// the 404 slower for existing jobs, an oracle on other users' jobs and their sizes (review F18).
std::variant<jobs::job_state, api_error> owned_job(const routes_context& c, std::string_view id_text) {
  auto id = parse_position(id_text);
  if (!id || *id == 0) return not_found("no job " + std::string{id_text});
  auto owner = c.store.owner_of(*id);
  if (!owner.ok()) {
    if (owner.error().code == store::store_errc::not_found) return not_found("no job " + std::string{id_text});
    return store_failure(owner.error());
  }
  if (owner.value() != c.user) return not_found("no job " + std::string{id_text});
  auto job = c.store.get(*id);
  if (!job.ok()) {
    if (job.error().code == store::store_errc::not_found) return not_found("no job " + std::string{id_text});
    return store_failure(job.error());
  }
  if (job.value().request.user != c.user) return not_found("no job " + std::string{id_text});
  return std::move(job).value();
}

std::optional<api_error> parse_body(const api_request& request, nlohmann::json& out) {
  // Depth-limited (F1): a deeply nested body would overflow the stack when copied or dumped.
  auto parsed = jobs::parse_json(request.body, jobs::json_depth_max);
  if (!parsed.ok()) {
    if (parsed.error().code == jobs::json_errc::too_deep) {
      return bad_request("invalid_json", "the body is nested deeper than " +
                                             std::to_string(jobs::json_depth_max) + " levels");
    }
    return bad_request("invalid_json",
                       request.body.empty() ? "the body must be JSON, and is empty" : "the body is not valid JSON");
  }
  out = std::move(parsed).value();
  if (!out.is_object()) return bad_request("invalid_json", "the body must be a JSON object");
  return std::nullopt;
}

// A job's args, within max_args_bytes (as JSON text): the engine keeps them in memory while the
// job is unfinished, and the store rewrites them with its state row (review F6).
std::optional<api_error> check_args_size(const routes_context& c, const jobs::job_request& r, std::string_view where) {
  auto bytes = r.args.dump().size();
  if (bytes > c.config.max_args_bytes) {
    return api_error{413, "args_too_large",
                     std::string{where} + "args are " + std::to_string(bytes) + " bytes as JSON; at most " +
                         std::to_string(c.config.max_args_bytes) + " are allowed"};
  }
  return std::nullopt;
}

std::optional<api_error> check_kind(const routes_context& c, const jobs::job_request& r, std::string_view where) {
  if (c.config.kind_exists && !c.config.kind_exists(r.kind)) {
    return unprocessable("unknown_kind", std::string{where} + "no job kind \"" + r.kind + "\"");
  }
  return std::nullopt;
}

bool is_session_job(const routes_context& c, const jobs::job_state& job) {
  return c.config.is_session_kind && c.config.is_session_kind(job.request.kind);
}

// A session's refusals in the API's words.
api_error session_failure(jobs::job_id id, const engine::session_reply& reply) {
  const auto& code = reply.error_code;
  if (code == "input_conflict" || code == "input_after_end" || code == "job_finished" ||
      code == "not_a_session_job") {
    return {409, code, reply.error};
  }
  if (code == "not_found") return not_found("no job " + std::to_string(id));
  if (code == "overloaded") return {429, "overloaded", reply.error, "1"};  // too many unanswered inputs
  if (code == "invalid_request") return unprocessable("invalid_request", reply.error);
  return unavailable("engine_unavailable", "session " + std::to_string(id) + ": " + reply.error);
}

// POST /v1/jobs/ID/input {"seq": N, "data": ..., "end": false}: 202 once the input is durable.
api_response session_input(const routes_context& c, const api_request& request, std::string_view id_text) {
  auto owned = owned_job(c, id_text);
  if (auto* e = std::get_if<api_error>(&owned)) return to_response(*e);
  const auto& job = std::get<jobs::job_state>(owned);
  if (!is_session_job(c, job)) {
    return to_response({409, "not_a_session_job", "job " + std::string{id_text} + " (kind " + job.request.kind +
                                                      ") is not a session job: it takes no input"});
  }
  nlohmann::json body;
  if (auto e = parse_body(request, body)) return to_response(*e);
  for (const auto& [key, value] : body.items()) {
    if (key != "seq" && key != "data" && key != "end") {
      return to_response(unprocessable("unknown_field", "unknown field \"" + key + "\" (known: seq, data, end)"));
    }
  }
  auto seq = body.find("seq");
  if (seq == body.end() || !seq->is_number_unsigned() || seq->get<std::uint64_t>() == 0) {
    return to_response(unprocessable("invalid_field", "seq is required and must be a positive integer"));
  }
  engine::session_request r;
  r.what = engine::session_request::op::input;
  r.seq = seq->get<std::uint64_t>();
  if (auto end = body.find("end"); end != body.end() && !end->is_null()) {
    if (!end->is_boolean()) return to_response(unprocessable("invalid_field", "end must be true or false"));
    r.end = end->get<bool>();
  }
  auto data = body.find("data");
  if (data == body.end() && !r.end) {
    return to_response(unprocessable("invalid_field", "data is required (any JSON value) unless end is true"));
  }
  r.data = data == body.end() ? nlohmann::json(nullptr) : std::move(*data);
  if (auto bytes = r.data.dump().size(); bytes > c.config.max_input_bytes) {
    return to_response({413, "input_too_large", "data is " + std::to_string(bytes) + " bytes as JSON; at most " +
                                                    std::to_string(c.config.max_input_bytes) + " are allowed"});
  }
  if (jobs::is_final(job.status)) {
    return to_response({409, "job_finished", "job " + std::to_string(job.id) + " is " +
                                                 std::string{jobs::to_string(job.status)} + ": it takes no more input"});
  }
  auto answer = engine::call_session(c.rt, c.dispatcher, job.id, r, c.config.call_timeout);
  if (!answer.ok) return to_response(session_failure(job.id, answer));
  return json_response(202, {{"id", job.id},
                             {"seq", r.seq},
                             {"duplicate", answer.duplicate},
                             {"state", std::string{jobs::to_string(answer.status)}}});
}

// Submits through the dispatcher (durable when it answers) and reads the jobs back.
std::variant<std::vector<std::pair<jobs::job_state, bool>>, api_error> submit(const routes_context& c,
                                                                              std::vector<jobs::job_request> requests) {
  auto reply =
      c.rt.call<engine::submit_reply>(c.dispatcher, engine::submit_jobs{std::move(requests)}, c.config.call_timeout);
  if (!reply.ok()) {
    return unavailable("engine_unavailable", "the job engine did not answer: " + reply.error().message());
  }
  if (!reply.value().ok) return submit_failure(reply.value());
  std::vector<std::pair<jobs::job_state, bool>> out;
  out.reserve(reply.value().jobs.size());
  for (const auto& j : reply.value().jobs) {
    auto state = c.store.get(j.id);
    if (!state.ok()) return store_failure(state.error());
    out.emplace_back(std::move(state).value(), j.existing);
  }
  return out;
}

api_response submit_one(const routes_context& c, const api_request& request) {
  nlohmann::json body;
  if (auto e = parse_body(request, body)) return to_response(*e);
  jobs::job_request r;
  if (auto e = parse_job_request(body, "", r)) return to_response(*e);
  if (auto e = check_args_size(c, r, "")) return to_response(*e);
  if (request.idempotency_key) {
    const auto& key = *request.idempotency_key;
    if (key.empty() || key.size() > idempotency_key_max_bytes) {
      return to_response(unprocessable("invalid_header", "the Idempotency-Key header must be 1 to 255 bytes"));
    }
    if (r.idempotency_key && *r.idempotency_key != key) {
      return to_response(unprocessable("idempotency_key_mismatch",
                                       "the Idempotency-Key header and the body's idempotency_key differ"));
    }
    r.idempotency_key = key;
  }
  if (auto e = check_kind(c, r, "")) return to_response(*e);
  r.user = c.user;
  auto result = submit(c, {std::move(r)});
  if (auto* e = std::get_if<api_error>(&result)) return to_response(*e);
  auto& [job, existing] = std::get<0>(result).at(0);
  return json_response(existing ? 200 : 201, job_to_json(job, defaults_of(c.config)));
}

api_response submit_batch(const routes_context& c, const api_request& request) {
  if (request.idempotency_key) {
    return to_response(
        unprocessable("invalid_header", "a batch takes an idempotency_key per job, not an Idempotency-Key header"));
  }
  nlohmann::json body;
  if (auto e = parse_body(request, body)) return to_response(*e);
  for (const auto& [key, value] : body.items()) {
    if (key != "jobs") {
      return to_response(unprocessable("unknown_field", "unknown field \"" + key + "\" (known: jobs)"));
    }
  }
  auto list = body.find("jobs");
  if (list == body.end() || !list->is_array()) {
    return to_response(unprocessable("invalid_field", "jobs is required and must be an array"));
  }
  if (list->empty()) return to_response(unprocessable("invalid_field", "jobs must not be empty"));
  if (list->size() > c.config.max_batch) {
    return to_response(unprocessable("batch_too_large", "at most " + std::to_string(c.config.max_batch) +
                                                            " jobs in one batch; this one has " +
                                                            std::to_string(list->size())));
  }
  std::vector<jobs::job_request> requests(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto where = "jobs[" + std::to_string(i) + "]: ";
    if (auto e = parse_job_request((*list)[i], where, requests[i])) return to_response(*e);
    if (auto e = check_args_size(c, requests[i], where)) return to_response(*e);
    if (auto e = check_kind(c, requests[i], where)) return to_response(*e);
    requests[i].user = c.user;
  }
  auto result = submit(c, std::move(requests));
  if (auto* e = std::get_if<api_error>(&result)) return to_response(*e);
  nlohmann::json jobs_json = nlohmann::json::array();
  bool any_new = false;
  for (auto& [job, existing] : std::get<0>(result)) {
    jobs_json.push_back(job_to_json(job, defaults_of(c.config)));
    any_new = any_new || !existing;
  }
  return json_response(any_new ? 201 : 200, {{"jobs", std::move(jobs_json)}});
}

api_response list_jobs(const routes_context& c, const request_target& target) {
  store::job_filter filter;
  filter.user = c.user;
  filter.limit = list_limit_default;
  for (const auto& [name, value] : target.query) {
    if (name == "state") {
      auto status = jobs::parse_job_status(value);
      if (!status) {
        return to_response(unprocessable("invalid_parameter",
                                         "state must be one of queued, running, succeeded, "
                                         "failed, dead, cancelled; not \"" +
                                             value + "\""));
      }
      filter.status = status;
    } else if (name == "kind") {
      if (!value.empty()) filter.kind = value;
    } else if (name == "after_id") {
      auto id = parse_position(value);
      if (!id) return to_response(unprocessable("invalid_parameter", "after_id must be a job id"));
      filter.after_id = *id;
    } else if (name == "limit") {
      auto limit = parse_unsigned(value);
      if (!limit || *limit == 0 || *limit > list_limit_max) {
        return to_response(
            unprocessable("invalid_parameter", "limit must be between 1 and " + std::to_string(list_limit_max)));
      }
      filter.limit = static_cast<std::size_t>(*limit);
    } else {
      return to_response(unprocessable("unknown_parameter",
                                       "unknown parameter \"" + name + "\" (known: state, kind, after_id, limit)"));
    }
  }
  // The page ends at `limit` jobs or once it holds max_page_bytes, whichever comes first (a page
  // of large jobs cost hundreds of MB: review F6); next_after_id says where the rest begins. The
  // JSON is built as text, job by job, so that its size is known as it grows.
  const std::size_t limit = filter.limit;
  std::string jobs_text;
  std::size_t count = 0;
  std::optional<jobs::job_id> next_after_id;
  bool full = false;
  while (!full) {
    filter.limit = std::min(store_chunk, limit - count);
    auto page = c.store.list(filter);
    if (!page.ok()) return to_response(store_failure(page.error()));
    for (const auto& job : page.value().jobs) {
      if (count > 0 && jobs_text.size() >= c.config.max_page_bytes) {
        full = true;
        break;
      }
      if (count > 0) jobs_text += ',';
      jobs_text += job_to_json(job, defaults_of(c.config)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      ++count;
      next_after_id = job.id;
      filter.after_id = job.id;
    }
    if (!full && (!page.value().next_after_id || count == limit)) {
      // The store has no more (a short chunk), or the count is reached: the store's own
      // next_after_id says whether more may follow.
      if (!page.value().next_after_id) next_after_id.reset();
      break;
    }
  }
  api_response r;
  r.status = 200;
  r.body = "{\"jobs\":[" + jobs_text + "],\"next_after_id\":" +
           (next_after_id ? std::to_string(*next_after_id) : std::string{"null"}) + "}";
  return r;
}

api_response cancel(const routes_context& c, std::string_view id_text) {
  auto owned = owned_job(c, id_text);
  if (auto* e = std::get_if<api_error>(&owned)) return to_response(*e);
  auto job = std::get<jobs::job_state>(std::move(owned));
  auto already_final = [&](const jobs::job_state& j) {
    if (j.status == jobs::job_status::cancelled) {
      return json_response(200, job_to_json(j, defaults_of(c.config)));
    }
    return to_response({409, "already_final",
                        "job " + std::to_string(j.id) + " has already " + std::string{jobs::to_string(j.status)}});
  };
  if (jobs::is_final(job.status)) return already_final(job);
  if (is_session_job(c, job)) {
    engine::session_request r;
    r.what = engine::session_request::op::cancel;
    auto answer = engine::call_session(c.rt, c.dispatcher, job.id, r, c.config.call_timeout);
    if (!answer.ok && answer.error_code != "job_finished") return to_response(session_failure(job.id, answer));
    auto now = c.store.get(job.id);
    if (!now.ok()) return to_response(store_failure(now.error()));
    return already_final(now.value());
  }
  auto reply = c.rt.call<bool>(c.dispatcher, engine::cancel_job{job.id}, c.config.call_timeout);
  if (!reply.ok()) {
    return to_response(unavailable("engine_unavailable", "the job engine did not answer: " + reply.error().message()));
  }
  // The engine answers before the cancel is logged; wait (briefly, bounded) until the store shows
  // it, so that the answer says "cancelled" or cancel_requested rather than the state before.
  auto until = std::chrono::steady_clock::now() + cancel_settle_max;
  for (;;) {
    auto now = c.store.get(job.id);
    if (!now.ok()) return to_response(store_failure(now.error()));
    job = std::move(now).value();
    if (jobs::is_final(job.status)) return already_final(job);  // cancelled, or it ended first
    if (job.cancel_requested) break;
    if (std::chrono::steady_clock::now() > until) {
      if (!reply.value()) {
        return to_response(
            unavailable("engine_unavailable", "the job engine does not hold job " + std::to_string(job.id) + " yet"));
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  return json_response(200, job_to_json(job, defaults_of(c.config)));
}

api_response open_events(const routes_context& c, const api_request& request, const request_target& target,
                         std::string_view id_text) {
  auto owned = owned_job(c, id_text);
  if (auto* e = std::get_if<api_error>(&owned)) return to_response(*e);
  const auto& job = std::get<jobs::job_state>(owned);
  event_stream stream;
  stream.job = job.id;
  // Last-Event-ID wins over ?after=: a browser's EventSource reconnects to the same URL with the
  // header, and the header is the newer position.
  if (request.last_event_id) {
    auto seq = parse_position(*request.last_event_id);
    if (!seq) {
      return to_response(bad_request("invalid_header", "Last-Event-ID must be an event id (a number up to 2^63-1)"));
    }
    stream.after_sequence = *seq;
  } else if (auto after = target.query.find("after"); after != target.query.end()) {
    auto seq = parse_position(after->second);
    if (!seq) {
      return to_response(unprocessable("invalid_parameter", "after must be an event id (a number up to 2^63-1)"));
    }
    stream.after_sequence = *seq;
  }
  for (const auto& [name, value] : target.query) {
    if (name != "after") {
      return to_response(unprocessable("unknown_parameter", "unknown parameter \"" + name + "\" (known: after)"));
    }
  }
  // Counted before a session is attached (attaching runs it): at most streams_per_user_max per
  // user and streams_max in all, each an open connection and a poll (review F13).
  auto taken = c.streams.try_take(c.user);
  if (!taken.slot) {
    auto limit = taken.why == slot_count::refusal::key_full
                     ? std::to_string(c.streams.per_key_max()) + " event streams per user are open"
                     : std::to_string(c.streams.total_max()) + " event streams are open on this server";
    return to_response({429, "too_many_streams", limit + "; close one or try again later", "1"});
  }
  stream.slot = std::move(taken.slot);
  stream.user = c.user;
  stream.token = c.token;
  stream.authenticated_at = std::chrono::steady_clock::now();
  if (jobs::is_final(job.status)) {
    stream.final_sequence = job.last_sequence;
  } else if (is_session_job(c, job)) {
    // Streaming a session job runs it (docs/sessions.md): attached until the stream closes.
    engine::session_reply reply;
    auto resolve = [&rt = c.rt, name = c.config.dispatcher_name, first = c.dispatcher] {
      return resolve_dispatcher(rt, name, first);
    };
    auto attachment = engine::session_attachment::open(c.rt, resolve, job.id, c.config.call_timeout, reply);
    if (!attachment && reply.error_code != "job_finished") return to_response(session_failure(job.id, reply));
    stream.attachment = std::move(attachment);  // none if it ended meanwhile: the log has its end
  }
  api_response r;
  r.status = 200;
  r.stream = stream;
  return r;
}

}  // namespace

api_routes::api_routes(runtime& rt, const server_config& config, respawn::pid dispatcher,
                       std::shared_ptr<store::job_store> store)
    : rt_{rt},
      config_{config},
      dispatcher_{dispatcher},
      store_{std::move(store)},
      streams_{slot_count::make(config.streams_max, config.streams_per_user_max)} {}

respawn::pid api_routes::current_dispatcher() const {
  return resolve_dispatcher(rt_, config_.dispatcher_name, dispatcher_);
}

api_response api_routes::handle(const api_request& request) const {
  try {
    return route(request);
  } catch (const std::exception& e) {
    return to_response({500, "internal", std::string{"internal error: "} + e.what()});
  } catch (...) {
    return to_response({500, "internal", "internal error"});
  }
}

api_response api_routes::route(const api_request& request) const {
  auto target = parse_target(request.target);
  if (!target) return to_response(bad_request("invalid_target", "the request target is not a valid path"));
  const auto& s = target->segments;
  const auto& method = request.method;

  if (s.size() == 1 && s[0] == "healthz") {
    if (method != "GET") return to_response(method_not_allowed(method, "GET"));
    return json_response(200, {{"status", "alive"}});
  }
  if (s.size() == 1 && s[0] == "readyz") {
    if (method != "GET") return to_response(method_not_allowed(method, "GET"));
    if (config_.ready && !config_.ready()) return to_response(unavailable("not_ready", "the node is not ready yet"));
    return json_response(200, {{"status", "ready"}});
  }
  if (s.empty() || s[0] != "v1") return to_response(not_found("no route " + request.target));

  // Authentication before routing, so that an anonymous client learns nothing, not even the routes.
  auto token = bearer_token(request.authorization);
  if (!token) return to_response({401, "unauthorized", "an Authorization: Bearer TOKEN header is required"});
  auto user = config_.authenticate(*token);
  if (!user) return to_response({401, "unauthorized", "the bearer token is not valid"});
  routes_context c{rt_, config_, current_dispatcher(), *store_, *streams_, std::move(*user), std::move(*token)};

  if (s.size() < 2 || s[1] != "jobs" || s.size() > 4) return to_response(not_found("no route " + request.target));
  if (s.size() == 2) {
    if (method == "GET") return list_jobs(c, *target);
    if (method == "POST") return submit_one(c, request);
    return to_response(method_not_allowed(method, "GET, POST"));
  }
  if (s.size() == 3 && s[2] == "batch") {
    if (method != "POST") return to_response(method_not_allowed(method, "POST"));
    return submit_batch(c, request);
  }
  if (s.size() == 3) {
    if (method != "GET") return to_response(method_not_allowed(method, "GET"));
    auto owned = owned_job(c, s[2]);
    if (auto* e = std::get_if<api_error>(&owned)) return to_response(*e);
    return json_response(200, job_to_json(std::get<jobs::job_state>(owned), defaults_of(config_)));
  }
  const auto& action = s[3];
  if (action == "cancel") {
    if (method != "POST") return to_response(method_not_allowed(method, "POST"));
    return cancel(c, s[2]);
  }
  if (action == "events") {
    if (method != "GET") return to_response(method_not_allowed(method, "GET"));
    return open_events(c, request, *target, s[2]);
  }
  if (action == "input") {
    if (method != "POST") return to_response(method_not_allowed(method, "POST"));
    return session_input(c, request, s[2]);
  }
  return to_response(not_found("no route " + request.target));
}

stream_poll api_routes::poll(const event_stream& stream, std::size_t limit) const {
  stream_poll out;
  out.last_sequence = stream.after_sequence;
  out.authenticated_at = stream.authenticated_at;
  // A revoked or expired token ends the streams it opened too, not only its next request (F17).
  if (!stream.token.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now - stream.authenticated_at >= config_.stream_reauthenticate_interval) {
      auto user = config_.authenticate(stream.token);
      if (!user || *user != stream.user) {
        out.revoked = true;
        return out;
      }
      out.authenticated_at = now;
    }
  }
  // A session's process that ended (a crash, a manager restart) is found again and re-attached.
  if (stream.attachment && !stream.attachment->keep()) {
    out.failed = true;  // the client resumes with Last-Event-ID
    return out;
  }
  if (stream.final_sequence && stream.after_sequence >= *stream.final_sequence) {
    out.finished = true;
    return out;
  }
  // At most `limit` events and about max_page_bytes of text: one write's buffer per stream, so a
  // log of large inputs or outputs cannot fill memory for every slow client (review F6). The
  // rest follows at once (`more`).
  std::size_t count = 0;
  while (count < limit) {
    auto chunk = std::min(store_chunk, limit - count);
    auto events = store_->events(stream.job, out.last_sequence, chunk);
    if (!events.ok()) {
      out.failed = true;
      return out;
    }
    for (const auto& e : events.value()) {
      if (count > 0 && out.text.size() >= config_.max_page_bytes) {
        out.more = true;
        return out;
      }
      out.text += sse_message(e, config_.default_max_attempts);
      out.last_sequence = e.sequence;
      ++count;
      if (e.type == jobs::event_type::succeeded || e.type == jobs::event_type::dead ||
          e.type == jobs::event_type::cancelled) {
        out.finished = true;  // nothing follows a final event (the store refuses it)
        return out;
      }
    }
    if (events.value().size() < chunk) return out;  // the log's end, for now
  }
  out.more = true;  // `limit` events: there may be more
  return out;
}

}  // namespace respawn::http
