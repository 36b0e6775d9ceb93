// event_display: how `watch` and `submit --wait` show a job's events. Every event is printed on
// stdout as one line, "EVENT DATA" (data lines joined by spaces), so a pipe or a log gets plain
// lines. On a terminal a one-line progress display (state, attempt, elapsed time) is kept on
// stderr below them, redrawn in place on each event.
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

  // The progress line's text: "job 42 running  attempt 1/3  3.2 s".
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
  bool line_shown_ = false;
};

}  // namespace respawn::client
