// worker_pool.cpp: the pool manager and the pool's tree (see respawn/worker_pool.hpp).
//
// The tree is a one_for_all supervisor with two children: NAME.workers, a dynamic_supervisor
// whose temporary children are the worker_processes, and NAME, the manager. The manager starts
// owners through the dynamic supervisor (so they sit in the supervision tree and are shut down in
// order), monitors them, and replaces the ones that die itself, like poolboy: a crashing job is
// the normal case for a worker pool, so worker deaths must not use up a supervisor's restart
// intensity. Starting fails (a missing binary) back off exponentially instead.
//
// Dispatch (docs/workers.md): idle workers first; then behind a busy worker's running task (its
// head) only while that head has run less than pipeline_stall, so short tasks batch and a long
// one gets nothing behind it; otherwise the task waits here. The pool grows while tasks wait
// anywhere (here, or behind a stalled head), and when a worker is idle it recalls the tasks that
// wait behind a stalled head elsewhere. Group caps and the interactive workers are counted in
// heads: what runs, not what waits. The rebalance tick is armed only while a head with tasks
// behind it may yet stall and something could be done about it.
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "io_poller.hpp"
#include "pool_messages.hpp"
#include "respawn/runtime.hpp"
#include "respawn/supervisor.hpp"
#include "respawn/worker_pool.hpp"
#include "worker_process.hpp"

namespace respawn {

const char* to_string(worker_exit e) noexcept {
  switch (e) {
    case worker_exit::none: return "none";
    case worker_exit::exited: return "exited";
    case worker_exit::crashed: return "crashed";
    case worker_exit::deadline: return "deadline";
    case worker_exit::memory_limit: return "memory_limit";
    case worker_exit::cpu_limit: return "cpu_limit";
    case worker_exit::heartbeat: return "heartbeat";
    case worker_exit::malformed: return "malformed";
    case worker_exit::closed_socket: return "closed_socket";
    case worker_exit::start_failed: return "start_failed";
    case worker_exit::shutdown: return "shutdown";
    case worker_exit::cancelled: return "cancelled";
  }
  return "unknown";
}

const char* to_string(task_status s) noexcept {
  switch (s) {
    case task_status::succeeded: return "succeeded";
    case task_status::failed: return "failed";
    case task_status::cancelled: return "cancelled";
    case task_status::unknown_kind: return "unknown_kind";
    case task_status::worker_died: return "worker_died";
  }
  return "unknown";
}

const std::string& self_binary_path() {
  // Resolved once: after a hot upgrade replaces the file, /proc/self/exe names the old (deleted)
  // inode, but this path names the new file, which is what new workers must run.
  static const std::string path = [] {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::string s = ec ? std::string{"/proc/self/exe"} : p.string();
    const std::string deleted = " (deleted)";
    if (s.size() > deleted.size() && s.compare(s.size() - deleted.size(), deleted.size(), deleted) == 0) {
      s.resize(s.size() - deleted.size());
    }
    return s;
  }();
  return path;
}

namespace {

using clock = std::chrono::steady_clock;

class pool_manager final : public process {
 public:
  explicit pool_manager(worker_pool_config config) : config_{std::move(config)} {}

  void init() override {
    (void)self_binary_path();  // resolve before anyone replaces the file
    workers_sup_ = system().whereis(config_.name + ".workers");
    if (!workers_sup_) throw std::runtime_error{"worker pool: no " + config_.name + ".workers supervisor"};
    for (std::size_t i = 0; i < config_.min_workers; ++i) start_one();
    send_after(tick_period(), detail::idle_check_tick{});
  }

