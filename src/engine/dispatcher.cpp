// dispatcher.cpp: the engine's dispatcher and its tree (see respawn/engine.hpp).
//
// The dispatcher owns admission and the fair queue; the jobs themselves are job_processes under
// NAME.jobs. It never waits for the disk: the store's writer thread sends it submit_done when a
// submission has committed, and only then does the caller get its reply and the job its process.
// Its map says where each live job is (queued or running, from the queue's point of view) and
// which process holds it; a job process that restarts says hello again (job_ready) and the map
// reconciles: a run order lost with a crashed process is sent again.
//
// Nothing acknowledged is orphaned by a dispatcher crash: the writer leaves each submission's
// answer in a submit_inbox that outlives the dispatcher and pokes whichever dispatcher holds the
// name; a new dispatcher drains it at start, after its recovery read, so a job committed while
// no dispatcher lived is tracked either by recovery or by the inbox (never twice: both check
// the map). An idempotent retry that names a stored, unfinished job no process runs makes it live.
//
// A full disk is node-wide: a submission or a job's write that meets it pauses admission
// (engine_errc::disk_full, HTTP 503 + Retry-After); after store_retry_initial (doubling) the
// next submission goes through as the probe, and any successful write resumes admission.
#include <atomic>
#include <memory>
#include <thread>
#include <unordered_map>

#include "engine_messages.hpp"
#include "job_process.hpp"
#include "session_process.hpp"
#include "respawn/jobs/fold.hpp"
#include "respawn/runtime.hpp"
#include "runtime_gate.hpp"
#include "store/job_store.hpp"

namespace respawn::engine {

namespace {

using namespace detail;

jobs::job_time system_now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// start_child's argument for a job process: shared by its first start and any restart.
struct job_start_arg {
  job_start start;              // the state as submitted or recovered
  bool run_on_start = false;    // first start only
  std::atomic<bool> started{false};
};

engine_errc from_store(store::store_errc code) {
  switch (code) {
    case store::store_errc::idempotency_conflict: return engine_errc::idempotency_conflict;
    case store::store_errc::invalid_request:
    case store::store_errc::invalid_transition:
    case store::store_errc::not_found: return engine_errc::invalid_request;
    case store::store_errc::overloaded: return engine_errc::overloaded;
    case store::store_errc::disk_full: return engine_errc::disk_full;
    case store::store_errc::busy:
    case store::store_errc::io_error:
    case store::store_errc::schema_too_new:
    case store::store_errc::bad_configuration:
    case store::store_errc::closed: return engine_errc::unavailable;
  }
  return engine_errc::unavailable;
}

class dispatcher final : public process {
 public:
  dispatcher(engine_config config, std::shared_ptr<store::job_store> store, std::shared_ptr<submit_inbox> inbox)
      : config_{std::move(config)}, store_{std::move(store)}, inbox_{std::move(inbox)}, queue_{config_.queue} {
    if (!config_.clock) config_.clock = system_now;
  }

  void init() override {
    running_max_ = config_.running_max != 0 ? config_.running_max : config_.pool.max_workers * 2;
    // Supervisors start their children one at a time, each acknowledged (OTP's start): the
    // pool (before the core, under rest_for_one) and the job supervisor (before this process,
    // in the core) have registered.
    pool_ = system().whereis(config_.pool.name);
    jobs_sup_ = system().whereis(config_.name + ".jobs");
    if (!pool_ || !jobs_sup_) {
      throw std::runtime_error{"engine " + config_.name + ": the pool or the job supervisor is not registered"};
    }
    send(self(), recover_page{0});
  }

