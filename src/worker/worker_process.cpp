// worker_process.cpp: see worker_process.hpp.
#include "worker_process.hpp"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <algorithm>

#include "exit_codes.hpp"
#include "respawn/runtime.hpp"

namespace respawn::detail {

namespace {

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string{"SIG"} + abbrev : "signal " + std::to_string(sig);
}

}  // namespace

worker_end describe_worker_end(int status, worker_exit cause, const std::string& detail) {
  bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (cause != worker_exit::none && (killed || cause == worker_exit::start_failed)) {
    switch (cause) {
      case worker_exit::deadline: return {cause, "worker killed at its deadline" + detail};
      case worker_exit::heartbeat: return {cause, "worker stopped answering heartbeats" + detail};
      case worker_exit::malformed: return {cause, "worker sent a malformed frame: " + detail};
      case worker_exit::closed_socket: return {cause, "worker closed its socket"};
      case worker_exit::start_failed: return {cause, "worker did not start: " + detail};
      case worker_exit::cancelled: return {cause, "worker killed: its task did not stop after a cancel" + detail};
      default: break;
    }
  }
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    switch (code) {
      case wire::exit_memory_limit:
        return {worker_exit::memory_limit, "worker killed over its memory limit"};
      case wire::exit_usage:
        return {worker_exit::start_failed, "worker did not start: bad command line (exit 64)"};
      case wire::exit_orphaned:
        return {worker_exit::start_failed, "worker did not start: its node was gone (exit 65)"};
      case wire::exit_protocol:
        return {worker_exit::exited, "worker exited: the node sent it a malformed frame (exit 87)"};
      case wire::exit_socket:
        return {worker_exit::exited, "worker exited: its socket failed (exit 88)"};
      default:
        break;
    }
    return {worker_exit::exited, "worker exited with code " + std::to_string(code)};
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == SIGXCPU) return {worker_exit::cpu_limit, "worker killed over its CPU-time limit"};
    return {worker_exit::crashed, "worker crashed with " + signal_name(sig)};
  }
  return {worker_exit::crashed, "worker ended with status " + std::to_string(status)};
}

worker_process::worker_process(owner_start start) : start_{std::move(start)} {}

worker_process::~worker_process() {
  // A kill runs no terminate(): the worker must not outlive its owner all the same.
  if (port_ && poller_ != nullptr) poller_->release(port_);
}

void worker_process::init() {
  trap_exit(true);
  poller_ = &poller_of(system());
  const std::string& binary = start_.options.binary.empty() ? self_binary_path() : start_.options.binary;
  try {
    port_ = poller_->spawn(spawn_request{binary, start_.options.args}, self());
  } catch (const std::exception& e) {
    cause_ = worker_exit::start_failed;
    stop(exit_reason::other(std::string{"worker did not start: "} + e.what()));
    return;
  }
  os_pid_ = static_cast<std::uint32_t>(port_->os_pid());
  last_heard_ = clock::now();
  send_after(start_.options.start_timeout, start_timeout_tick{});
  send_after(start_.options.heartbeat_interval, heartbeat_tick{});
}

