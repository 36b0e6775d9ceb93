// event_display: how `watch` and `submit --wait` show a job's events. Every event is printed on
// stdout as one line, "EVENT DATA" (data lines joined by spaces), and flushed at once, so a pipe
// or a log gets plain lines as the events happen. On a terminal a one-line progress display
// (state, attempt, the latest progress value, elapsed time) is kept on stderr below them,
// redrawn in place (CR, erase line) at each event and each tick of the clock, and erased before
// any other line is written, so it never mixes into the lines above it. Off a terminal it is
// never drawn: no control characters reach a pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "client_context.hpp"
#include "sse_parser.hpp"

namespace respawn::client {

// succeeded, dead and cancelled end a job; a failed attempt is followed by a retry or by dead.
bool is_final_state(const std::string& state);
// 0 for succeeded, exit_code::job_dead, exit_code::job_cancelled.
int exit_code_for_final_state(const std::string& state);

class event_display {
 public:
  event_display(client_context& context, std::int64_t job_id);
  ~event_display();

  void show(const sse_event& event);
  // A job as GET /v1/jobs/ID answers it (for the end of a stream that closed without a final event).
  void show_job(const nlohmann::json& job);
  // Clears the progress line (before other output on stderr).
  void clear_line();
  // The clock moved on while nothing came: redraw the progress line (its elapsed time).
  void tick();

  // The progress line's text: `job 42 running · attempt 1/3 · progress {"done":3,"of":10} · 3.2 s`.
  std::string status_line() const;

 private:
  void note_fields(const nlohmann::json& data);
  void redraw();

  client_context& context_;
  std::int64_t job_id_;
  std::chrono::steady_clock::time_point started_;
  std::string state_ = "waiting";
  std::optional<std::int64_t> attempt_{};
  std::optional<std::int64_t> max_attempts_{};
  std::optional<std::string> progress_{};  // the latest progress value, as one line of JSON
  bool line_shown_ = false;
};

}  // namespace respawn::client