  void handle(message& m) override {
    if (auto* s = m.get_if<submit_jobs>()) {
      on_submit(m, *s);
    } else if (m.is<inbox_poke>()) {
      drain_inbox();
    } else if (m.is<store_disk_full>()) {
      enter_disk_full();
    } else if (m.is<store_recovered>()) {
      leave_disk_full();
    } else if (auto* r = m.get_if<job_ready>()) {
      on_ready(*r);
    } else if (auto* a = m.get_if<attempt_ended>()) {
      auto it = live_.find(a->id);
      if (it != live_.end() && it->second.where == place::running) {
        queue_.finish(a->id);
        it->second.where = place::none;
      }
      dispatch();
    } else if (auto* u = m.get_if<attempt_unstarted>()) {
      // Its task came back from the pool without starting: no attempt was made, it queues again.
      auto it = live_.find(u->id);
      if (it != live_.end() && it->second.where == place::running) {
        queue_.finish(u->id);
        queue_.restore(it->second.entry);
        it->second.where = place::queued;
      }
      dispatch();
    } else if (auto* rd = m.get_if<retry_due>()) {
      auto it = live_.find(rd->id);
      if (it != live_.end() && it->second.where == place::none) {
        queue_.restore(it->second.entry);
        it->second.where = place::queued;
      }
      dispatch();
    } else if (auto* f = m.get_if<job_final>()) {
      forget_session(f->id);
      auto it = live_.find(f->id);
      if (it != live_.end()) {
        if (it->second.where == place::running) queue_.finish(f->id);
        if (it->second.where == place::queued) queue_.remove(f->id);
        live_.erase(it);
      }
      for (auto w : watchers_) send(w, job_finished{f->id, f->status});
      dispatch();
    } else if (auto* w = m.get_if<watch_finals>()) {
      watchers_.push_back(w->watcher);
    } else if (auto* l = m.get_if<locate_session>()) {
      reply(m, locate(l->id));
    } else if (auto* dn = m.get_if<down>()) {
      auto it = session_monitors_.find(dn->ref.value);
      if (it != session_monitors_.end()) {
        sessions_.erase(it->second);  // the next client's request starts it again from the log
        session_monitors_.erase(it);
      }
    } else if (auto* c = m.get_if<cancel_job>()) {
      reply(m, on_cancel(c->id));
    } else if (auto* p = m.get_if<recover_page>()) {
      recover(p->after_id);
    } else if (m.is<engine_stats_request>()) {
      reply(m, engine_stats{live_.size(), queue_.queued(), queue_.running(), recovered_, ready_, paused_,
                            sessions_.size()});
    } else if (m.is<pause_dispatch>()) {
      paused_ = true;
      reply(m, true);
    }
    // The job supervisor's answers to start_child (pids) need nothing: job_ready says it all.
  }

 private:
  enum class place : std::uint8_t { none, queued, running };
  enum class cancel_kind : std::uint8_t { none, queued, live };
  struct live_job {
    jobs::queued_job entry;
    respawn::pid process{};
    place where = place::none;
    bool run_sent = false;
    cancel_kind cancel = cancel_kind::none;  // asked before its process said hello
  };

  live_job& track(const jobs::job_state& state) {
    live_job j;
    j.entry = jobs::queued_job{state.id, state.request.user, state.request.priority};
    return live_.emplace(state.id, j).first->second;
  }

  // `run`: the job was dispatched before its process exists; the process claims it as it starts
  // (saving the job_ready -> run_attempt round trip on the submit-to-start path).
  // `recovered`: rebuilt from the store, not just submitted (the process fences before its
  // first submit: a predecessor's task may still be in the pool).
  void start_job(const jobs::job_state& state, bool run, bool recovered) {
    auto start = std::make_shared<job_start_arg>();
    start->start = job_start{state,         store_,
                             self(),        pool_,
                             config_.retry, config_.attempt_timeout,
                             config_.clock, config_.cancel_grace,
                             config_.store_retry_initial, config_.store_retry_max,
                             config_.outputs_max,   config_.progress_interval,
                             recovered};
    start->run_on_start = run;
    send(jobs_sup_, start_child{std::any{std::move(start)}});
  }

  bool is_session(const jobs::job_request& r) const {
    return config_.is_session_kind && config_.is_session_kind(r.kind);
  }

  // The process of session job `id`: the one in memory, or a new one built from the log. One
  // per job at most: a new one starts only after the old one's `down`.
  respawn::pid locate(jobs::job_id id) {
    if (auto it = sessions_.find(id); it != sessions_.end()) return it->second;
    spawn_options options;
    options.monitor = true;
    auto is_session_kind = config_.is_session_kind ? config_.is_session_kind
                                                   : std::function<bool(const std::string&)>{[](const std::string&) {
                                                       return false;
                                                     }};
    auto started = spawn<session_process>(options, session_start{id, store_, self(), pool_, config_.attempt_timeout,
                                                                 config_.session_linger, config_.clock,
                                                                 std::move(is_session_kind),
                                                                 config_.session_inputs_pending_max,
                                                                 config_.session_pending_bytes_max});
    sessions_.emplace(id, started.pid);
    session_monitors_.emplace(started.monitor.value, id);
    return started.pid;
  }

