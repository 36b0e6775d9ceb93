// job_process.cpp: see job_process.hpp.
#include "job_process.hpp"

#include <cstdio>

#include <stdexcept>

#include "respawn/jobs/fold.hpp"
#include "respawn/jobs/json_limits.hpp"
#include "respawn/runtime.hpp"
#include "runtime_gate.hpp"
#include "valid_utf8.hpp"

namespace respawn::engine::detail {

namespace {

nlohmann::json parse_or_text(const std::string& text) {
  auto j = jobs::parse_json(text);  // depth-limited (F1): a deeper value is kept as its text
  return j.ok() ? std::move(j).value() : nlohmann::json(text);
}

}  // namespace

struct retry_timer {};
struct progress_due {  // the progress interval has passed: log the pending report
  std::uint32_t attempt;
};
struct store_retry_timer {};
struct reload_timer {};

void append_then_tell(runtime& rt, store::job_store& store, jobs::event e, respawn::pid to, std::uint64_t tag) {
  auto gate = gate_of(rt);
  std::vector<jobs::event> events;
  events.push_back(std::move(e));
  store.append_async(std::move(events), [gate, to, tag](store::store_result<store::committed> r) {
    if (r.ok()) {
      gate->send(to, append_done{tag, true, {}});
    } else {
      gate->send(to, append_done{tag, false, r.error().message, r.error().code});
    }
  });
}

void job_process::init() {
  // A restart: the store has the truth (the state this process was first given is stale).
  if (!fresh_ && !load()) return;  // a transient read failure: begin() once a retry reads it
  begin();
}

bool job_process::load() {
  auto r = s_.store->get(s_.state.id);
  if (!r.ok()) {
    if (!is_transient(r.error().code)) {
      throw std::runtime_error{"job " + std::to_string(s_.state.id) + ": " + r.error().message};
    }
    // Nobody knows this process yet (the dispatcher learns of it from job_ready, in begin()):
    // nothing but this timer can reach it until then.
    store_backoff_ = store_backoff_.count() == 0 ? s_.store_retry_initial
                                                 : std::min(store_backoff_ * 2, s_.store_retry_max);
    send_after(store_backoff_, reload_timer{});
    return false;
  }
  store_backoff_ = std::chrono::milliseconds{0};
  s_.state = std::move(r).value();
  return true;
}

void job_process::begin() {
  if (s_.state.status == jobs::job_status::running && !run_) {
    // The attempt it was running may still run in a worker (this process, or the dispatcher,
    // crashed; not the node, whose workers died with it): no next attempt before the pool says
    // that task is gone.
    fenced_ = false;
    fence_before_run_ = false;
    send(s_.pool, fence_task{s_.state.id, self()});
  }
  if (run_ && s_.state.status == jobs::job_status::queued) start_attempt();  // submits the task
  // A task in the pool is a running attempt as the dispatcher sees it (it holds a slot), even
  // before it starts and the log says so: told `queued`, the dispatcher would run it again.
  send(s_.dispatcher, job_ready{s_.state.id, self(), attempt_in_worker_ ? jobs::job_status::running : s_.state.status});
  switch (s_.state.status) {
    case jobs::job_status::queued:
      break;  // the dispatcher queues it
    case jobs::job_status::running:
      if (run_) break;  // cannot happen: a job is run on start only when queued
      // Claimed, but no outcome was logged: the attempt died with the node (or this process).
      fail_attempt("the attempt was interrupted: the node or the job's process restarted", true);
      break;
    case jobs::job_status::failed:
      schedule_retry();
      break;
    default:
      stop();  // final already: nothing to do
  }
}

void job_process::log(jobs::event e, std::function<void()> then) {
  if (auto error = jobs::apply(s_.state, e)) {
    throw std::logic_error{"job " + std::to_string(s_.state.id) + ": " + error->message};
  }
  std::uint64_t tag = next_tag_++;
  on_commit_.emplace(tag, std::move(then));
  unconfirmed_.push_back(unconfirmed{tag, e});
  // While a store retry is pending, later appends wait for it (the log is in sequence order).
  if (!store_retrying_) send_append(e, tag);
}

void job_process::send_append(const jobs::event& e, std::uint64_t tag) {
  ++in_store_;
  append_then_tell(system(), *s_.store, e, self(), tag);
}

void job_process::on_append_done(const append_done& done) {
  if (in_store_ > 0) --in_store_;
  if (!done.ok) {
    if (store_retrying_) return;  // a later append of the failed round (it followed a gap): resent
    if (!is_transient(done.code)) {
      // Let it crash: the restart reads the job back from the store.
      throw std::runtime_error{"job " + std::to_string(s_.state.id) + ": the store failed: " + done.error};
    }
    // Transient: back off and send this append and every later one again, in order.
    store_retrying_ = true;
    store_failed_ = true;
    store_backoff_ = store_backoff_.count() == 0 ? s_.store_retry_initial
                                                 : std::min(store_backoff_ * 2, s_.store_retry_max);
    if (done.code == store::store_errc::disk_full) send(s_.dispatcher, store_disk_full{});
    send_after(store_backoff_, store_retry_timer{});
    return;
  }
  if (!unconfirmed_.empty() && unconfirmed_.front().tag == done.tag) unconfirmed_.pop_front();
  if (store_failed_) {
    store_failed_ = false;
    store_backoff_ = std::chrono::milliseconds{0};
    send(s_.dispatcher, store_recovered{});
  }
  auto it = on_commit_.find(done.tag);
  if (it != on_commit_.end()) {
    auto then = std::move(it->second);
    on_commit_.erase(it);
    if (then) then();
  }
}

void job_process::resend_appends() {
  if (in_store_ > 0) {
    // Sends of the failed round are still unanswered: resending now could race them.
    send_after(s_.store_retry_initial, store_retry_timer{});
    return;
  }
  store_retrying_ = false;
  for (auto& u : unconfirmed_) send_append(u.event, u.tag);
}

void job_process::handle(message& m) {
  if (auto* done = m.get_if<append_done>()) {
    on_append_done(*done);
  } else if (m.is<reload_timer>()) {
    if (load()) begin();
  } else if (m.is<store_retry_timer>()) {
    resend_appends();
  } else if (auto* fenced = m.get_if<task_fenced>()) {
    if (fenced->id != s_.state.id || fenced_) return;
    fenced_ = true;
    if (claim_waiting_) {
      claim_waiting_ = false;
      start_attempt();
    }
  } else if (m.is<run_attempt>()) {
    start_attempt();
  } else if (auto* st = m.get_if<task_started>()) {
    on_started(*st);
  } else if (auto* e = m.get_if<task_event>()) {
    if (e->id != s_.state.id || !attempt_in_worker_ || !attempt_started_) return;
    if (e->attempt != 0 && e->attempt != attempt_in_pool_) return;  // a stale attempt's
    auto value = parse_or_text(valid_utf8(e->value));
    switch (e->type) {
      case task_event_type::progress:
        log_progress(std::move(value));
        break;
      case task_event_type::output:
        flush_progress();  // the log keeps the order the task reported in
        if (s_.state.outputs >= s_.outputs_max) {  // engine_config::outputs_max: dropped, not refused
          if (!outputs_dropped_) {
            std::fprintf(stderr, "respawn: job %llu reached its %llu outputs: further outputs are dropped\n",
                         static_cast<unsigned long long>(s_.state.id),
                         static_cast<unsigned long long>(s_.outputs_max));
          }
          outputs_dropped_ = true;
          break;
        }
        log(jobs::make_output(s_.state.id, next_sequence(), s_.clock(), std::move(value)), {});
        break;
      case task_event_type::snapshot:
        flush_progress();
        log(jobs::make_snapshot(s_.state.id, next_sequence(), s_.clock(), std::move(value)), {});
        break;
    }
  } else if (auto* due = m.get_if<progress_due>()) {
    progress_timer_ = {};
    if (due->attempt == attempt_in_pool_ && attempt_in_worker_ && attempt_started_) flush_progress();
  } else if (auto* o = m.get_if<task_outcome>()) {
    if (o->attempt != 0 && o->attempt != attempt_in_pool_) return;  // a stale attempt's
    if (o->id == s_.state.id && attempt_in_worker_) on_outcome(*o);
  } else if (m.is<retry_timer>()) {
    retry_timer_ = {};
    // A timer that fired just before an attempt started is stale: only a waiting job is due.
    if (s_.state.status == jobs::job_status::failed) send(s_.dispatcher, retry_due{s_.state.id});
  } else if (m.is<cancel_queued>()) {
    finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), false);
  } else if (m.is<cancel_live>()) {
    if (jobs::is_final(s_.state.status) || s_.state.cancel_requested) return;
    if (s_.state.status == jobs::job_status::failed && !attempt_in_worker_) {
      if (retry_timer_) cancel_timer(retry_timer_);
      finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), claim_waiting_);
    } else if (s_.state.status == jobs::job_status::queued && !attempt_in_worker_) {
      // Dispatched but not sent to the pool (it waits for the fence, or for run_attempt): no
      // task to stop. Its slot is freed with the cancel.
      claim_waiting_ = false;
      finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), true);
    } else if (s_.state.status != jobs::job_status::running) {
      // Its task waits in the pool (queued there, or behind another task in a worker): the
      // pool drops it and answers `cancelled`, or, if it starts meanwhile, it is cancelled like
      // a running one. The job ends `cancelled` on that outcome.
      log(jobs::make_cancel_requested(s_.state.id, next_sequence(), s_.clock(), "cancelled by the user"), [this] {
        if (attempt_in_worker_) send(s_.pool, cancel_task{s_.state.id, s_.cancel_grace});
      });
    } else if (s_.state.status == jobs::job_status::running) {
      log(jobs::make_cancel_requested(s_.state.id, next_sequence(), s_.clock(), "cancelled by the user"), [this] {
        // The task is asked to stop; past cancel_grace its worker is killed (a task that
        // ignores cancelled() must not run on to its deadline).
        if (attempt_in_worker_) send(s_.pool, cancel_task{s_.state.id, s_.cancel_grace});
      });
    }
  }
}