  void handle(message& m) override {
    if (auto* s = m.get_if<submit_task>()) {
      watch_submitter(s->task.reply_to);
      queue_.push_back(std::move(s->task));
      dispatch();
    } else if (auto* d = m.get_if<detail::worker_done>()) {
      auto it = workers_.find(d->owner);
      if (it != workers_.end()) {
        worker& w = it->second;
        std::uint64_t head_before = w.tasks.empty() ? 0 : w.tasks.front();
        w.in_flight -= std::min<std::size_t>(w.in_flight, d->ids.size());
        in_flight_ -= std::min<std::size_t>(in_flight_, d->ids.size());
        for (auto id : d->ids) {
          unassign(w, id);
          if (!cancel_on_return_.empty()) cancel_on_return_.erase(id);
        }
        if (w.in_flight == 0 || w.tasks.empty()) {
          w.idle_since = clock::now();
        } else if (d->head != 0 && w.tasks.front() == d->head) {
          w.head_since = d->head_since;  // the owner saw it start then
        } else if (w.tasks.front() != head_before) {
          w.head_since = clock::now();  // sent after the owner's report: it starts about now
        }
      }
      dispatch();
      check_fences();
    } else if (auto* b = m.get_if<submit_tasks>()) {
      for (auto& t : b->tasks) {
        watch_submitter(t.reply_to);
        queue_.push_back(std::move(t));
      }
      dispatch();
    } else if (auto* f = m.get_if<fence_task>()) {
      fences_.push_back(*f);
      check_fences();
    } else if (auto* r = m.get_if<detail::worker_ready>()) {
      on_ready(*r);
    } else if (auto* p = m.get_if<respawn::pid>()) {
      on_started(*p);
    } else if (auto* q = m.get_if<detail::requeue_tasks>()) {
      auto it = workers_.find(q->owner);
      if (it != workers_.end()) {
        it->second.in_flight -= std::min(it->second.in_flight, q->tasks.size());
        in_flight_ -= std::min(in_flight_, q->tasks.size());
        for (auto& t : q->tasks) unassign(it->second, t.id);
        if (q->leaving) it->second.leaving = true;  // no more tasks for it
      }
      if (q->leaving) {
        send(q->owner, detail::leave_ack{});
        top_up();  // its replacement starts now, not when the owner's down arrives
      }
      // Back to the front, in their order: they were next anyway.
      for (auto t = q->tasks.rbegin(); t != q->tasks.rend(); ++t) {
        // A task of a submitter that died meanwhile is dropped, not run for nobody.
        if (cancel_on_return_.erase(t->id) != 0) {
          send(t->reply_to, task_outcome{t->id, task_status::cancelled, {}, {}, worker_exit::none, 0, t->attempt});
        } else if (!t->reply_to || submitters_.count(t->reply_to) != 0) {
          queue_.push_front(std::move(*t));
        }
      }
      dispatch();
      check_fences();
    } else if (auto* dn = m.get_if<down>()) {
      if (workers_.count(dn->process) != 0) {
        on_down(*dn);
      } else {
        on_submitter_down(dn->process);
      }
      check_fences();
    } else if (auto* c = m.get_if<cancel_task>()) {
      on_cancel(*c);
      check_fences();
    } else if (m.is<reload_workers>()) {
      reload();
    } else if (m.is<pool_stats_request>()) {
      reply(m, stats());
    } else if (m.is<detail::idle_check_tick>()) {
      retire_idle();
      send_after(tick_period(), detail::idle_check_tick{});
    } else if (m.is<detail::rebalance_tick>()) {
      rebalance_armed_ = false;
      dispatch();
    } else if (m.is<detail::start_retry_tick>()) {
      retry_pending_ = false;
      top_up();
      dispatch();
    }
  }

 private:
  struct worker {
    respawn::pid owner;
    bool ready = false;
    bool retiring = false;
    bool leaving = false;  // its worker died; the owner exits on our leave_ack
    std::uint64_t generation = 0;
    std::size_t in_flight = 0;
    clock::time_point idle_since{};
    clock::time_point head_since{};  // when its head (tasks.front()) started
    std::string build;
    std::vector<std::uint64_t> tasks;  // ids sent to it and not yet done, in order: what fences wait for
    std::unordered_set<std::uint64_t> recalling;  // recall asked, no answer yet
    std::string key;  // the class of its tasks (class_key), all alike, while it has any
    std::string group;
    bool interactive = false;
  };