  // Session jobs are not in the queue but hold memory and a slot when attached: admission
  // counts the unfinished ones this dispatcher knows (submitted or recovered by it, or located).
  void count_session(jobs::job_id id, const std::string& user) {
    if (session_users_.emplace(id, user).second) ++sessions_by_user_[user];
  }
  void forget_session(jobs::job_id id) {
    auto it = session_users_.find(id);
    if (it == session_users_.end()) return;
    auto u = sessions_by_user_.find(it->second);
    if (u != sessions_by_user_.end() && --u->second == 0) sessions_by_user_.erase(u);
    session_users_.erase(it);
  }
  std::size_t sessions_of(const std::string& user) const {
    auto it = sessions_by_user_.find(user);
    return it == sessions_by_user_.end() ? 0 : it->second;
  }

  void enter_disk_full() {
    auto now = system().now();
    if (!disk_full_) {
      disk_full_ = true;
      probe_backoff_ = config_.store_retry_initial;
    } else {
      probe_backoff_ = std::min(probe_backoff_ * 2, config_.store_retry_max);
    }
    probe_after_ = now + probe_backoff_;
  }
  void leave_disk_full() { disk_full_ = false; }

  void on_submit(message& m, submit_jobs& s) {
    submit_reply refuse;
    if (s.requests.empty()) {
      refuse.error_code = engine_errc::invalid_request;
      refuse.error = "no jobs in the submission";
      reply(m, refuse);
      return;
    }
    // A full disk: nothing is admitted until a write succeeds; now and then one submission is
    // let through to find out (the probe).
    bool probe = false;
    if (disk_full_) {
      if (probe_in_flight_ || system().now() < probe_after_) {
        refuse.error_code = engine_errc::disk_full;
        refuse.error = "the job store's disk is full; try again later";
        reply(m, refuse);
        return;
      }
      probe = true;
      probe_in_flight_ = true;
    }
    // Admission: bounded in total and per user, counting what is still on its way to the disk
    // and the unfinished session jobs.
    std::size_t held = queue_.queued() + queue_.running() + pending_ + session_users_.size();
    if (held + s.requests.size() > config_.queue.held_max) {
      if (probe) probe_in_flight_ = false;
      refuse.error_code = engine_errc::overloaded;
      refuse.error = "the job queue is full (" + std::to_string(config_.queue.held_max) + " jobs); try again later";
      reply(m, refuse);
      return;
    }
    std::unordered_map<std::string, std::size_t> per_user;
    for (auto& r : s.requests) ++per_user[r.user];
    for (auto& [user, n] : per_user) {
      auto pending = pending_by_user_.find(user);
      std::size_t mine = queue_.queued(user) + queue_.running(user) + sessions_of(user) +
                         (pending == pending_by_user_.end() ? 0 : pending->second);
      if (mine + n > config_.queue.held_per_user_max) {
        if (probe) probe_in_flight_ = false;
        refuse.error_code = engine_errc::overloaded;
        refuse.error = "user " + user + " has " + std::to_string(mine) + " jobs waiting (at most " +
                       std::to_string(config_.queue.held_per_user_max) + "); try again later";
        reply(m, refuse);
        return;
      }
    }
    // Seed 000's order: the id first, then the store, then the scheduler.
    std::vector<store::submission> batch;
    std::vector<jobs::job_id> ids;
    auto t = config_.clock();
    for (auto& r : s.requests) {
      auto id = store_->allocate_id();
      if (!id.ok()) {
        if (probe) probe_in_flight_ = false;
        if (id.error().code == store::store_errc::disk_full) enter_disk_full();
        refuse.error_code = from_store(id.error().code);
        refuse.error = id.error().message;
        reply(m, refuse);
        return;
      }
      ids.push_back(id.value());
      batch.push_back(store::submission{id.value(), r, t});
    }
    pending_ += s.requests.size();
    for (auto& [user, n] : per_user) pending_by_user_[user] += n;
    auto gate = gate_of(system());
    auto inbox = inbox_;
    auto name = config_.name;
    auto shared = std::make_shared<submit_done>(submit_done{m.sender(), m.call_ref(), s.requests, ids,
                                                            store::store_error{store::store_errc::io_error, ""},
                                                            self(), probe});
    store_->submit_async(std::move(batch), [gate, inbox, name, shared](store::store_result<std::vector<store::submit_outcome>> r) {
      shared->result = std::move(r);
      // To the inbox, then a poke by name: if this dispatcher died meanwhile, the next one
      // (registered under the same name, or draining at start) answers and tracks the jobs.
      inbox->put(std::move(*shared));
      gate->send_named(name, inbox_poke{});
    });
  }