void worker_process::handle(message& m) {
  if (auto* f = m.get_if<port_frames>()) {
    on_frames(f->frames);
  } else if (auto* r = m.get_if<run_tasks>()) {
    send_tasks(r->tasks);
  } else if (auto* c = m.get_if<cancel_task>()) {
    cancel_in_worker(c->id, c->kill_after);
  } else if (auto* a = m.get_if<abandon_tasks>()) {
    if (!abandoned_.insert(a->reply_to).second) return;
    std::vector<std::uint64_t> ids;
    for (auto& t : in_flight_) {
      if (t.reply_to == a->reply_to) ids.push_back(t.id);
    }
    for (auto id : ids) cancel_in_worker(id, start_.options.abandon_grace);
  } else if (auto* g = m.get_if<cancel_grace_tick>()) {
    auto it = find_task(g->task);
    if (it == in_flight_.end() || exited_) return;
    if (it == in_flight_.begin()) {
      // It runs and ignored the cancel: the worker goes, so that the attempt really ends.
      kill_for(worker_exit::cancelled, " (task " + std::to_string(g->task) + ")");
    } else {
      // Not started yet (the worker answers its cancel when it gets there): look again later.
      send_after(start_.options.abandon_grace, cancel_grace_tick{g->task});
    }
  } else if (auto* d = m.get_if<deadline_tick>()) {
    if (d->serial == deadline_serial_ && !in_flight_.empty() && in_flight_.front().id == d->task) {
      kill_for(worker_exit::deadline,
               " (" + std::to_string(in_flight_.front().limits.deadline.count()) + " ms)");
    }
  } else if (m.is<heartbeat_tick>()) {
    if (exited_) return;
    heartbeat();
    send_after(start_.options.heartbeat_interval, heartbeat_tick{});
  } else if (auto* rc = m.get_if<recall_tasks>()) {
    on_recall(rc->ids);
  } else if (m.is<start_timeout_tick>()) {
    if (!ready_ && !exited_) {
      kill_for(worker_exit::start_failed,
               "no hello within " + std::to_string(start_.options.start_timeout.count()) + " ms");
    }
  } else if (auto* bad = m.get_if<port_malformed>()) {
    kill_for(worker_exit::malformed, bad->what);
  } else if (m.is<port_closed>()) {
    // A crashing worker's socket usually closes just before its exit status arrives; wait a
    // moment for the status, which says more, before calling it a closed socket.
    if (!exited_) send_after(start_.options.closed_grace, closed_grace_tick{});
  } else if (m.is<closed_grace_tick>()) {
    if (!exited_ && !stopping_) kill_for(worker_exit::closed_socket, {});
  } else if (m.is<term_grace_tick>()) {
    if (!exited_) port_->signal(SIGKILL);
  } else if (auto* x = m.get_if<port_exited>()) {
    on_exited(x->status);
  } else if (m.is<leave_ack>()) {
    stop(stop_reason_);
  } else if (m.is<worker_info_request>()) {
    reply(m, worker_info{os_pid_, build_, ready_, in_flight_.size()});
  } else if (m.is<retire_worker>()) {
    retiring_ = true;
    if (in_flight_.empty()) begin_stop(exit_reason::normal(), false);
  } else if (auto* e = m.get_if<exit_signal>()) {
    // From the supervisor (shutdown) or anyone linked: stop the worker, then exit with it.
    begin_stop(e->reason.is_normal() ? exit_reason::shutdown() : e->reason, true);
  }
}

void worker_process::heartbeat() {
  // Idle or busy: a worker is judged by whether it answers, not by whether it happened to say
  // something lately (an idle worker says nothing, and neither does a silent task). Any frame
  // read after a ping answers it; the poller's read time counts, so an owner scheduled late does
  // not mistake its own delay for the worker's silence.
  if (!ready_ || cause_ != worker_exit::none || stopping_ || !port_) return;
  auto now = clock::now();
  if (ping_outstanding_ && std::max(last_heard_, port_->last_read()) >= ping_sent_at_) ping_outstanding_ = false;
  if (ping_outstanding_ && now - ping_sent_at_ > start_.options.heartbeat_timeout) {
    kill_for(worker_exit::heartbeat,
             " (silent for over " + std::to_string(start_.options.heartbeat_timeout.count()) + " ms)");
    return;
  }
  std::string frame;
  wire::append_frame(frame, wire::frame_type::ping, 0, {});
  port_->write(frame);
  if (!ping_outstanding_) {
    ping_outstanding_ = true;
    ping_sent_at_ = now;
  }
}

void worker_process::on_recall(const std::vector<std::uint64_t>& ids) {
  if (exited_ || stopping_ || cause_ != worker_exit::none || !port_) return;
  std::string bytes;
  for (auto id : ids) {
    auto it = find_task(id);
    // The head started already (as far as we know): it runs where it is.
    if (it == in_flight_.end() || it == in_flight_.begin() || recalling_.count(id) != 0) continue;
    recalling_.insert(id);
    wire::append_frame(bytes, wire::frame_type::recall, id, {});
  }
  if (!bytes.empty()) port_->write(bytes);
}

void worker_process::send_tasks(std::vector<task_request>& tasks) {
  if (tasks.empty()) return;
  if (exited_ || stopping_ || cause_ != worker_exit::none) {
    // Too late for this worker: back to the pool (or failed, without one).
    if (start_.manager) {
      send(start_.manager, requeue_tasks{self(), std::move(tasks), false});
    } else {
      for (auto& t : tasks) {
        send(t.reply_to, task_outcome{t.id, task_status::worker_died, {},
                                      "worker is stopping", worker_exit::shutdown, os_pid_, t.attempt});
      }
    }
    return;
  }
  bool was_idle = in_flight_.empty();
  std::string bytes;
  for (auto& t : tasks) {
    wire::task_frame tf;
    tf.kind = t.kind;
    tf.attempt = t.attempt;
    tf.memory_limit_mb = t.limits.memory_mb;
    tf.cpu_limit_s = t.limits.cpu_seconds;
    tf.args = t.args;
    tf.snapshot = t.snapshot;
    wire::append_frame(bytes, wire::frame_type::task, t.id, wire::encode(tf));
    in_flight_.push_back(std::move(t));
  }
  port_->write(bytes);
  if (was_idle) head_started();
}