  // Counts of what runs, for the group caps and the interactive workers.
  struct heads {
    std::unordered_map<std::string, std::size_t> groups;
    std::size_t batch = 0;
    std::size_t interactive = 0;
  };

  // Attempt fencing (see fence_task): every submitter is monitored while the pool knows it.
  void watch_submitter(respawn::pid reply_to) {
    if (!reply_to || submitters_.count(reply_to) != 0) return;
    submitters_.emplace(reply_to, monitor(reply_to));
  }

  void on_submitter_down(respawn::pid gone) {
    if (submitters_.erase(gone) == 0) return;
    // Its queued tasks are dropped; those in workers are cancelled, their workers killed after
    // abandon_grace if they do not stop.
    std::erase_if(queue_, [gone](const task_request& t) { return t.reply_to == gone; });
    for (auto& [raw, w] : workers_) {
      if (w.in_flight > 0) send(w.owner, detail::abandon_tasks{gone});
    }
  }

  void unassign(worker& w, std::uint64_t id) {
    auto it = std::find(w.tasks.begin(), w.tasks.end(), id);
    if (it != w.tasks.end()) w.tasks.erase(it);
    w.recalling.erase(id);
  }

  bool holds(std::uint64_t id) const {
    for (auto& t : queue_) {
      if (t.id == id) return true;
    }
    for (auto& [raw, w] : workers_) {
      if (std::find(w.tasks.begin(), w.tasks.end(), id) != w.tasks.end()) return true;
    }
    return false;
  }

  void check_fences() {
    for (auto it = fences_.begin(); it != fences_.end();) {
      if (holds(it->id)) {
        ++it;
      } else {
        send(it->reply_to, task_fenced{it->id});
        it = fences_.erase(it);
      }
    }
  }

  std::chrono::milliseconds tick_period() const {
    return std::max(std::chrono::milliseconds{10}, config_.idle_timeout / 4);
  }

  // Workers that count toward min/max: alive or starting, neither retiring nor leaving. starting_
  // counts every owner that has not said hello, those whose pid has come back (entries, not
  // ready) and those whose pid has not: an entry counts by its own flags, only the others by
  // starting_. (Counting both made a reload while a worker was starting replace it twice, and the
  // pool stayed a worker above its size until that one's idle timeout.)
  std::size_t live() const {
    std::size_t n = 0;
    std::size_t unready = 0;
    for (auto& [raw, w] : workers_) {
      n += (!w.retiring && !w.leaving) ? 1 : 0;
      unready += w.ready ? 0 : 1;
    }
    return n + (starting_ - std::min(starting_, unready));
  }

  void start_one() {
    detail::owner_start start{config_.worker, self(), generation_};
    ++starting_;
    ++workers_started_;
    send(workers_sup_, start_child{std::any{std::move(start)}});
  }

  void on_started(respawn::pid p) {
    // The dynamic supervisor's answer to start_child: the owner's pid, or null if it failed.
    if (!p) {
      if (starting_ > 0) --starting_;
      start_failed();
      return;
    }
    if (workers_.count(p) != 0) return;  // it said hello first
    worker w;
    w.owner = p;
    w.generation = generation_;
    workers_.emplace(p, w);
    monitor(p);
  }

  void on_ready(const detail::worker_ready& r) {
    auto it = workers_.find(r.owner);
    if (it == workers_.end()) {  // hello overtook start_child's answer
      worker w;
      w.owner = r.owner;
      w.generation = r.generation;
      it = workers_.emplace(r.owner, w).first;
      monitor(r.owner);
    }
    if (!it->second.ready) {
      it->second.ready = true;
      if (starting_ > 0) --starting_;
    }
    it->second.build = r.build;
    it->second.idle_since = clock::now();
    // The owner's own generation: on_started could only assume the current one, wrong if a
    // reload came before the dynamic supervisor's answer.
    it->second.generation = r.generation;
    failed_starts_ = 0;
    if (it->second.generation != generation_ && !it->second.retiring) {
      it->second.retiring = true;
      send(r.owner, detail::retire_worker{});
    }
    dispatch();
  }