  void drain_inbox() {
    for (auto& d : inbox_->take()) on_submit_done(d);
  }

  // A stored job this dispatcher has not tracked (committed for a dispatcher that died, or named
  // again by an idempotency key): makes it live from its stored state, unless it is final or
  // already live. The store is the truth: it is read, not assumed.
  void revive(jobs::job_id id) {
    if (live_.count(id) != 0) return;
    auto state = store_->get(id);
    if (!state.ok() || jobs::is_final(state.value().status)) return;
    if (is_session(state.value().request)) {
      count_session(id, state.value().request.user);
      return;
    }
    if (state.value().status == jobs::job_status::queued) {
      live_job& j = track(state.value());
      queue_.restore(j.entry);
      j.where = place::queued;
      dispatch();
      auto& now = live_.at(id);
      bool run = now.where == place::running && !now.run_sent;
      if (run) now.run_sent = true;
      start_job(state.value(), run, true);
    } else {
      track(state.value());
      start_job(state.value(), false, true);  // running (interrupted) or failed: its process decides
    }
  }

  void on_submit_done(submit_done& d) {
    bool mine = d.dispatcher == self();
    if (mine) {
      pending_ -= std::min(pending_, d.requests.size());
      for (auto& r : d.requests) {
        auto it = pending_by_user_.find(r.user);
        if (it != pending_by_user_.end() && --it->second == 0) pending_by_user_.erase(it);
      }
      if (d.probe) probe_in_flight_ = false;
    }
    submit_reply out;
    if (!d.result.ok()) {
      if (d.result.error().code == store::store_errc::disk_full) enter_disk_full();
      out.error_code = from_store(d.result.error().code);
      out.error = d.result.error().message;
      reply_to(d.caller, d.call_ref, std::move(out));
      return;
    }
    leave_disk_full();  // a write succeeded
    auto& outcomes = d.result.value();
    std::vector<jobs::job_state> fresh;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      out.jobs.push_back(submitted_job{outcomes[i].id, outcomes[i].existing});
      if (outcomes[i].existing || !mine) {
        // Named again by its key, or committed for a dispatcher that died: live it must be.
        revive(outcomes[i].id);
        continue;
      }
      if (is_session(d.requests[i])) {  // not queued: it runs when a client attaches
        count_session(outcomes[i].id, d.requests[i].user);
        continue;
      }
      jobs::job_state state;
      auto e = jobs::make_submitted(outcomes[i].id, config_.clock(), d.requests[i]);
      if (auto error = jobs::apply(state, e)) continue;  // cannot happen: the store applied it
      live_job& j = track(state);
      queue_.restore(j.entry);  // durable and admitted already: never refused now
      j.where = place::queued;
      fresh.push_back(std::move(state));
    }
    out.ok = true;
    reply_to(d.caller, d.call_ref, std::move(out));
    // Dispatch first, so that the jobs that run at once are told so as they start.
    dispatch();
    for (auto& state : fresh) {
      auto& j = live_.at(state.id);
      bool run = j.where == place::running && !j.run_sent;
      if (run) j.run_sent = true;
      start_job(state, run, false);
    }
  }