void worker_process::head_started() {
  ++deadline_serial_;
  head_deferred_ = false;
  head_since_ = clock::now();
  if (in_flight_.empty()) return;
  if (recalling_.count(in_flight_.front().id) != 0) {
    // Recalled: the worker's answer says whether it started (see the header).
    head_deferred_ = true;
    return;
  }
  begin_head();
}

// A frame about `id` came: if it is the head whose start was in doubt, it runs.
void worker_process::head_heard(std::uint64_t id) {
  recalling_.erase(id);
  if (!head_deferred_ || in_flight_.empty() || in_flight_.front().id != id) return;
  head_deferred_ = false;
  begin_head();
}

void worker_process::begin_head() {
  const auto& head = in_flight_.front();
  // The worker runs its tasks in order: the head is the one it runs now. Its attempt begins here
  // (task_started), not when it was sent: a task behind another never started if the worker dies.
  send(head.reply_to, task_started{head.id, head.attempt, os_pid_});
  // The head starts about now (the one before it just ended, or the worker was idle): the
  // deadline counts from here, so it never fires early.
  if (head.limits.deadline.count() > 0) {
    send_after(head.limits.deadline, deadline_tick{head.id, deadline_serial_});
  }
}

void worker_process::cancel_in_worker(std::uint64_t id, std::chrono::milliseconds kill_after) {
  if (find_task(id) == in_flight_.end() || exited_) return;
  std::string frame;
  wire::append_frame(frame, wire::frame_type::cancel, id, {});
  port_->write(frame);
  cancel_sent_.insert(id);
  if (kill_after.count() > 0) send_after(kill_after, cancel_grace_tick{id});
}

std::deque<task_request>::iterator worker_process::find_task(std::uint64_t id) {
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (it->id == id) return it;
  }
  return in_flight_.end();
}

void worker_process::on_frames(std::vector<wire::frame>& frames) {
  last_heard_ = clock::now();
  std::vector<std::uint64_t> done;
  std::vector<task_request> recalled;
  for (auto& f : frames) {
    switch (f.type) {
      case wire::frame_type::hello: {
        wire::hello_frame h;
        try {
          h = wire::decode_hello(f.payload);
        } catch (const wire::malformed_frame& e) {
          kill_for(worker_exit::malformed, e.what());
          return;
        }
        ready_ = true;
        build_ = h.build;
        if (start_.manager) send(start_.manager, worker_ready{self(), build_, os_pid_, start_.generation});
        break;
      }
      case wire::frame_type::result: {
        auto it = find_task(f.task);
        if (it == in_flight_.end()) break;  // cancelled and already answered
        wire::result_frame r;
        try {
          r = wire::decode_result(f.payload);
        } catch (const wire::malformed_frame& e) {
          kill_for(worker_exit::malformed, e.what());
          return;
        }
        if (r.status == wire::task_status::recalled) {
          // Dropped from the worker's queue: it never started. Back to the pool, unless a cancel
          // or its submitter's death caught it on the way.
          bool was_head = it == in_flight_.begin();
          recalling_.erase(f.task);
          task_request t = std::move(*it);
          in_flight_.erase(it);
          if (cancel_sent_.erase(t.id) != 0) {
            send(t.reply_to, task_outcome{t.id, task_status::cancelled, {}, {}, worker_exit::none, os_pid_, t.attempt});
            done.push_back(t.id);
          } else if (abandoned_.count(t.reply_to) != 0) {
            done.push_back(t.id);
          } else {
            recalled.push_back(std::move(t));
          }
          if (was_head) head_started();
          break;
        }
        head_heard(f.task);
        cancel_sent_.erase(f.task);
        task_outcome o;
        o.id = f.task;
        o.os_pid = os_pid_;
        o.attempt = it->attempt;
        switch (r.status) {
          case wire::task_status::succeeded:
            o.status = task_status::succeeded;
            o.result = std::move(r.value);
            break;
          case wire::task_status::failed:
            o.status = task_status::failed;
            o.error = std::move(r.value);
            break;
          case wire::task_status::cancelled:
            o.status = task_status::cancelled;
            break;
          case wire::task_status::unknown_kind:
            o.status = task_status::unknown_kind;
            o.error = std::move(r.value);
            break;
          case wire::task_status::recalled:
            break;  // handled above
        }
        bool was_head = it == in_flight_.begin();
        send(it->reply_to, std::move(o));
        in_flight_.erase(it);
        done.push_back(f.task);
        if (was_head) head_started();
        break;
      }
      case wire::frame_type::progress:
      case wire::frame_type::output:
      case wire::frame_type::snapshot: {
        auto it = find_task(f.task);
        if (it == in_flight_.end()) break;
        head_heard(f.task);
        auto type = f.type == wire::frame_type::progress ? task_event_type::progress
                    : f.type == wire::frame_type::output ? task_event_type::output
                                                         : task_event_type::snapshot;
        send(it->reply_to, task_event{f.task, type, std::move(f.payload), it->attempt});
        break;
      }
      case wire::frame_type::pong:
        break;
      case wire::frame_type::recall_refused:
        head_heard(f.task);  // it runs (or ended: its result came first)
        break;
      default:
        kill_for(worker_exit::malformed,
                 std::string{"a "} + wire::to_string(f.type) + " frame, which only the node sends");
        return;
    }
  }
  if (!abandoned_.empty() && !done.empty()) {
    // Forget dead submitters with no task left here (the set stays as small as the orphans).
    std::erase_if(abandoned_, [this](const respawn::pid& gone) {
      return std::none_of(in_flight_.begin(), in_flight_.end(), [&](const task_request& t) { return t.reply_to == gone; });
    });
  }
  if (!done.empty() && start_.manager) {
    send(start_.manager, worker_done{self(), std::move(done), in_flight_.empty() ? 0 : in_flight_.front().id, head_since_});
  }
  if (!recalled.empty()) {
    if (start_.manager) {
      send(start_.manager, requeue_tasks{self(), std::move(recalled), false});
    } else {
      // No pool to hand them to (a recall comes only from a pool): run them here after all.
      send_tasks(recalled);
    }
  }
  if (retiring_ && in_flight_.empty() && !stopping_) begin_stop(exit_reason::normal(), false);
}