  void on_down(const down& d) {
    auto it = workers_.find(d.process);
    if (it == workers_.end()) return;
    worker w = it->second;
    workers_.erase(it);
    in_flight_ -= std::min(in_flight_, w.in_flight);
    for (auto id : w.tasks) cancel_on_return_.erase(id);  // ended with its worker
    if (!w.ready) {
      if (starting_ > 0) --starting_;
      if (!w.retiring) start_failed();  // a reload retired it before its hello: no failure
    } else if (!d.reason.is_normal() && !d.reason.is(exit_reason::kind::shutdown)) {
      ++workers_died_;
    }
    top_up();
    dispatch();
  }

  void start_failed() {
    // Back off: a binary that cannot start must not spin the node.
    ++failed_starts_;
    if (!retry_pending_) {
      retry_pending_ = true;
      auto delay = std::chrono::milliseconds{std::min<std::int64_t>(5000, 10LL << std::min(failed_starts_, 9u))};
      send_after(delay, detail::start_retry_tick{});
    }
  }

  // Keeps at least min_workers (not counting retiring ones) alive or starting.
  void top_up() {
    if (retry_pending_) return;
    while (live() < config_.min_workers) start_one();
  }

  bool usable(const worker& w) const { return w.ready && !w.retiring && !w.leaving; }
  bool stalled(const worker& w, clock::time_point now) const {
    return w.in_flight > 0 && now - w.head_since >= config_.pipeline_stall;
  }

  // Tasks are sent behind a running task only of the same class: with a group cap, of the same
  // group; with interactive workers, of the same kind. So a task that becomes its worker's head
  // takes over from one of its own class, and the head counts never pass their caps unseen.
  std::string class_key(const task_request& t) const {
    std::string key;
    if (config_.interactive_workers > 0) key = t.interactive ? "i" : "b";
    if (config_.max_workers_per_group > 0) key += t.group;
    return key;
  }

  heads count_heads() const {
    heads h;
    for (auto& [raw, w] : workers_) {
      if (w.in_flight == 0 || w.leaving) continue;
      if (!w.group.empty()) ++h.groups[w.group];
      // An old generation finishing its tasks after a reload holds no slot: its replacement
      // must be usable at once, so that capacity does not dip.
      if (!w.retiring) (w.interactive ? h.interactive : h.batch) += 1;
    }
    return h;
  }

  // May `t` start in a worker of its own (an idle one, or a new one)?
  bool may_start(const task_request& t, const heads& h) const {
    if (config_.max_workers_per_group > 0 && !t.group.empty()) {
      auto g = h.groups.find(t.group);
      if (g != h.groups.end() && g->second >= config_.max_workers_per_group) return false;
    }
    return t.interactive || h.batch < config_.max_workers;
  }

  worker* place(const task_request& t, const std::string& key, const heads& h, const std::vector<worker*>& open,
                clock::time_point now) {
    if (may_start(t, h)) {
      for (worker* w : open) {
        if (w->in_flight == 0) return w;
      }
    }
    worker* best = nullptr;
    for (worker* w : open) {
      if (w->in_flight == 0 || w->in_flight >= config_.max_in_flight || stalled(*w, now) || w->key != key) continue;
      if (best == nullptr || w->in_flight < best->in_flight) best = w;
    }
    return best;
  }

  bool any_room(const std::vector<worker*>& open, clock::time_point now) const {
    for (worker* w : open) {
      if (w->in_flight == 0 || (w->in_flight < config_.max_in_flight && !stalled(*w, now))) return true;
    }
    return false;
  }