  void on_ready(const job_ready& r) {
    auto it = live_.find(r.id);
    if (it == live_.end()) return;  // finished meanwhile
    auto& j = it->second;
    j.process = r.process;
    if (j.cancel != cancel_kind::none) {
      auto kind = j.cancel;
      j.cancel = cancel_kind::none;
      if (kind == cancel_kind::queued || (r.status == jobs::job_status::queued && j.where != place::running)) {
        send(j.process, cancel_queued{});  // never queued again: it logs `cancelled` and stops
        return;
      }
      send(j.process, cancel_live{});
    }
    if (j.where == place::running) {
      // We popped it before its process said hello, or it restarted and lost our order: it
      // says queued, or failed (its retry was due, and the `claimed` it was logging never
      // committed). Either way it holds a slot and must run.
      if (!j.run_sent || r.status == jobs::job_status::queued || r.status == jobs::job_status::failed) {
        send(j.process, run_attempt{});
        j.run_sent = true;
      }
    } else if (j.where == place::none && r.status == jobs::job_status::queued) {
      queue_.restore(j.entry);
      j.where = place::queued;
    }
    dispatch();
  }

  bool on_cancel(jobs::job_id id) {
    auto it = live_.find(id);
    if (it == live_.end()) return false;
    auto& j = it->second;
    bool was_queued = j.where == place::queued && queue_.remove(id);
    if (was_queued) j.where = place::none;
    if (!j.process) {
      // Its process has not said hello yet: cancel it as soon as it does.
      j.cancel = was_queued ? cancel_kind::queued : cancel_kind::live;
      return true;
    }
    if (was_queued) {
      send(j.process, cancel_queued{});
    } else {
      send(j.process, cancel_live{});
    }
    return true;
  }

  void dispatch() {
    while (!paused_ && queue_.running() < running_max_) {
      auto next = queue_.pop();
      if (!next) return;
      auto it = live_.find(next->id);
      if (it == live_.end()) {
        queue_.finish(next->id);
        continue;
      }
      it->second.where = place::running;
      it->second.run_sent = false;
      if (it->second.process) {
        send(it->second.process, run_attempt{});
        it->second.run_sent = true;
      }
    }
  }

  void recover(jobs::job_id after) {
    auto page = store_->list_unfinished(after, 1000);
    if (!page.ok()) throw std::runtime_error{"engine recovery: " + page.error().message};
    for (auto& state : page.value().jobs) {
      if (live_.count(state.id) != 0) continue;
      if (is_session(state.request)) {
        count_session(state.id, state.request.user);
        // Its stream died with the node: the session logs `paused` and lingers out. Queued or
        // paused sessions wait on disk for a client.
        if (state.status == jobs::job_status::running) locate(state.id);
        continue;
      }
      track(state);
      start_job(state, false, true);
      ++recovered_;
    }
    if (page.value().next_after_id) {
      send(self(), recover_page{*page.value().next_after_id});  // one page per turn: stay responsive
    } else {
      ready_ = true;
      // Submissions that committed for a dispatcher that died (after this one's recovery read,
      // or before it): tracked now, each once.
      drain_inbox();
    }
  }