void job_process::start_attempt() {
  if (s_.state.status != jobs::job_status::queued && s_.state.status != jobs::job_status::failed) return;
  if (attempt_in_worker_) return;  // sent already (a run order that came twice)
  if (fence_before_run_) {
    // A predecessor of this process (or of the dispatcher) may have left this job's task in the
    // pool, started or not, whatever the log says: its task must be gone before ours goes in.
    fence_before_run_ = false;
    fenced_ = false;
    send(s_.pool, fence_task{s_.state.id, self()});
  }
  if (!fenced_) {  // the lost attempt's task may still run: submit once the pool says it is gone
    claim_waiting_ = true;
    return;
  }
  claim_waiting_ = false;
  if (retry_timer_) {  // run before its own timer said so (a restarted process, re-ordered)
    cancel_timer(retry_timer_);
    retry_timer_ = {};
  }
  // The task goes to the pool now; the attempt counts (`claimed`) only when it starts in a
  // worker (task_started): a task that waited in the pool's queue or behind another task in a
  // worker when the node died, or that the pool gave back unstarted, costs no attempt.
  task_request t;
  t.id = s_.state.id;
  t.kind = s_.state.request.kind;
  t.args = s_.state.request.args.dump();
  t.attempt = s_.state.attempts + 1;
  if (!s_.state.snapshot.is_null()) t.snapshot = s_.state.snapshot.dump();
  // The request's own timeout, else the engine's.
  t.limits.deadline = s_.state.request.timeout_ms != 0 ? std::chrono::milliseconds{s_.state.request.timeout_ms}
                                                        : s_.attempt_timeout;
  t.reply_to = self();
  // Fair shares: one user's tasks occupy at most the pool's max_workers_per_group workers.
  t.group = s_.state.request.user;
  attempt_in_worker_ = true;
  attempt_started_ = false;
  attempt_in_pool_ = t.attempt;
  send(s_.pool, submit_task{std::move(t)});
}