  void dispatch() {
    auto now = clock::now();
    std::vector<worker*> open;
    for (auto& [raw, w] : workers_) {
      if (usable(w)) open.push_back(&w);
    }
    heads h = count_heads();
    if (!queue_.empty() && !open.empty() && any_room(open, now)) {
      std::unordered_map<respawn::pid, std::vector<task_request>> batches;
      std::unordered_set<std::string> blocked;  // classes that found no place: FIFO within a class
      std::deque<task_request> passed;          // tasks that stay, in their order
      const bool one_class = config_.interactive_workers == 0 && config_.max_workers_per_group == 0;
      while (!queue_.empty()) {
        task_request& t = queue_.front();
        std::string key = class_key(t);
        worker* target = blocked.count(key) != 0 ? nullptr : place(t, key, h, open, now);
        if (target == nullptr) {
          blocked.insert(std::move(key));
          passed.push_back(std::move(t));
          queue_.pop_front();
          if (one_class) break;
          continue;
        }
        if (target->in_flight == 0) {  // it starts now, in a worker of its own
          target->head_since = now;
          target->key = std::move(key);
          target->group = t.group;
          target->interactive = t.interactive;
          if (!t.group.empty()) ++h.groups[t.group];
          (t.interactive ? h.interactive : h.batch) += 1;
        }
        target->tasks.push_back(t.id);
        batches[target->owner].push_back(std::move(t));
        queue_.pop_front();
        ++target->in_flight;
        ++in_flight_;
        if (!any_room(open, now)) break;
      }
      for (auto t = passed.rbegin(); t != passed.rend(); ++t) queue_.push_front(std::move(*t));
      for (auto& [raw, tasks] : batches) {
        send(workers_.at(raw).owner, run_tasks{std::move(tasks)});
      }
    }
    rebalance(open, h, now);
    grow(open, h, now);
    arm_rebalance(open, now);
  }

  // Could the tasks waiting behind w's stalled head start elsewhere?
  bool movable(const worker& w, const heads& h) const {
    task_request probe;
    probe.group = w.group;
    probe.interactive = w.interactive;
    // Its own head counts toward its group: the tasks behind it need a cap above that.
    return may_start(probe, h);
  }

  // Workers whose waiting tasks may be recalled: ready ones, the retiring (old generation after a
  // reload) included, so that a reload does not leave tasks behind an old worker's long head.
  bool recallable(const worker& w) const { return w.ready && !w.leaving; }

  // A worker is idle while tasks wait, unstarted, behind a stalled head elsewhere: recall them
  // (they come back to the front of the queue, in order, and go to the idle worker).
  void rebalance(const std::vector<worker*>& open, const heads& h, clock::time_point now) {
    bool idle = std::any_of(open.begin(), open.end(), [](const worker* w) { return w->in_flight == 0; });
    if (!idle) return;
    for (auto& [raw, w] : workers_) {
      if (!recallable(w) || w.tasks.size() < 2 || !stalled(w, now) || !movable(w, h)) continue;
      std::vector<std::uint64_t> ids;
      for (std::size_t i = 1; i < w.tasks.size(); ++i) {
        if (w.recalling.insert(w.tasks[i]).second) ids.push_back(w.tasks[i]);
      }
      if (ids.empty()) continue;
      tasks_recalled_ += ids.size();
      send(w.owner, detail::recall_tasks{std::move(ids)});
    }
  }