  engine_config config_;
  std::shared_ptr<store::job_store> store_;
  std::shared_ptr<submit_inbox> inbox_;
  jobs::fair_queue queue_;
  respawn::pid pool_{};
  respawn::pid jobs_sup_{};
  std::size_t running_max_ = 0;
  std::unordered_map<jobs::job_id, live_job> live_;
  std::size_t pending_ = 0;
  std::unordered_map<std::string, std::size_t> pending_by_user_;
  std::uint64_t recovered_ = 0;
  bool ready_ = false;
  std::vector<respawn::pid> watchers_;
  bool paused_ = false;  // draining: nothing starts
  std::unordered_map<jobs::job_id, respawn::pid> sessions_;           // session jobs in memory
  std::unordered_map<std::uint64_t, jobs::job_id> session_monitors_;  // monitor_ref value -> job
  std::unordered_map<jobs::job_id, std::string> session_users_;       // unfinished session jobs
  std::unordered_map<std::string, std::size_t> sessions_by_user_;
  bool disk_full_ = false;  // admission paused: a write met a full disk
  bool probe_in_flight_ = false;
  std::chrono::steady_clock::time_point probe_after_{};
  std::chrono::milliseconds probe_backoff_{0};
};

supervisor_spec core_spec(const engine_config& config, const std::shared_ptr<store::job_store>& store) {
  dynamic_supervisor_spec jobs_spec;
  jobs_spec.child.id = "job";
  jobs_spec.child.restart = restart_type::transient;
  jobs_spec.child.shutdown = shutdown_spec::brutal();  // the log is the truth: nothing to flush
  jobs_spec.intensity = 100;
  jobs_spec.period = std::chrono::milliseconds{1000};
  jobs_spec.make_child = [](const std::any& argument, const snapshot&) -> std::unique_ptr<process> {
    auto& start = std::any_cast<const std::shared_ptr<job_start_arg>&>(argument);
    // The first start gets the state as submitted or recovered; a restart (the same argument
    // again) reads the job back from the store.
    bool fresh = !start->started.exchange(true);
    return std::make_unique<job_process>(start->start, fresh, fresh && start->run_on_start);
  };

  child_spec jobs_child;
  jobs_child.id = "jobs";
  jobs_child.type = child_type::supervisor;
  jobs_child.name = config.name + ".jobs";
  jobs_child.start = [jobs_spec](const snapshot&) { return std::make_unique<dynamic_supervisor>(jobs_spec); };

  child_spec dispatcher_child;
  dispatcher_child.id = "dispatcher";
  dispatcher_child.name = config.name;
  auto inbox = std::make_shared<submit_inbox>();  // outlives every dispatcher incarnation
  dispatcher_child.start = [config, store, inbox](const snapshot&) {
    return std::make_unique<dispatcher>(config, store, inbox);
  };

  supervisor_spec core;
  core.flags.strategy = strategy::one_for_all;  // the dispatcher's map and the job processes go together
  core.children = {jobs_child, dispatcher_child};
  return core;
}

supervisor_spec engine_spec(engine_config config, const std::shared_ptr<store::job_store>& store) {
  config.pool.name = config.name + ".pool";
  child_spec pool = config.pool_child ? config.pool_child(config.pool.name)
                                      : worker_pool_child_spec("pool", config.pool);
  child_spec core;
  core.id = "core";
  core.type = child_type::supervisor;
  core.start = supervisor::of(core_spec(config, store));
  supervisor_spec spec;
  spec.flags.strategy = strategy::rest_for_one;  // a new pool means new job processes too
  spec.children = {pool, core};
  return spec;
}

}  // namespace

const char* to_string(engine_errc code) noexcept {
  switch (code) {
    case engine_errc::none: return "none";
    case engine_errc::invalid_request: return "invalid_request";
    case engine_errc::overloaded: return "overloaded";
    case engine_errc::idempotency_conflict: return "idempotency_conflict";
    case engine_errc::disk_full: return "disk_full";
    case engine_errc::unavailable: return "unavailable";
  }
  return "unknown";
}

child_spec engine_child_spec(std::string id, engine_config config, std::shared_ptr<store::job_store> store) {
  child_spec c;
  c.id = std::move(id);
  c.type = child_type::supervisor;
  c.start = supervisor::of(engine_spec(std::move(config), store));
  return c;
}

engine_handle start_engine(runtime& rt, engine_config config, std::shared_ptr<store::job_store> store) {
  std::string name = config.name;
  spawn_options options;
  options.name = name + ".sup";
  // An acknowledged start: when it returns the whole tree is up, the dispatcher registered.
  pid sup = start_supervisor(rt, engine_spec(std::move(config), store), options);
  pid d = rt.whereis(name);
  if (!d) throw std::runtime_error{"engine " + name + " did not start"};
  // Wait (bounded) until the dispatcher has rebuilt every unfinished job (it recovers one page
  // per message, staying responsive), so that the caller's first submission is served at once.
  auto deadline = rt.now() + std::chrono::seconds{600};
  for (;;) {
    auto stats = rt.call<engine_stats>(d, engine_stats_request{}, std::chrono::seconds{10});
    if (stats.ok() && stats.value().ready) return {sup, d};
    if (!rt.alive(sup) || rt.now() > deadline) throw std::runtime_error{"engine " + name + " did not recover"};
    if (rt.deterministic()) {
      rt.run_until_idle();
      rt.advance(std::chrono::milliseconds{1});  // so that the deadline can pass
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
  }
}

}  // namespace respawn::engine
