// Fuzz target: a submitted job's JSON (src/http/job_json.*), the body of POST /v1/jobs and each
// element of a batch: parsed the way the routes parse it (no exceptions), validated by
// parse_job_request, and for an accepted job, shown back as GET /v1/jobs/ID and as its `queued`
// SSE message. An accepted request must respect the documented limits and survive its own JSON
// form (job_request's to_json/from_json, which the store writes and reads back).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "job_json.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/jobs/job_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;

  respawn::jobs::job_request request;
  if (auto error = respawn::http::parse_job_request(body, "jobs[0]: ", request)) {
    if (error->status < 400 || error->status > 499) std::abort();  // a bad job is the client's fault
    return 0;
  }
  if (request.kind.empty() || request.kind.size() > 128) std::abort();
  if (!request.args.is_object()) std::abort();
  if (request.attempts_max > 1000) std::abort();
  if (request.idempotency_key && (request.idempotency_key->empty() || request.idempotency_key->size() > 255)) {
    std::abort();
  }
  request.user = "ann";
  if (nlohmann::json(request).get<respawn::jobs::job_request>() != request) std::abort();

  respawn::jobs::job_state state;
  state.id = 1;
  state.request = request;
  state.last_sequence = 1;
  auto shown = respawn::http::job_to_json(state, 5);
  (void)shown.dump();
  auto message = respawn::http::sse_message(respawn::jobs::make_submitted(1, {}, request), 5);
  if (message.find("\n\n") != message.size() - 2) std::abort();  // one SSE message, one blank line
  return 0;
}
