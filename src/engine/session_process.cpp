// session_process.cpp: see session_process.hpp.
#include "session_process.hpp"

#include <stdexcept>

#include <openssl/evp.h>

#include "respawn/jobs/fold.hpp"
#include "respawn/jobs/json_limits.hpp"
#include "respawn/runtime.hpp"
#include "valid_utf8.hpp"

namespace respawn::engine::detail {

namespace {

struct linger_due {};

constexpr std::size_t log_page = 1000;

session_reply refuse(std::string code, std::string message) {
  session_reply r;
  r.error_code = std::move(code);
  r.error = std::move(message);
  return r;
}

nlohmann::json parse_or_text(const std::string& text) {
  auto j = jobs::parse_json(text);  // depth-limited (F1): a deeper value is kept as its text
  return j.ok() ? std::move(j).value() : nlohmann::json(text);
}

}  // namespace

void session_process::init() {
  dispatcher_monitor_ = monitor(s_.dispatcher);
  rebuild();
  // The node (or the previous process) died while a stream was attached: that stream is gone.
  if (!refusal_ && state_.status == jobs::job_status::running) {
    log(jobs::make_paused(s_.id, next_sequence(), s_.clock(), "no stream is attached: the session's process restarted"),
        {});
  }
  arm_linger();
}

// Reads the job and its log: which inputs were logged, which have their answer.
void session_process::rebuild() {
  auto got = s_.store->get(s_.id);
  if (!got.ok()) {
    if (got.error().code == store::store_errc::not_found) {
      refusal_ = refuse("not_found", "no job " + std::to_string(s_.id));
      return;
    }
    throw std::runtime_error{"session " + std::to_string(s_.id) + ": " + got.error().message};
  }
  state_ = std::move(got).value();
  if (!s_.is_session_kind(state_.request.kind)) {
    // A batch job has its own process (job_process): a second writer to its log must not exist.
    refusal_ = refuse("not_a_session_job", "job " + std::to_string(s_.id) + " (kind " + state_.request.kind +
                                               ") is not a session job");
    return;
  }
  if (jobs::is_final(state_.status)) {
    refusal_ = refuse("job_finished", "job " + std::to_string(s_.id) + " is " +
                                          std::string{jobs::to_string(state_.status)} + ": it takes no more input");
    refusal_->status = state_.status;
    return;
  }
  std::uint64_t after = 0;
  for (;;) {
    auto page = s_.store->events(s_.id, after, log_page);
    if (!page.ok()) throw std::runtime_error{"session " + std::to_string(s_.id) + ": " + page.error().message};
    for (const auto& e : page.value()) {
      after = e.sequence;
      if (e.type == jobs::event_type::input) {
        auto seq = jobs::integer_value<std::uint64_t>(e.payload.at("seq"));
        bool end = e.payload.value("end", false);
        const auto& data = e.payload.at("data");
        auto text = data.dump();
        auto& in = inputs_[seq];
        if (in.data) release(in);  // logged twice cannot happen; stay counted right if it did
        in = input{fingerprint_of(text), {}, end, true, text.size()};
        hold(in, data);
        pending_.insert(seq);
        if (end) end_seq_ = seq;
      } else if (e.type == jobs::event_type::output && e.payload.contains("chunk")) {
        const auto& chunk = e.payload.at("chunk");
        if (chunk.is_object() && chunk.contains("seq")) pending_.erase(jobs::integer_value<std::uint64_t>(chunk.at("seq")));
      }
    }
    if (page.value().size() < log_page) break;
  }
  for (auto& [seq, in] : inputs_) {
    if (pending_.count(seq) == 0 && in.data) release(in);  // answered: only its fingerprint is needed
  }
  // The log may be ahead of the row we read first (another writer cannot exist, but a row read
  // before a commit landed can be older): the state is the fold of what we replayed.
  if (after > state_.last_sequence) {
    auto again = s_.store->get(s_.id);
    if (!again.ok()) throw std::runtime_error{"session " + std::to_string(s_.id) + ": " + again.error().message};
    state_ = std::move(again).value();
  }
}

void session_process::handle(message& m) {
  if (auto* done = m.get_if<append_done>()) {
    if (!done->ok) {
      // Let it crash: clients ask again (call_session) and the next process rebuilds from the log.
      throw std::runtime_error{"session " + std::to_string(s_.id) + ": the store failed: " + done->error};
    }
    auto it = on_commit_.find(done->tag);
    if (it != on_commit_.end()) {
      auto then = std::move(it->second);
      on_commit_.erase(it);
      if (then) then();
    }
  } else if (auto* r = m.get_if<session_request>()) {
    on_request(m, *r);
  } else if (auto* d = m.get_if<down>()) {
    if (d->ref == dispatcher_monitor_) {
      stop();  // the manager is gone (a restart of the engine's core): so is its session table
      return;
    }
    on_watcher_down(d->ref);
  } else if (auto* o = m.get_if<task_outcome>()) {
    if (o->id == s_.id && in_worker_) on_outcome(*o);
  } else if (m.is<linger_due>()) {
    linger_timer_ = {};
    if (idle()) {
      stop();
    } else {
      arm_linger();
    }
  }
  // task_event (progress, outputs a handler emits) is not part of a session's answers: dropped.
}

void session_process::on_request(message& m, const session_request& r) {
  if (refusal_) return reply_now(m, *refusal_);
  if (jobs::is_final(state_.status)) {
    auto no = refuse("job_finished", "job " + std::to_string(s_.id) + " is " + std::string{jobs::to_string(state_.status)});
    no.status = state_.status;
    return reply_now(m, std::move(no));
  }
  switch (r.what) {
    case session_request::op::attach:
      return on_attach(m, r);
    case session_request::op::input:
      return on_input(m, r);
    case session_request::op::cancel:
      return on_cancel(m);
  }
}

void session_process::on_attach(message& m, const session_request& r) {
  if (!r.watcher) return reply_now(m, refuse("invalid_request", "attach needs a watcher"));
  auto ref = monitor(r.watcher);
  watchers_.emplace(ref.value, r.watcher);
  auto caller = m.sender();
  auto call_ref = m.call_ref();
  auto answer = [this, caller, call_ref] {
    reply_to(caller, call_ref, ok_reply());
    answer_next();
  };
  if (state_.status == jobs::job_status::queued || state_.status == jobs::job_status::failed) {
    log(jobs::make_claimed(s_.id, next_sequence(), s_.clock(), state_.attempts + 1), answer);
  } else if (state_.status == jobs::job_status::paused) {
    log(jobs::make_resumed(s_.id, next_sequence(), s_.clock()), answer);
  } else {
    pause_after_answer_ = false;  // running (maybe finishing an answer for nobody): a stream joins
    answer();
  }
}

void session_process::on_input(message& m, const session_request& r) {
  if (r.seq == 0) return reply_now(m, refuse("invalid_request", "an input's seq must be a positive integer"));
  auto text = r.data.dump();
  if (auto it = inputs_.find(r.seq); it != inputs_.end()) {
    if (it->second.print == fingerprint_of(text) && it->second.end == r.end) {
      if (!it->second.durable) {  // the first one's commit is on its way: answer with it
        duplicates_waiting_.emplace(r.seq, std::make_pair(m.sender(), m.call_ref()));
        return;
      }
      auto dup = ok_reply();
      dup.duplicate = true;
      return reply_now(m, std::move(dup));
    }
    return reply_now(m, refuse("input_conflict", "input " + std::to_string(r.seq) +
                                                     " was sent before with other data"));
  }
  if (end_seq_ && r.seq > *end_seq_) {
    return reply_now(m, refuse("input_after_end", "input " + std::to_string(*end_seq_) +
                                                      " ended the session; input " + std::to_string(r.seq) +
                                                      " comes after it"));
  }
  if (r.end && !inputs_.empty() && inputs_.rbegin()->first > r.seq) {
    return reply_now(m, refuse("input_after_end", "input " + std::to_string(inputs_.rbegin()->first) +
                                                      " was sent already; the end must be the last input"));
  }
  // Bounded: unanswered inputs stay in memory (and their answers wait for a worker), so a client
  // that sends faster than its session answers is told to slow down.
  if (held_inputs_ >= s_.inputs_pending_max || held_bytes_ + text.size() > s_.pending_bytes_max) {
    return reply_now(m, refuse("overloaded", "session " + std::to_string(s_.id) + " holds " +
                                                 std::to_string(held_inputs_) + " unanswered inputs (" +
                                                 std::to_string(held_bytes_) + " bytes; at most " +
                                                 std::to_string(s_.inputs_pending_max) + " and " +
                                                 std::to_string(s_.pending_bytes_max) + "); try again later"));
  }
  // Recorded at once, so that a duplicate sent before the commit is recognised (and answered
  // with the commit, never before it).
  auto& recorded = inputs_[r.seq];
  recorded = input{fingerprint_of(text), {}, r.end, false, text.size()};
  hold(recorded, r.data);
  if (r.end) end_seq_ = r.seq;
  auto caller = m.sender();
  auto call_ref = m.call_ref();
  std::uint64_t seq = r.seq;
  log(jobs::make_input(s_.id, next_sequence(), s_.clock(), r.seq, r.data, r.end), [this, caller, call_ref, seq] {
    inputs_.at(seq).durable = true;
    reply_to(caller, call_ref, ok_reply());
    auto [first, last] = duplicates_waiting_.equal_range(seq);
    for (auto it = first; it != last; ++it) {
      auto dup = ok_reply();
      dup.duplicate = true;
      reply_to(it->second.first, it->second.second, std::move(dup));
    }
    duplicates_waiting_.erase(first, last);
    pending_.insert(seq);
    answer_next();
  });
}

void session_process::on_cancel(message& m) {
  if (in_worker_) {
    send(s_.pool, cancel_task{s_.id});
    abandoned_ = true;
  }
  auto caller = m.sender();
  auto call_ref = m.call_ref();
  log(jobs::make_cancelled(s_.id, next_sequence(), s_.clock()), [this, caller, call_ref] {
    reply_to(caller, call_ref, ok_reply());
    send(s_.dispatcher, job_final{s_.id, state_.status});
    stop();  // final: streams see `cancelled` in the log and close
  });
}

void session_process::on_watcher_down(monitor_ref ref) {
  if (watchers_.erase(ref.value) == 0 || !watchers_.empty()) return;
  if (state_.status != jobs::job_status::running) return;
  arm_linger();
  if (in_worker_ && !abandoned_) {
    // The last stream ended while an answer is under way: it is finished and logged, not
    // dropped (a backlog longer than a client's visits would otherwise never move), and the
    // session pauses after it. A client that comes back meanwhile finds it still running.
    pause_after_answer_ = true;
    return;
  }
  log(jobs::make_paused(s_.id, next_sequence(), s_.clock(), "the last client stream ended"), {});
}

void session_process::answer_next() {
  if (state_.status != jobs::job_status::running || in_worker_ || watchers_.empty()) return;
  if (pending_.empty()) return;
  std::uint64_t seq = *pending_.begin();
  const input& in = inputs_.at(seq);
  if (in.end) {
    if (pending_.size() > 1) return;  // cannot happen: the end is the last input
    log(jobs::make_succeeded(s_.id, next_sequence(), s_.clock(), {{"inputs", inputs_.size()}}), [this] {
      send(s_.dispatcher, job_final{s_.id, state_.status});
      stop();
    });
    return;
  }
  task_request t;
  t.id = s_.id;
  t.kind = state_.request.kind;
  t.args = nlohmann::json{{"seq", seq}, {"data", in.data.value_or(nullptr)}, {"session", state_.request.args}}.dump();
  t.attempt = state_.attempts;
  t.limits.deadline = state_.request.timeout_ms != 0 ? std::chrono::milliseconds{state_.request.timeout_ms}
                                                      : s_.attempt_timeout;
  t.reply_to = self();
  // Fair shares and session capacity (docs/workers.md): the user's group, and interactive, so
  // that it may run in the workers kept for answers while batch work fills the others.
  t.group = state_.request.user;
  t.interactive = true;
  in_worker_ = seq;
  abandoned_ = false;
  send(s_.pool, submit_task{std::move(t)});
}

void session_process::on_outcome(const task_outcome& o) {
  std::uint64_t seq = *in_worker_;
  bool abandoned = abandoned_;
  in_worker_.reset();
  abandoned_ = false;
  if (abandoned || state_.status != jobs::job_status::running) {
    pause_after_answer_ = false;
    answer_next();  // resumed meanwhile: the input is still pending
    return;
  }
  nlohmann::json chunk = {{"seq", seq}};
  if (o.status == task_status::succeeded) {
    chunk["data"] = parse_or_text(valid_utf8(o.result));
  } else {
    // A failed answer is still the answer: the input is not retried (a poison input would
    // otherwise stall the session for ever).
    chunk["error"] = o.error.empty() ? std::string{to_string(o.status)} : valid_utf8(o.error);
  }
  // No longer pending from now on (not from the commit: another commit's callback may look for
  // the next input first). Should the append fail, this process crashes and the next one finds
  // the input unanswered in the log.
  pending_.erase(seq);
  if (inputs_.at(seq).data) release(inputs_.at(seq));
  log(jobs::make_output(s_.id, next_sequence(), s_.clock(), std::move(chunk)), [this] { answer_next(); });
  if (pause_after_answer_) {
    // Its stream left while it was answering: the answer is logged (above, first), then it pauses.
    pause_after_answer_ = false;
    if (watchers_.empty()) {
      log(jobs::make_paused(s_.id, next_sequence(), s_.clock(), "the last client stream ended"), {});
    }
  }
}

void session_process::log(jobs::event e, std::function<void()> then) {
  if (auto error = jobs::apply(state_, e)) {
    throw std::logic_error{"session " + std::to_string(s_.id) + ": " + error->message};
  }
  std::uint64_t tag = next_tag_++;
  on_commit_.emplace(tag, std::move(then));
  append_then_tell(system(), *s_.store, std::move(e), self(), tag);
}

void session_process::reply_now(message& m, session_reply r) { reply(m, std::move(r)); }

session_reply session_process::ok_reply() const {
  session_reply r;
  r.ok = true;
  r.status = state_.status;
  return r;
}

void session_process::arm_linger() {
  if (linger_timer_) cancel_timer(linger_timer_);
  linger_timer_ = send_after(s_.linger, linger_due{});
}

session_process::fingerprint session_process::fingerprint_of(const std::string& text) {
  fingerprint out{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size()) {
    throw std::runtime_error{"SHA-256 failed"};  // cannot happen: let it crash if it does
  }
  return out;
}

void session_process::hold(input& in, nlohmann::json data) {
  in.data = std::move(data);
  ++held_inputs_;
  held_bytes_ += in.bytes;
}

void session_process::release(input& in) {
  in.data.reset();
  held_inputs_ -= std::min<std::size_t>(held_inputs_, 1);
  held_bytes_ -= std::min(held_bytes_, in.bytes);
}

bool session_process::idle() const { return watchers_.empty() && on_commit_.empty() && !in_worker_; }

}  // namespace respawn::engine::detail
