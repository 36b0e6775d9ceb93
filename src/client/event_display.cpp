// event_display: see event_display.hpp.
#include "event_display.hpp"
#include "respawn/jobs/json_limits.hpp"

#include <cstdio>
#include <set>

#include "respawn/client.hpp"

namespace respawn::client {
namespace {

// Events that name the job's state; progress and output do not change it.
const std::set<std::string> state_events = {"queued", "running", "retrying", "succeeded",
                                            "failed", "dead", "cancelled", "paused"};

// A progress value longer than this is cut on the progress line (a line wider than the terminal
// wraps, and CR then redraws only its last row); the event's own line on stdout has it whole.
constexpr std::size_t progress_max_chars = 60;

// A progress event's value: `data.progress` as the node sends it (docs/http-api.md), else the
// data itself. A fraction (a floating number in 0..1, what docs/job-kinds.md calls a bar) reads
// as a percentage; anything else as its JSON. One line, no control characters: it is drawn on a
// terminal.
std::string progress_text(const std::string& data) {
  const nlohmann::json parsed = nlohmann::json::parse(data, nullptr, false);
  const nlohmann::json* value = &parsed;
  if (parsed.is_object() && parsed.contains("progress")) value = &parsed["progress"];
  std::string text;
  if (value->is_number_float() && value->get<double>() >= 0.0 && value->get<double>() <= 1.0) {
    char percent[32];
    std::snprintf(percent, sizeof percent, "%.1f %%", value->get<double>() * 100.0);
    text = percent;
  } else if (!value->is_discarded()) {
    text = value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    text = data;
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (text.size() > progress_max_chars) {
    std::size_t cut = progress_max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not mid-UTF-8
    text = text.substr(0, cut) + "...";
  }
  return text;
}

}  // namespace

bool is_final_state(const std::string& state) {
  return state == "succeeded" || state == "dead" || state == "cancelled";
}

int exit_code_for_final_state(const std::string& state) {
  if (state == "succeeded") return exit_code::ok;
  if (state == "cancelled") return exit_code::job_cancelled;
  return exit_code::job_dead;
}

event_display::event_display(client_context& context, std::int64_t job_id)
    : context_(context), job_id_(job_id), started_(std::chrono::steady_clock::now()) {}

event_display::~event_display() {
  if (line_shown_) {
    context_.err << "\n";  // leave the last progress line on screen
    context_.err.flush();
  }
}

void event_display::note_fields(const nlohmann::json& data) {
  if (!data.is_object()) return;
  for (const char* key : {"attempt", "attempts"}) {
    if (data.contains(key) && data[key].is_number_integer()) attempt_ = data[key].get<std::int64_t>();
  }
  if (data.contains("max_attempts") && data["max_attempts"].is_number_integer()) {
    max_attempts_ = jobs::integer_value<std::int64_t>(data["max_attempts"]);
  }
}

void event_display::show(const sse_event& event) {
  if (state_events.count(event.type) != 0) state_ = event.type;
  if (event.type == "resumed") state_ = "running";  // a session job (docs/sessions.md)
  if (event.type == "running") progress_.reset();    // a new attempt starts from nothing
  if (event.type == "progress") progress_ = progress_text(event.data);
  note_fields(nlohmann::json::parse(event.data, nullptr, false));
  std::string data = event.data;
  for (char& c : data) {
    if (c == '\n') c = ' ';
  }
  clear_line();
  context_.out << event.type << " " << data << "\n";
  context_.out.flush();
  redraw();
}

void event_display::show_job(const nlohmann::json& job) {
  if (job.is_object() && job.contains("state") && job["state"].is_string()) {
    state_ = job["state"].get<std::string>();
  }
  note_fields(job);
  clear_line();
  context_.out << state_ << " " << job.dump() << "\n";
  context_.out.flush();
  redraw();
}

std::string event_display::status_line() const {
  char elapsed[32];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  std::snprintf(elapsed, sizeof elapsed, "%.1f s", static_cast<double>(ms) / 1000.0);
  std::string line = "job " + std::to_string(job_id_) + " " + state_;
  if (attempt_) {
    line += " · attempt " + std::to_string(*attempt_);
    if (max_attempts_) line += "/" + std::to_string(*max_attempts_);
  }
  if (progress_) line += " · progress " + *progress_;
  return line + " · " + elapsed;
}

void event_display::clear_line() {
  if (line_shown_) {
    context_.err << "\r\033[2K";
    context_.err.flush();  // before the next line goes out on the other stream
    line_shown_ = false;
  }
}

void event_display::tick() { redraw(); }

void event_display::redraw() {
  if (!context_.tty) return;
  context_.err << "\r\033[2K" << status_line();
  context_.err.flush();
  line_shown_ = true;
}

}  // namespace respawn::client