  // Tasks wait (in the queue, or behind a stalled head) that a new worker could start: start
  // one more (one at a time, so that a burst does not overshoot). Batch tasks need a batch slot
  // (max_workers of them); interactive ones may also use the interactive_workers above that.
  void grow(const std::vector<worker*>& open, const heads& h, clock::time_point now) {
    if (starting_ > 0 || retry_pending_) return;
    // An idle worker left after dispatch and rebalance: what waits could not use a new one either.
    if (std::any_of(open.begin(), open.end(), [](const worker* w) { return w->in_flight == 0; })) return;
    bool batch = false;
    bool interactive = false;
    auto want = [&](const task_request& t) {
      if (!may_start(t, h)) return;
      (t.interactive ? interactive : batch) = true;
    };
    for (auto& t : queue_) {
      want(t);
      if (batch) break;
    }
    for (auto& [raw, w] : workers_) {
      if (recallable(w) && w.tasks.size() > w.recalling.size() + 1 && stalled(w, now)) {
        task_request probe;
        probe.group = w.group;
        probe.interactive = w.interactive;
        want(probe);
      }
    }
    std::size_t limit = 0;
    if (interactive) limit = config_.max_workers + config_.interactive_workers;
    if (batch) limit = std::max(limit, config_.max_workers + std::min(config_.interactive_workers, h.interactive));
    if (live() < limit) start_one();
  }

  void arm_rebalance(const std::vector<worker*>& open, clock::time_point now) {
    if (rebalance_armed_) return;
    bool idle = std::any_of(open.begin(), open.end(), [](const worker* w) { return w->in_flight == 0; });
    if (!idle && live() >= config_.max_workers + config_.interactive_workers) return;  // nowhere to go
    std::optional<clock::time_point> next;
    for (auto& [raw, w] : workers_) {
      if (!recallable(w) || w.tasks.size() < 2 || stalled(w, now)) continue;
      auto at = w.head_since + config_.pipeline_stall;
      if (!next || at < *next) next = at;
    }
    if (!next) return;
    auto delay = std::chrono::ceil<std::chrono::milliseconds>(*next - now);
    rebalance_armed_ = true;
    send_after(std::max(delay, std::chrono::milliseconds{1}), detail::rebalance_tick{});
  }

  void retire_idle() {
    auto now = clock::now();
    std::size_t active = live();
    for (auto& [raw, w] : workers_) {
      if (active <= config_.min_workers) break;
      if (w.ready && !w.retiring && w.in_flight == 0 && now - w.idle_since >= config_.idle_timeout) {
        w.retiring = true;
        send(w.owner, detail::retire_worker{});
        --active;
      }
    }
  }

  void on_cancel(const cancel_task& c) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->id == c.id) {
        send(it->reply_to, task_outcome{c.id, task_status::cancelled, {}, {}, worker_exit::none, 0, it->attempt});
        queue_.erase(it);
        return;
      }
    }
    // Sent to a worker already: its owner passes the cancel on if the task is its.
    for (auto& [raw, w] : workers_) {
      if (w.in_flight > 0) send(w.owner, c);
      // Being recalled: its owner may have handed it back already (on its way here), and would
      // not find it; it is answered cancelled when it lands.
      if (w.recalling.count(c.id) != 0) cancel_on_return_.insert(c.id);
    }
  }

  void reload() {
    // Hot code upgrade: from now on, workers start from the binary's file as it is now. Old ones
    // retire: idle ones at once, busy ones once their tasks are done. Replacements start first
    // so that capacity does not dip.
    ++generation_;
    std::size_t keep = std::max(config_.min_workers, live());
    for (auto& [raw, w] : workers_) {
      if (!w.retiring && w.generation != generation_) {
        w.retiring = true;
        send(w.owner, detail::retire_worker{});
      }
    }
    // Owners still starting are of the old generation too: they retire when they say hello.
    failed_starts_ = 0;
    std::size_t fresh = 0;
    for (auto& [raw, w] : workers_) fresh += (!w.retiring) ? 1 : 0;
    for (std::size_t n = fresh; n < keep; ++n) start_one();
  }

  pool_stats stats() const {
    pool_stats s;
    for (auto& [raw, w] : workers_) {
      if (w.retiring) {
        ++s.retiring;
      } else if (w.ready) {
        ++s.workers;
        s.builds.push_back(w.build);
      }
    }
    s.starting = starting_;
    s.queued = queue_.size();
    s.in_flight = in_flight_;
    s.generation = generation_;
    s.workers_started = workers_started_;
    s.workers_died = workers_died_;
    s.tasks_recalled = tasks_recalled_;
    for (auto& [raw, w] : workers_) {
      if (w.in_flight > 1) s.waiting_in_workers += w.in_flight - 1;
      if (w.ready && w.in_flight > 0) ++s.busy;
    }
    return s;
  }

  worker_pool_config config_;
  respawn::pid workers_sup_{};
  std::deque<task_request> queue_;
  std::unordered_map<respawn::pid, worker> workers_;
  std::size_t starting_ = 0;
  std::size_t in_flight_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t workers_started_ = 0;
  std::uint64_t workers_died_ = 0;
  unsigned failed_starts_ = 0;
  bool retry_pending_ = false;
  bool rebalance_armed_ = false;
  std::uint64_t tasks_recalled_ = 0;
  std::unordered_set<std::uint64_t> cancel_on_return_;  // cancelled while being recalled
  std::unordered_map<respawn::pid, monitor_ref> submitters_;  // reply_to pids, monitored
  std::vector<fence_task> fences_;                             // waiting for their id to be gone
};

