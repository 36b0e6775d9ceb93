// The HTTP exchange as the route handlers see it: a plain request and response, free of Beast, so
// that the routes (api_routes.cpp) and the JSON mapping compile cheaply and can be tested without
// sockets. http_server.cpp converts from and to Beast's messages at the edge.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "respawn/jobs/job.hpp"

namespace respawn::engine {
class session_attachment;
}

namespace respawn::http {

struct api_request {
  std::string method{};                          // "GET", "POST", ... as sent
  std::string target{};                          // path and query, as sent: "/v1/jobs?state=queued"
  std::optional<std::string> authorization{};    // the Authorization header
  std::optional<std::string> idempotency_key{};  // the Idempotency-Key header
  std::optional<std::string> last_event_id{};    // the Last-Event-ID header (SSE resume)
  std::string body{};
};

// An open Server-Sent Events stream of one job's log: the events after `after_sequence` are still
// to be sent. `final_sequence` is known when the job was already final when the stream opened.
struct event_stream {
  jobs::job_id job = 0;
  std::uint64_t after_sequence = 0;
  std::optional<std::uint64_t> final_sequence{};
  // A session job's stream keeps the session running while it is open (docs/sessions.md);
  // closing the stream (the last copy of this pointer) detaches it.
  std::shared_ptr<engine::session_attachment> attachment{};
  // Its place under streams_max and streams_per_user_max; given back when the stream ends.
  std::shared_ptr<void> slot{};
  // Who opened it, with which token: the token is checked again every
  // stream_reauthenticate_interval, and the stream ends once it no longer names `user` (F17).
  std::string user{};
  std::string token{};
  std::chrono::steady_clock::time_point authenticated_at{};
};

struct api_response {
  unsigned status = 200;
  std::string body{};                                          // JSON, unless stream is set
  std::vector<std::pair<std::string, std::string>> headers{};  // beyond Content-Type
  // Set on a successful GET /v1/jobs/ID/events: the connection turns into an SSE stream.
  std::optional<event_stream> stream{};
};

// What one poll of an open stream found: `text` (SSE messages, possibly empty) covers the events
// up to `last_sequence`; `finished`: the job's final event is in it (or was sent before), close.
struct stream_poll {
  std::string text{};
  std::uint64_t last_sequence = 0;
  bool finished = false;
  bool more = false;    // the page was full: poll again at once
  bool failed = false;  // the store failed: close the stream (the client resumes with Last-Event-ID)
  bool revoked = false;  // the stream's token no longer names its user: close the stream
  std::chrono::steady_clock::time_point authenticated_at{};  // when the token was last found good
};

}  // namespace respawn::http