void job_process::on_started(const task_started& st) {
  if (st.id != s_.state.id || !attempt_in_worker_ || attempt_started_ || st.attempt != attempt_in_pool_) return;
  attempt_started_ = true;
  // Applied now, appended in order: the task's events and outcome are logged after it. Should
  // the node die before it commits, the attempt is not counted (the task died with the node).
  log(jobs::make_claimed(s_.state.id, next_sequence(), s_.clock(), attempt_in_pool_), {});
}

void job_process::log_progress(nlohmann::json value) {
  auto now = std::chrono::steady_clock::now();
  if (!progress_timer_ && now - progress_logged_at_ >= s_.progress_interval) {
    progress_logged_at_ = now;
    log(jobs::make_progress(s_.state.id, next_sequence(), s_.clock(), std::move(value)), {});
    return;
  }
  pending_progress_ = std::move(value);  // the latest report wins
  if (!progress_timer_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(s_.progress_interval - (now - progress_logged_at_));
    progress_timer_ = send_after(std::max(wait, std::chrono::milliseconds{0}), progress_due{attempt_in_pool_});
  }
}

// Logs the pending progress report, if any (before the attempt's next event, or when its
// interval has passed).
void job_process::flush_progress() {
  if (progress_timer_) {
    cancel_timer(progress_timer_);
    progress_timer_ = {};
  }
  if (!pending_progress_) return;
  progress_logged_at_ = std::chrono::steady_clock::now();
  auto value = std::move(*pending_progress_);
  pending_progress_.reset();
  log(jobs::make_progress(s_.state.id, next_sequence(), s_.clock(), std::move(value)), {});
}