std::chrono::milliseconds owner_shutdown(const worker_options& o) {
  return o.term_grace + std::chrono::milliseconds{1000};
}

supervisor_spec pool_spec(const worker_pool_config& config) {
  dynamic_supervisor_spec workers;
  workers.child.id = "worker";
  workers.child.restart = restart_type::temporary;
  workers.child.shutdown = shutdown_spec::after(owner_shutdown(config.worker));
  workers.make_child = [](const std::any& argument, const snapshot&) -> std::unique_ptr<process> {
    return std::make_unique<detail::worker_process>(std::any_cast<detail::owner_start>(argument));
  };
  workers.max_children = 0;

  child_spec workers_child;
  workers_child.id = "workers";
  workers_child.type = child_type::supervisor;
  workers_child.name = config.name + ".workers";
  workers_child.start = [workers](const snapshot&) { return std::make_unique<dynamic_supervisor>(workers); };

  child_spec manager;
  manager.id = "manager";
  manager.name = config.name;
  manager.start = [config](const snapshot&) { return std::make_unique<pool_manager>(config); };

  supervisor_spec spec;
  spec.flags.strategy = strategy::one_for_all;
  spec.children = {workers_child, manager};
  return spec;
}

}  // namespace

worker_pool_handle start_worker_pool(runtime& rt, worker_pool_config config) {
  if (config.min_workers > config.max_workers || config.max_workers == 0 || config.max_in_flight == 0) {
    throw std::invalid_argument{"worker_pool_config: need 0 <= min_workers <= max_workers, max_workers > 0, "
                                "max_in_flight > 0"};
  }
  std::string name = config.name;
  spawn_options options;
  options.name = name + ".sup";
  // An acknowledged start: when it returns, the manager has registered its name.
  pid sup = start_supervisor(rt, pool_spec(config), options);
  pid manager = rt.whereis(name);
  if (!manager) throw std::runtime_error{"worker pool " + name + " did not start"};
  return {sup, manager};
}

child_spec worker_pool_child_spec(std::string id, worker_pool_config config) {
  child_spec c;
  c.id = std::move(id);
  c.type = child_type::supervisor;
  c.start = supervisor::of(pool_spec(config));
  return c;
}

std::unique_ptr<process> make_worker_process(worker_options options) {
  return std::make_unique<detail::worker_process>(detail::owner_start{std::move(options), {}, 0});
}

child_spec worker_child_spec(std::string id, worker_options options) {
  child_spec c;
  c.id = std::move(id);
  c.shutdown = shutdown_spec::after(owner_shutdown(options));
  c.start = [options](const snapshot&) { return make_worker_process(options); };
  return c;
}

}  // namespace respawn
