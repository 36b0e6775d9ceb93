// supervisor and dynamic_supervisor: see include/respawn/supervisor.hpp for the behaviour.
//
// Everything the supervisor does to its children is a queue of operations (stop one child, start
// a group, exit), run in order. A stop is asynchronous: the supervisor monitors the child, sends
// `shutdown`, arms a timer for the child's shutdown timeout and returns to its mailbox; the
// child's `down` (or the timer, which turns into `kill`) moves the queue on. We wait for `down`
// rather than the link's exit signal because a child that unlinked itself would otherwise leave
// the supervisor waiting forever (OTP's supervisor does the same).
//
// Restart intensity: the times of the restarts within the last `period`, oldest first, at most
// intensity + 1 of them; so the cost of a restart does not grow with the number of restarts
// (OTP's supervisor rebuilds its restart list on every restart).
#include "respawn/supervisor.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_set>

#include "respawn/runtime.hpp"

namespace respawn {

const char* to_string(restart_type r) noexcept {
  switch (r) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

const char* to_string(child_type t) noexcept { return t == child_type::worker ? "worker" : "supervisor"; }

const char* to_string(strategy s) noexcept {
  switch (s) {
    case strategy::one_for_one:
      return "one_for_one";
    case strategy::one_for_all:
      return "one_for_all";
    case strategy::rest_for_one:
      return "rest_for_one";
  }
  return "unknown";
}

namespace {
// Timer messages the supervisor sends itself.
struct stop_timeout {
  std::string id;
  std::uint64_t epoch;
};
struct delayed_start {
  std::vector<std::string> ids;
  std::string crashed;
  std::uint64_t epoch;
};
}  // namespace

struct supervisor::child {
  child_spec spec;
  respawn::pid pid{};
  std::uint64_t restarts = 0;
  std::optional<exit_reason> last_exit;
  snapshot last_snapshot;
  std::chrono::steady_clock::time_point started_at{};
  std::uint32_t backoff_attempt = 0;
  std::uint64_t epoch = 0;  // bumped by every start and stop: stale timers are recognised
  monitor_ref stop_monitor;
  timer_ref stop_timer;
  // A pending terminate_child call, answered once the child is down.
  respawn::pid reply_pid{};
  std::uint64_t reply_ref = 0;
};

struct supervisor::op {
  enum class kind { stop, start, exit } what;
  std::string id;                // stop
  std::vector<std::string> ids;  // start, in start order
};

supervisor::supervisor(supervisor_spec spec) : flags_{spec.flags} {
  for (auto& c : spec.children) add_child(std::move(c));
}

supervisor::~supervisor() = default;

child_start supervisor::of(supervisor_spec spec) {
  return [spec = std::move(spec)](const snapshot&) { return std::make_unique<supervisor>(spec); };
}

supervisor::child& supervisor::add_child(child_spec spec) {
  // Bad configuration is rejected here, at start, with what to change.
  if (spec.id.empty()) throw std::invalid_argument{"child_spec: id must not be empty"};
  if (!spec.start) throw std::invalid_argument{"child_spec '" + spec.id + "': start function missing"};
  if (find(spec.id) != nullptr) throw std::invalid_argument{"child_spec: duplicate id '" + spec.id + "'"};
  if (spec.backoff && (spec.backoff->multiplier < 1.0 || spec.backoff->jitter < 0 || spec.backoff->jitter > 1)) {
    throw std::invalid_argument{"child_spec '" + spec.id + "': backoff needs multiplier >= 1 and jitter in [0, 1]"};
  }
  auto c = std::make_unique<child>();
  c->spec = std::move(spec);
  by_id_[c->spec.id] = c.get();
  children_.push_back(std::move(c));
  return *children_.back();
}

void supervisor::init() {
  trap_exit(true);
  random_.seed(flags_.seed != 0 ? flags_.seed : (std::uint64_t{self().index} << 32) ^ self().generation);
  // OTP's acknowledged start: the children start one at a time, each once the one before has
  // finished its init (a child supervisor: once its whole subtree has), and this supervisor
  // acknowledges its own start only when all of them have. So a child may look up the names of
  // the children started before it, and whoever started this tree may use all of it.
  defer_start_ack();
  std::vector<std::string> ids;
  for (auto& c : children_) ids.push_back(c->spec.id);
  initial_ = true;
  ops_.push_back(std::make_unique<op>(op{op::kind::start, {}, std::move(ids)}));
  run_ops();
}

// A child failed to start (its start function threw, or it ended before acknowledging): at
// init, OTP fails the supervisor's start and stops what was started; later, it counts as a crash.
void supervisor::failed_start(child& c, exit_reason reason, snapshot state) {
  if (!ops_.empty() && ops_.front()->what == op::kind::start) ops_.pop_front();  // the rest of that group
  if (initial_) {
    initial_ = false;
    c.last_exit = reason;
    set_pid(c, {});
    exit_with_ = exit_reason::other("failed to start child '" + c.spec.id + "': " + reason.to_string());
    give_up();
    return;
  }
  on_child_exit(c, std::move(reason), std::move(state));
}

bool supervisor::start(child& c, bool acknowledged) {
  ++c.epoch;
  try {
    std::unique_ptr<process> proc = c.spec.start(c.last_snapshot);
    if (!proc) throw std::runtime_error{"the start function returned no process"};
    spawn_options options;
    options.link = true;
    options.name = c.spec.name;
    options.mailbox_bound = c.spec.mailbox_bound;
    options.handler_budget = c.spec.handler_budget;
    options.dedicated_thread = c.spec.dedicated_thread;
    if (acknowledged) options.ack_to = self();
    set_pid(c, spawn_owned(std::move(proc), options).pid);
    c.started_at = system().now();
    return true;
  } catch (const std::exception& e) {
    set_pid(c, {});
    c.last_exit = exit_reason::error("start failed", e.what());
    return false;
  }
}

// Indexed by pid and by id: a dynamic supervisor may hold tens of thousands of children (one per
// live job), and every exit and every start_child looks one up.
supervisor::child* supervisor::find(respawn::pid p) {
  auto it = by_pid_.find(p);
  return it == by_pid_.end() ? nullptr : it->second;
}

supervisor::child* supervisor::find(const std::string& id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void supervisor::set_pid(child& c, respawn::pid p) {
  if (c.pid) by_pid_.erase(c.pid);
  c.pid = p;
  if (p) by_pid_[p] = &c;
}

void supervisor::remove(child& c) {
  set_pid(c, {});
  by_id_.erase(c.spec.id);
  auto it = std::find_if(children_.begin(), children_.end(), [&](auto& p) { return p.get() == &c; });
  if (it != children_.end()) children_.erase(it);
}

namespace {
struct crash_summary_due {
  std::string id;
};
}  // namespace

void supervisor::report_crash(const child& c, const exit_reason& reason) {
  auto now = system().now();
  auto& window = crash_windows_[c.spec.id];
  if (window.reported == 0 || now - window.start >= flags_.crash_report_period) {
    summarise_crashes(c.spec.id);
    window.start = now;
    window.reported = 0;
  }
  if (window.reported >= flags_.crash_reports_max) {
    // Over the limit: counted, and summarised once the period is over.
    if (window.suppressed++ == 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(flags_.crash_report_period - (now - window.start));
      send_after(std::max(left, std::chrono::milliseconds{1}), crash_summary_due{c.spec.id});
    }
    window.last_reason = reason.to_string();
    return;
  }
  ++window.reported;
  std::string line = "crash report: " + c.pid.to_string();
  if (!c.spec.name.empty()) line += " (" + c.spec.name + ")";
  line += " child '" + c.spec.id + "' exited with " + reason.to_string() + "; supervisor " + self().to_string() +
          ", restarts so far " + std::to_string(c.restarts);
  system().log(line);
}

void supervisor::summarise_crashes(const std::string& id) {
  auto it = crash_windows_.find(id);
  if (it == crash_windows_.end() || it->second.suppressed == 0) return;
  system().log("crash report: " + std::to_string(it->second.suppressed) + " more crashes of child '" + id +
               "' suppressed in the last " + std::to_string(flags_.crash_report_period.count()) +
               " ms; supervisor " + self().to_string() + ", the last with " + it->second.last_reason);
  it->second.suppressed = 0;
}

void supervisor::handle(message& m) {
  if (auto* due = m.get_if<crash_summary_due>()) {
    summarise_crashes(due->id);
    return;
  }
  if (auto* e = m.get_if<exit_signal>()) {
    if (e->from == parent()) {
      // Our parent (or, for a root supervisor, the outside world) tells us to end: children go
      // first, in reverse start order.
      exit_with_ = e->reason.is(exit_reason::kind::normal) ? exit_reason::shutdown() : e->reason;
      give_up();
      return;
    }
    child* c = find(e->from);
    if (c == nullptr) return;
    if (c == starting_) {
      // It ended before acknowledging its start.
      starting_ = nullptr;
      failed_start(*c, e->reason, std::move(e->state));
      run_ops();
      return;
    }
    if (c == stopping_) {
      // A child being stopped ends through its `down`; but only this signal carries its latest
      // snapshot, which its replacement (one_for_all, rest_for_one, restart_child) starts from.
      if (e->state) c->last_snapshot = std::move(e->state);
      return;
    }
    on_child_exit(*c, e->reason, std::move(e->state));
    run_ops();
  } else if (auto* a = m.get_if<start_ack>()) {
    if (starting_ != nullptr && starting_->pid == a->pid) {
      starting_ = nullptr;
      run_ops();
    }
  } else if (auto* d = m.get_if<down>()) {
    if (stopping_ != nullptr && d->ref == stopping_->stop_monitor) {
      child& c = *stopping_;
      c.last_exit = d->reason;
      finish_stop(c);
      run_ops();
    }
  } else if (auto* t = m.get_if<stop_timeout>()) {
    if (stopping_ != nullptr && stopping_->spec.id == t->id && stopping_->epoch == t->epoch) {
      exit(stopping_->pid, exit_reason::kill());  // its `down` still ends the stop
    }
  } else if (auto* s = m.get_if<delayed_start>()) {
    child* c = find(s->crashed);
    if (c == nullptr || c->epoch != s->epoch || giving_up_) return;
    ops_.push_back(std::make_unique<op>(op{op::kind::start, {}, s->ids}));
    run_ops();
  } else if (m.is<which_children>()) {
    std::vector<child_info> out;
    for (auto& c : children_) {
      out.push_back(child_info{c->spec.id, c->pid, c->spec.name, c->spec.restart, c->spec.type, c->restarts,
                               c->last_exit ? c->last_exit->to_string() : std::string{}});
    }
    reply(m, std::move(out));
  } else if (m.is<count_children>()) {
    std::size_t running = 0;
    for (auto& c : children_) running += c->pid ? 1 : 0;
    reply(m, running);
  } else if (auto* tc = m.get_if<terminate_child>()) {
    child* c = find(tc->id);
    if (c == nullptr || !c->pid || c->reply_ref != 0) {
      reply(m, false);
      return;
    }
    c->reply_pid = m.sender();
    c->reply_ref = m.call_ref();
    enqueue_stop(*c);
    run_ops();
  } else if (auto* rc = m.get_if<restart_child>()) {
    child* c = find(rc->id);
    reply(m, c != nullptr && !c->pid && !giving_up_ && start(*c));
  }
}

void supervisor::terminate(const exit_reason&) {
  // Nothing to do: an orderly exit has stopped the children already (the exit op runs last);
  // any other exit reaches them through their links.
}

void supervisor::on_child_exit(child& c, exit_reason reason, snapshot state) {
  c.last_exit = reason;
  if (state) c.last_snapshot = std::move(state);
  if (reason.is_abnormal() && system().config().crash_reports) report_crash(c, reason);
  set_pid(c, {});
  ++c.epoch;
  if (giving_up_) return;
  const bool restart = c.spec.restart == restart_type::permanent ||
                       (c.spec.restart == restart_type::transient && reason.is_abnormal());
  if (!restart) {
    if (c.spec.restart == restart_type::temporary) remove(c);
    return;
  }
  if (!record_restart()) {
    system().log("supervisor " + self().to_string() + " reached its restart intensity (" +
                 std::to_string(flags_.intensity) + " in " + std::to_string(flags_.period.count()) +
                 " ms); shutting down");
    exit_with_ = exit_reason::shutdown();
    give_up();
    return;
  }
  ++c.restarts;
  std::vector<child*> group;
  auto at = std::find_if(children_.begin(), children_.end(), [&](auto& p) { return p.get() == &c; });
  switch (flags_.strategy) {
    case strategy::one_for_one:
      group.push_back(&c);
      break;
    case strategy::one_for_all:
      for (auto& p : children_) group.push_back(p.get());
      break;
    case strategy::rest_for_one:
      for (auto it = at; it != children_.end(); ++it) group.push_back(it->get());
      break;
  }
  // Stop the running ones of the group, last started first; then start the group in order.
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if ((*it)->pid) enqueue_stop(**it);
  }
  schedule_restart(std::move(group), c);
}

bool supervisor::record_restart() {
  auto now = system().now();
  restarts_.push_back(now);
  // As OTP: a restart exactly `period` ago still counts.
  while (!restarts_.empty() && now - restarts_.front() > flags_.period) restarts_.pop_front();
  return restarts_.size() <= flags_.intensity;
}

std::chrono::milliseconds supervisor::backoff_delay(child& c) {
  if (!c.spec.backoff) return std::chrono::milliseconds{0};
  const backoff_spec& b = *c.spec.backoff;
  auto now = system().now();
  if (c.started_at != std::chrono::steady_clock::time_point{} && now - c.started_at >= b.reset_after) {
    c.backoff_attempt = 0;
  }
  double delay = static_cast<double>(b.initial.count()) * std::pow(b.multiplier, c.backoff_attempt);
  delay = std::min(delay, static_cast<double>(b.max.count()));
  if (b.jitter > 0) {
    std::uniform_real_distribution<double> spread{1.0 - b.jitter, 1.0 + b.jitter};
    delay *= spread(random_);
  }
  ++c.backoff_attempt;
  return std::chrono::milliseconds{static_cast<std::int64_t>(delay)};
}

void supervisor::schedule_restart(std::vector<child*> group, child& crashed) {
  std::vector<std::string> ids;
  for (child* g : group) ids.push_back(g->spec.id);
  auto delay = backoff_delay(crashed);
  if (delay.count() > 0) {
    send_after(delay, delayed_start{std::move(ids), crashed.spec.id, crashed.epoch});
    return;
  }
  ops_.push_back(std::make_unique<op>(op{op::kind::start, {}, std::move(ids)}));
}

void supervisor::give_up() {
  giving_up_ = true;
  starting_ = nullptr;  // a child still starting is stopped like the others
  // Drop queued starts; stops already queued (or running) still complete.
  std::deque<std::unique_ptr<op>> kept;
  for (auto& o : ops_) {
    if (o->what == op::kind::stop) kept.push_back(std::move(o));
  }
  ops_.swap(kept);
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if ((*it)->pid) enqueue_stop(**it);
  }
  ops_.push_back(std::make_unique<op>(op{op::kind::exit, {}, {}}));
  run_ops();
}

void supervisor::enqueue_stop(child& c) {
  for (auto& o : ops_) {
    if (o->what == op::kind::stop && o->id == c.spec.id) return;
  }
  ops_.push_back(std::make_unique<op>(op{op::kind::stop, c.spec.id, {}}));
}

void supervisor::begin_stop(child& c) {
  stopping_ = &c;
  ++c.epoch;
  c.stop_monitor = monitor(c.pid);
  const shutdown_spec how = c.spec.shutdown.value_or(
      c.spec.type == child_type::supervisor ? shutdown_spec::infinity() : shutdown_spec{});
  if (how.brutal_kill) {
    exit(c.pid, exit_reason::kill());
    return;
  }
  exit(c.pid, exit_reason::shutdown());
  if (how.timeout != std::chrono::milliseconds::max()) {
    c.stop_timer = send_after(how.timeout, stop_timeout{c.spec.id, c.epoch});
  }
}

void supervisor::finish_stop(child& c) {
  if (c.stop_timer) cancel_timer(c.stop_timer);
  c.stop_timer = {};
  set_pid(c, {});
  stopping_ = nullptr;
  if (c.reply_ref != 0) {
    reply_to(c.reply_pid, c.reply_ref, true);
    c.reply_ref = 0;
  }
  if (!ops_.empty() && ops_.front()->what == op::kind::stop) ops_.pop_front();
  if (c.spec.restart == restart_type::temporary) remove(c);
}

void supervisor::run_ops() {
  while (!ops_.empty() && stopping_ == nullptr && starting_ == nullptr) {
    op& o = *ops_.front();
    switch (o.what) {
      case op::kind::stop: {
        child* c = find(o.id);
        if (c == nullptr || !c->pid) {
          ops_.pop_front();
          continue;
        }
        begin_stop(*c);
        return;  // finish_stop pops it when the child is down
      }
      case op::kind::start: {
        if (o.ids.empty()) {
          ops_.pop_front();
          if (initial_) {
            initial_ = false;
            ack_start();  // every child has started
          }
          continue;
        }
        child* c = find(o.ids.front());
        o.ids.erase(o.ids.begin());
        if (c == nullptr || c->pid) continue;
        if (!start(*c, true)) {
          failed_start(*c, *c->last_exit, snapshot{});
          continue;
        }
        starting_ = c;
        return;  // its start_ack (or its exit) moves the queue on
      }
      case op::kind::exit:
        ops_.clear();
        stop(exit_with_);
        return;
    }
  }
}

pid start_supervisor(runtime& rt, supervisor_spec spec, spawn_options options, std::chrono::milliseconds timeout) {
  scoped_process me{rt};
  options.ack_to = me.self();
  pid sup = rt.spawn<supervisor>(options, std::move(spec));
  monitor_ref watch = me.monitor(sup);
  auto until = rt.now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - rt.now());
    message_ptr m = left.count() > 0 ? me.receive(left) : message_ptr{};
    if (!m) {
      rt.exit(sup, exit_reason::kill());
      throw spawn_error{"supervisor " + sup.to_string() + " had not started after " +
                        std::to_string(timeout.count()) + " ms"};
    }
    if (auto* a = m->get_if<start_ack>(); a != nullptr && a->pid == sup) {
      me.demonitor(watch);
      return sup;
    }
    if (auto* d = m->get_if<down>(); d != nullptr && d->ref == watch) {
      throw spawn_error{"supervisor " + sup.to_string() + " failed to start: " + d->reason.to_string()};
    }
  }
}

// --- dynamic_supervisor ---

dynamic_supervisor::dynamic_supervisor(dynamic_supervisor_spec spec)
    : supervisor{supervisor_spec{supervisor_flags{strategy::one_for_one, spec.intensity, spec.period, 0}, {}}},
      spec_{std::move(spec)} {
  if (!spec_.make_child) throw std::invalid_argument{"dynamic_supervisor_spec: make_child missing"};
}

void dynamic_supervisor::handle(message& m) {
  auto* request = m.get_if<start_child>();
  if (request == nullptr) {
    supervisor::handle(m);
    return;
  }
  if (spec_.max_children != 0 && running_children() >= spec_.max_children) {
    reply(m, respawn::pid{});
    return;
  }
  child_spec spec = spec_.child;
  spec.id = (spec.id.empty() ? std::string{"child"} : spec.id) + "-" + std::to_string(++next_id_);
  spec.start = [make = spec_.make_child, argument = std::move(request->argument)](const snapshot& last) {
    return make(argument, last);
  };
  child& c = add_child(std::move(spec));
  if (!start(c)) {
    remove(c);
    reply(m, respawn::pid{});
    return;
  }
  reply(m, c.pid);
}

}  // namespace respawn
