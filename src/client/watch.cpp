// watch: see watch.hpp.
#include "watch.hpp"

#include <algorithm>
#include <charconv>

#include "event_display.hpp"
#include "respawn/client.hpp"
#include "sse_parser.hpp"

namespace respawn::client {
namespace {

// An error answer's body is kept up to this size for its message (a server could send any amount).
constexpr std::size_t error_body_max_bytes = 64 * 1024;

std::optional<std::int64_t> as_number(const std::string& text) {
  std::int64_t n = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace

bool already_seen(const std::string& id, const std::string& last) {
  const auto a = as_number(id);
  const auto b = as_number(last);
  if (a && b) return *a <= *b;
  return id == last;
}

int follow_events(api_client& api, std::int64_t job_id) {
  client_context& context = api.context();
  event_display display(context, job_id);
  const std::string job_target = "/v1/jobs/" + std::to_string(job_id);
  std::optional<std::string> last_id;
  bool streamed = false;  // a stream of this job was accepted with our token
  // A final refusal. A 401 after the server had accepted our token for this job's stream means
  // the token was revoked or expired meanwhile (the node ends such a stream within a second,
  // docs/http-api.md); saying so beats a bare 401, and retrying could never help.
  auto refused = [&](int status, const nlohmann::json& body) {
    display.clear_line();
    context.err << "respawn: job " << job_id << ": ";
    std::string detail = error_text(status, body);
    if (status == 401 || status == 403) {
      detail += "; token from " + (api.config().token ? api.config().token_source : std::string("nowhere"));
    }
    if (status == 401 && streamed) {
      context.err << "the token was revoked or expired (" << detail << ")\n";
    } else {
      context.err << detail << "\n";
    }
    return exit_code_for_status(status);
  };
  for (;;) {
    http_request request = api.make_request("GET", job_target + "/events");
    request.headers.emplace_back("Accept", "text/event-stream");
    if (last_id) request.headers.emplace_back("Last-Event-ID", *last_id);

    sse_parser parser;  // a new one per connection: a line cut by a drop must not run on
    http_head head;
    std::string error_body;
    std::optional<std::string> final_state;
    bool got_event = false;
    auto dropped = stream(
        api.config().address.host, api.config().address.port, request, context.timeouts,
        [&](const http_head& h) {
          head = h;
          if (h.status == 200) streamed = true;
          return true;  // read an error's body too
        },
        [&](std::string_view piece) {
          if (head.status != 200) {
            const std::size_t room = error_body_max_bytes - std::min(error_body_max_bytes, error_body.size());
            error_body.append(piece.substr(0, room));
            return error_body.size() < error_body_max_bytes;
          }
          auto events = parser.feed(piece);
          for (const auto& event : events) {
            if (last_id && !event.id.empty() && already_seen(event.id, *last_id)) continue;
            if (!event.id.empty()) last_id = event.id;
            got_event = true;
            display.show(event);
            if (is_final_state(event.type)) {
              final_state = event.type;
              return false;  // the server closes after it anyway
            }
          }
          return !parser.error();  // a line or an event past the parser's bound: stop reading
        },
        [&] { display.tick(); });
    if (final_state) return exit_code_for_final_state(*final_state);
    if (parser.error()) {
      // Resuming would meet the same oversized event again: give up on the stream, say why.
      display.clear_line();
      context.err << "respawn: job " << job_id << ": " << *parser.error() << "\n";
      return exit_code::error;
    }
    if (got_event) api.succeeded();

    std::string why;
    std::optional<std::chrono::milliseconds> wait_at_least;
    if (dropped && head.status == 0) {
      why = "server unreachable (" + dropped->message + ")";
    } else if (head.status == 200) {
      // Dropped mid-stream, or ended without a final event: ask for the job itself.
      auto answer = api.call(api.make_request("GET", job_target));
      if (std::holds_alternative<gave_up>(answer)) return exit_code::unreachable;
      auto& job = std::get<api_answer>(answer);
      if (job.status != 200) return refused(job.status, job.body);
      const std::string state = job.body.value("state", std::string());
      if (is_final_state(state)) {
        display.show_job(job.body);
        return exit_code_for_final_state(state);
      }
      why = std::string(dropped ? "event stream dropped" : "event stream ended early") +
            (last_id ? " after event " + *last_id : std::string()) +
            (dropped ? " (" + dropped->message + ")" : std::string()) + "; resuming";
    } else if (retryable_status(head.status)) {
      why = "server unavailable (" + std::to_string(head.status) + ")";
      wait_at_least = retry_after(head);
    } else {
      const nlohmann::json body = nlohmann::json::parse(error_body, nullptr, false);
      return refused(head.status, body.is_discarded() ? nlohmann::json() : body);
    }
    display.clear_line();
    if (!api.wait_before_retry(why, wait_at_least)) return exit_code::unreachable;
  }
}

}  // namespace respawn::client
