// Fuzz target: stored events and the fold over them (src/jobs/event.cpp, fold.cpp). Recovery reads
// every unfinished job's log back and folds it; a log that does not fold must be refused with
// invalid_event_log (a value the caller handles), never crash the node. Two modes, by the first
// byte:
//   < 0x80  the rest is JSON, as a stored log would be: an array of events in their JSON form
//           (jobs::from_json), folded;
//   >= 0x80 the rest is a compact script, 3 bytes an event (type, sequence jitter, payload
//           variant), built with the event makers: well-formed logs reach deep into the state
//           machine, which raw JSON rarely does.
// Checks: apply one by one agrees with fold; a folded state survives its own JSON form (what the
// store writes to jobs.state and reads back); every event renders as one SSE message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "job_json.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/jobs/fold.hpp"

namespace jobs = respawn::jobs;

namespace {

std::vector<jobs::event> events_from_json(std::string_view text) {
  std::vector<jobs::event> out;
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) return out;
  for (const auto& j : doc) {
    try {
      out.push_back(j.get<jobs::event>());
    } catch (const std::exception&) {
      // an event the reader refuses (json::exception, invalid_argument): skipped, as a test of
      // the fold on the rest
    }
  }
  return out;
}

nlohmann::json odd_value(std::uint8_t v) {
  switch (v % 6) {
    case 0: return nullptr;
    case 1: return -1;
    case 2: return "text";
    case 3: return nlohmann::json::array({1, 2});
    case 4: return nlohmann::json::object({{"seq", 1}});
    default: return 1.5;
  }
}

std::vector<jobs::event> events_from_script(std::string_view script) {
  std::vector<jobs::event> out;
  std::uint64_t sequence = 0;
  std::uint32_t attempt = 0;
  for (std::size_t at = 0; at + 3 <= script.size(); at += 3) {
    const auto type = jobs::all_event_types[static_cast<std::uint8_t>(script[at]) % jobs::all_event_types.size()];
    const auto jitter = static_cast<std::uint8_t>(script[at + 1]);
    const auto variant = static_cast<std::uint8_t>(script[at + 2]);
    sequence = (jitter & 0x80) ? sequence + (jitter & 3) : sequence + 1;  // mostly in order
    const jobs::job_id job = (jitter & 0x40) ? 2 : 1;
    const auto time = jobs::from_microseconds(static_cast<std::int64_t>(variant) * 1'000'003);
    jobs::event e;
    switch (type) {
      case jobs::event_type::submitted: {
        jobs::job_request r;
        r.user = "ann";
        r.kind = (variant & 1) ? "echo" : "sum";
        r.args = {{"n", variant}};
        e = jobs::make_submitted(job, time, r);
        e.sequence = sequence;
        break;
      }
      case jobs::event_type::claimed:
        attempt = (variant & 1) ? attempt : attempt + 1;
        e = jobs::make_claimed(job, sequence, time, attempt);
        break;
      case jobs::event_type::progress: e = jobs::make_progress(job, sequence, time, variant); break;
      case jobs::event_type::output: e = jobs::make_output(job, sequence, time, {{"seq", variant}}); break;
      case jobs::event_type::snapshot: e = jobs::make_snapshot(job, sequence, time, {{"n", variant}}); break;
      case jobs::event_type::succeeded: e = jobs::make_succeeded(job, sequence, time, variant); break;
      case jobs::event_type::attempt_failed:
        e = jobs::make_attempt_failed(job, sequence, time, "boom", jobs::from_microseconds(-variant));
        break;
      case jobs::event_type::dead: e = jobs::make_dead(job, sequence, time, "gone"); break;
      case jobs::event_type::cancel_requested: e = jobs::make_cancel_requested(job, sequence, time, "asked"); break;
      case jobs::event_type::cancelled: e = jobs::make_cancelled(job, sequence, time); break;
      case jobs::event_type::input: e = jobs::make_input(job, sequence, time, variant / 2, variant, variant & 1); break;
      case jobs::event_type::paused: e = jobs::make_paused(job, sequence, time, "no stream"); break;
      case jobs::event_type::resumed: e = jobs::make_resumed(job, sequence, time); break;
    }
    if ((variant & 0xE0) == 0xE0) {  // now and then a payload of the wrong shape
      if (e.payload.is_object() && !e.payload.empty()) {
        e.payload.begin().value() = odd_value(variant);
      } else {
        e.payload = odd_value(variant);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto events = data[0] < 0x80 ? events_from_json(rest) : events_from_script(rest);

  // apply, one by one, up to the first refusal; a refused event leaves the state as it was.
  jobs::job_state stepped;
  std::size_t accepted = 0;
  for (const auto& e : events) {
    const auto before = stepped;
    if (auto error = jobs::apply(stepped, e)) {
      if (!(stepped == before)) std::abort();
      if (error->message.empty()) std::abort();
      break;
    }
    ++accepted;
  }

  try {
    auto folded = jobs::fold(events);
    if (accepted != events.size()) std::abort();  // fold accepted what apply refused
    if (!(folded == stepped)) std::abort();
    if (!events.empty()) {
      if (folded.last_sequence != events.back().sequence) std::abort();
      // What the store writes to jobs.state, it must read back as the same state.
      auto row = nlohmann::json(folded).dump();
      if (!(nlohmann::json::parse(row).get<jobs::job_state>() == folded)) std::abort();
      (void)respawn::http::job_to_json(folded, 5).dump();
    }
  } catch (const jobs::invalid_event_log& refused) {
    if (accepted == events.size()) std::abort();  // fold refused what apply accepted
    (void)refused;
  }

  for (const auto& e : events) {
    auto message = respawn::http::sse_message(e, 5);
    if (message.empty() || message.find("\n\n") != message.size() - 2) std::abort();
    // An event's JSON form reads back as the same event (the store's events.payload round trip).
    auto again = nlohmann::json(e).get<jobs::event>();
    if (!(again == e)) std::abort();
  }
  return 0;
}