void job_process::on_outcome(const task_outcome& o) {
  if (attempt_started_) flush_progress();  // the attempt's last report, before its outcome
  pending_progress_.reset();
  attempt_in_worker_ = false;
  if (!attempt_started_) {
    bool unstarted = o.status == task_status::worker_died || o.status == task_status::cancelled;
    if (unstarted && s_.state.cancel_requested) {
      // Cancelled before it started (the pool dropped it from its queue): no attempt was made.
      finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), true);
      return;
    }
    if (unstarted) {
      // The task never started (the pool stopped, or gave it back): no attempt was made. The
      // job stays queued, without an event, and goes back to the dispatcher's queue.
      send(s_.dispatcher, attempt_unstarted{s_.state.id});
      return;
    }
    // An outcome without task_started (a pool that does not say it): the attempt was made.
    on_started(task_started{o.id, attempt_in_pool_, o.os_pid});
  }
  attempt_started_ = false;
  switch (o.status) {
    case task_status::succeeded:
      finish(jobs::make_succeeded(s_.state.id, next_sequence(), s_.clock(), parse_or_text(valid_utf8(o.result))),
             true);
      return;
    case task_status::cancelled:
      finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), true);
      return;
    case task_status::unknown_kind:
      finish(jobs::make_dead(s_.state.id, next_sequence(), s_.clock(), valid_utf8(o.error)), true);
      return;
    case task_status::failed:
    case task_status::worker_died:
      if (s_.state.cancel_requested) {
        finish(jobs::make_cancelled(s_.state.id, next_sequence(), s_.clock()), true);
      } else {
        fail_attempt(valid_utf8(o.error), true);
      }
      return;
  }
}

void job_process::fail_attempt(const std::string& error, bool was_in_queue) {
  auto decision = jobs::after_failed_attempt(s_.retry, s_.state, s_.clock());
  if (decision.dead) {
    finish(jobs::make_dead(s_.state.id, next_sequence(), s_.clock(), error), was_in_queue);
    return;
  }
  log(jobs::make_attempt_failed(s_.state.id, next_sequence(), s_.clock(), error, decision.retry_at),
      [this, was_in_queue] {
        if (was_in_queue) send(s_.dispatcher, attempt_ended{s_.state.id});
        schedule_retry();
      });
}

void job_process::finish(jobs::event e, bool was_in_queue) {
  log(std::move(e), [this, was_in_queue] {
    if (was_in_queue) send(s_.dispatcher, attempt_ended{s_.state.id});
    send(s_.dispatcher, job_final{s_.state.id, s_.state.status});
    stop();
  });
}

void job_process::schedule_retry() {
  auto due = s_.state.retry_at.value_or(s_.clock());
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(due - s_.clock());
  if (delay.count() < 0) delay = std::chrono::milliseconds{0};
  retry_timer_ = send_after(delay, retry_timer{});
}

}  // namespace respawn::engine::detail