void worker_process::kill_for(worker_exit cause, std::string detail) {
  if (exited_ || cause_ != worker_exit::none) return;
  cause_ = cause;
  cause_detail_ = std::move(detail);
  if (port_) port_->signal(SIGKILL);
}

void worker_process::begin_stop(exit_reason reason, bool term) {
  if (stopping_) return;
  stopping_ = true;
  stop_reason_ = std::move(reason);
  if (exited_ || !port_) {
    stop(stop_reason_);
    return;
  }
  // Retiring: EOF tells the worker to exit (it is idle). Shutdown: SIGTERM, as OTP's shutdown
  // exit signal; either way SIGKILL after term_grace.
  if (term) {
    port_->signal(SIGTERM);
  } else {
    port_->close_socket();
  }
  send_after(start_.options.term_grace, term_grace_tick{});
}

void worker_process::fail_in_flight(worker_exit exit, const std::string& text, bool requeue_unstarted) {
  cancel_sent_.clear();
  if (in_flight_.empty()) return;
  // A head whose start was in doubt (recalled) counts as started: its attempt is the one that ended.
  if (head_deferred_) {
    head_deferred_ = false;
    begin_head();
  }
  recalling_.clear();
  task_request head = std::move(in_flight_.front());
  in_flight_.pop_front();
  send(head.reply_to, task_outcome{head.id, task_status::worker_died, {}, text, exit, os_pid_, head.attempt});
  // A task whose submitter died goes nowhere: handing it back would run an attempt nobody fences.
  std::erase_if(in_flight_, [this](const task_request& t) { return abandoned_.count(t.reply_to) != 0; });
  if (in_flight_.empty()) return;
  if (requeue_unstarted && start_.manager) {
    std::vector<task_request> rest{std::make_move_iterator(in_flight_.begin()),
                                   std::make_move_iterator(in_flight_.end())};
    send(start_.manager, requeue_tasks{self(), std::move(rest), false});
  } else {
    for (auto& t : in_flight_) {
      send(t.reply_to, task_outcome{t.id, task_status::worker_died, {},
                                    "not started: " + text, exit, os_pid_, t.attempt});
    }
  }
  in_flight_.clear();
}

void worker_process::on_exited(int status) {
  exited_ = true;
  if (port_) {
    poller_->release(port_);
    port_.reset();
  }
  if (stopping_) {
    // Asked to stop (shutdown, retirement): the pool is going away or sends nothing more.
    fail_in_flight(worker_exit::shutdown, "worker stopped: " + stop_reason_.to_string(), false);
    stop(stop_reason_);
    return;
  }
  worker_end end = describe_worker_end(status, cause_, cause_detail_);
  fail_in_flight(end.exit, end.text, true);
  stop_reason_ = exit_reason::other(end.text);
  if (start_.manager) {
    leaving_ = true;
    send(start_.manager, requeue_tasks{self(), {}, true});
  } else {
    stop(stop_reason_);
  }
}

void worker_process::terminate(const exit_reason& reason) {
  if (port_) {
    poller_->release(port_);  // kills the worker if it still runs; the poller reaps it
    port_.reset();
  }
  fail_in_flight(worker_exit::shutdown, "worker stopped: " + reason.to_string(), true);
}

}  // namespace respawn::detail
