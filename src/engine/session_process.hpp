// session_process: one session job in memory (seed 004; docs/sessions.md). A session job is
// attached to its clients' streams: it runs while at least one stream is attached, answering
// each input with an output, and is paused (logged) and dropped from memory when the last stream
// ends. Any manager can rebuild it from the log: which inputs were logged, which were answered.
//
//   attach (first watcher)  -> log `claimed` (first time) or `resumed` -> answer pending inputs
//   input seq N             -> log `input` -> reply (durable) -> answer it if running
//   answer                  -> the kind's handler runs in a worker (one input at a time, in seq
//                              order) -> log `output` {seq, data | error}
//   last watcher down       -> log `paused`; an answer under way is finished first: its output
//                              is logged, then `paused` (never dropped and made again)
//   input with end: true    -> once every input before it is answered: log `succeeded`
//
// Every input is answered exactly once: an answer counts only when its `output` is in the log,
// and a rebuilt session answers the logged inputs that have none. The dispatcher starts this
// process (locate_session) and monitors it; it stops by itself after session_linger with no
// watcher and nothing in flight, and when the dispatcher ends. At most one exists per job: the
// dispatcher starts another only after this one's `down`.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "engine_messages.hpp"
#include "respawn/process.hpp"

namespace respawn::engine::detail {

struct session_start {
  jobs::job_id id = 0;
  std::shared_ptr<store::job_store> store;
  respawn::pid dispatcher;
  respawn::pid pool;
  std::chrono::milliseconds attempt_timeout{60000};
  std::chrono::milliseconds linger{200};
  std::function<jobs::job_time()> clock;  // never empty here
  std::function<bool(const std::string&)> is_session_kind;  // never empty here
  std::size_t inputs_pending_max = 1000;             // engine_config::session_inputs_pending_max
  std::size_t pending_bytes_max = 16 * 1024 * 1024;  // engine_config::session_pending_bytes_max
};

class session_process final : public process {
 public:
  explicit session_process(session_start start) : s_{std::move(start)} {}

  void init() override;
  void handle(message& m) override;

 private:
  // A logged input. Its data is kept only until it is answered: a long session's memory grows
  // by a map node per input, not by its data; duplicates are recognised by the SHA-256 of its
  // JSON text (a 64-bit std::hash could take another input for a duplicate, review F20).
  using fingerprint = std::array<unsigned char, 32>;
  struct input {
    fingerprint print{};
    std::optional<nlohmann::json> data{};  // while unanswered
    bool end = false;
    bool durable = false;  // its `input` event committed
    std::size_t bytes = 0;  // its JSON text's size
  };
  static fingerprint fingerprint_of(const std::string& text);
  void hold(input& in, nlohmann::json data);  // keeps an unanswered input's data (counted)
  void release(input& in);                    // its answer is logged: drops the data

  void rebuild();
  void on_request(message& m, const session_request& r);
  void on_attach(message& m, const session_request& r);
  void on_input(message& m, const session_request& r);
  void on_cancel(message& m);
  void on_watcher_down(monitor_ref ref);
  void on_outcome(const task_outcome& o);
  void answer_next();
  void log(jobs::event e, std::function<void()> then);
  void reply_now(message& m, session_reply r);
  session_reply ok_reply() const;
  void arm_linger();
  bool idle() const;
  std::uint64_t next_sequence() const { return state_.last_sequence + 1; }

  session_start s_;
  jobs::job_state state_{};
  std::optional<session_reply> refusal_{};  // set when the job cannot be a live session
  std::map<std::uint64_t, input> inputs_;   // every logged input, by seq
  std::set<std::uint64_t> pending_;         // logged inputs without an output yet
  std::size_t held_inputs_ = 0;             // inputs whose data is in memory (unanswered) ...
  std::size_t held_bytes_ = 0;              // ... and their JSON text's bytes: both bounded
  std::optional<std::uint64_t> end_seq_{};  // the input that ends the session
  std::multimap<std::uint64_t, std::pair<respawn::pid, std::uint64_t>> duplicates_waiting_;  // seq -> call
  std::map<std::uint64_t, respawn::pid> watchers_;  // by monitor_ref value
  monitor_ref dispatcher_monitor_{};
  std::optional<std::uint64_t> in_worker_{};  // the input whose task the pool runs
  bool abandoned_ = false;                    // ...cancelled (the session was): outcome ignored
  bool pause_after_answer_ = false;           // the last stream left mid-answer: pause after it
  timer_ref linger_timer_{};
  std::uint64_t next_tag_ = 1;
  std::map<std::uint64_t, std::function<void()>> on_commit_;
};

}  // namespace respawn::engine::detail
