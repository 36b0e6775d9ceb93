// simulation.cpp: the pieces of the engine's seeded simulation (see simulation.hpp).
#include "simulation.hpp"

#include <functional>
#include <stdexcept>
#include <unordered_map>

#include "respawn/worker_pool.hpp"
#include "store/sqlite_job_store.hpp"

namespace respawn::sim {

namespace {

// A submission on its way through the writer: committed and answered by the commit_window
// process, later than it was sent.
struct deferred_commit {
  std::function<void()> commit_and_answer;
  bool crashed = false;  // the dispatcher was killed inside this one's window already
};

// Commits deferred submissions and delivers their answers. In w.commit_crash_pct of them it first
// kills the dispatcher and commits only 2 ms later, once the core has restarted and the new
// dispatcher has read the store for recovery: the commit lands after that read, and its answer
// is for a process that is gone — the window where an acknowledged job could be orphaned.
class commit_window final : public process {
 public:
  explicit commit_window(world& w) : w_{w} {}
  void handle(message& m) override {
    auto* c = m.get_if<deferred_commit>();
    if (c == nullptr) return;
    if (!c->crashed && w_.below(100) < w_.commit_crash_pct) {
      if (auto d = system().whereis("jobs")) {
        ++w_.commit_crashes;
        exit(d, exit_reason::kill());
        send_after(std::chrono::milliseconds{2}, deferred_commit{std::move(c->commit_and_answer), true});
        return;
      }
    }
    c->commit_and_answer();
  }

 private:
  world& w_;
};

class synchronous_store_impl final : public store::job_store {
 public:
  synchronous_store_impl(std::shared_ptr<store::job_store> inner, world& w) : inner_{std::move(inner)}, w_{w} {}

  void defer_on(runtime& rt) {
    rt_ = &rt;
    window_ = rt.spawn<commit_window>(spawn_options{}, w_).pid;
  }

  store::store_result<jobs::job_id> allocate_id() override { return inner_->allocate_id(); }

  void submit_async(std::vector<store::submission> batch, store::submit_callback done) override {
    if (fail_this_write()) {
      done(store::store_error{store::store_errc::io_error, "injected fault (write " + std::to_string(w_.writes) + ")"});
      return;
    }
    if (rt_ == nullptr) {
      done(inner_->submit(std::move(batch)));
      return;
    }
    auto inner = inner_;
    auto shared = std::make_shared<std::vector<store::submission>>(std::move(batch));
    rt_->send_after(window_, std::chrono::milliseconds{w_.below(3)},
                    deferred_commit{[inner, shared, done] { done(inner->submit(std::move(*shared))); }, false});
  }
  void append_async(std::vector<jobs::event> events, store::append_callback done) override {
    if (fail_this_write()) {
      done(store::store_error{store::store_errc::io_error, "injected fault (write " + std::to_string(w_.writes) + ")"});
      return;
    }
    done(inner_->append(std::move(events)));
  }

  store::store_result<jobs::job_state> get(jobs::job_id id) override { return inner_->get(id); }
  store::store_result<std::vector<jobs::event>> events(jobs::job_id id, std::uint64_t after,
                                                       std::size_t limit) override {
    return inner_->events(id, after, limit);
  }
  store::store_result<store::job_page> list(const store::job_filter& filter) override { return inner_->list(filter); }
  store::store_result<store::job_page> list_unfinished(jobs::job_id after, std::size_t limit) override {
    return inner_->list_unfinished(after, limit);
  }

 private:
  bool fail_this_write() {
    ++w_.writes;
    const auto& f = w_.faults;
    bool fail = (f.fail_at != 0 && (w_.writes == f.fail_at || (f.persistent && w_.writes > f.fail_at))) ||
                (f.rate > 0 && w_.chance(f.rate));
    if (fail) ++w_.faults_hit;
    return fail;
  }

  std::shared_ptr<store::job_store> inner_;
  world& w_;
  runtime* rt_ = nullptr;
  respawn::pid window_{};
};

// The simulated workers (world::workers of them; more tasks wait in the pool, unstarted). Kinds:
//   ok      seeded: succeeds after 1..20 ms (some after a progress report and a snapshot), or
//           throws (failed), or crashes its worker (worker_died), or hangs until its deadline
//   poison  crashes its worker every time
//   hang    never answers: killed at its deadline every time
//   other   unknown_kind
struct sim_finish {
  std::uint64_t id;
  std::uint64_t token;
};

class sim_pool final : public process {
 public:
  explicit sim_pool(world& w) : w_{w} {}

  void handle(message& m) override {
    if (auto* s = m.get_if<submit_task>()) {
      enqueue(s->task);
    } else if (auto* many = m.get_if<submit_tasks>()) {
      for (auto& t : many->tasks) enqueue(t);
    } else if (auto* f = m.get_if<sim_finish>()) {
      auto it = running_.find(f->id);
      if (it == running_.end() || it->second.token != f->token) return;
      send(it->second.reply_to, it->second.outcome);
      running_.erase(it);
    } else if (auto* c = m.get_if<cancel_task>()) {
      auto it = running_.find(c->id);
      if (it != running_.end()) {
        cancel_timer(it->second.timer);
        task_outcome o;
        o.id = c->id;
        o.status = task_status::cancelled;
        o.attempt = it->second.outcome.attempt;
        send(it->second.reply_to, o);
        running_.erase(it);
      } else {
        // Waiting for a worker: dropped, never started (no task_started).
        for (auto q = waiting_.begin(); q != waiting_.end(); ++q) {
          if (q->id != c->id) continue;
          task_outcome o;
          o.id = c->id;
          o.status = task_status::cancelled;
          o.attempt = q->attempt;
          send(q->reply_to, o);
          waiting_.erase(q);
          break;
        }
      }
    } else if (auto* fence = m.get_if<fence_task>()) {
      // No monitors here: a task of a dead submitter runs to its end (at worst its deadline),
      // and the fence is answered then.
      fences_.push_back(*fence);
    }
    start_waiting();
    answer_fences();
  }

 private:
  struct running_task {
    respawn::pid reply_to;
    timer_ref timer;
    std::uint64_t token;
    task_outcome outcome;
  };

  bool has(std::uint64_t id) const {
    if (running_.count(id) != 0) return true;
    for (auto& t : waiting_) {
      if (t.id == id) return true;
    }
    return false;
  }

  void answer_fences() {
    for (auto it = fences_.begin(); it != fences_.end();) {
      if (has(it->id)) {
        ++it;
      } else {
        send(it->reply_to, task_fenced{it->id});
        it = fences_.erase(it);
      }
    }
  }

  // Tasks wait for one of w_.workers simulated workers, in order: a node death kills the
  // waiting ones with the rest, but they never started and must cost no attempt.
  void enqueue(const task_request& t) {
    ++w_.handed_to_worker[t.id];
    if (has(t.id)) {
      w_.overlaps.push_back("job " + std::to_string(t.id) + ": attempt " + std::to_string(t.attempt) +
                            " handed to the pool while another of its tasks was still there");
    }
    waiting_.push_back(t);
  }
  void start_waiting() {
    while (!waiting_.empty() && running_.size() < w_.workers) {
      auto t = std::move(waiting_.front());
      waiting_.erase(waiting_.begin());
      if (w_.below(100) < w_.give_back_pct) {
        // Given back unstarted, as a stopping pool does: worker_died without task_started. No
        // attempt was made; the job must run again without losing one.
        task_outcome o;
        o.id = t.id;
        o.status = task_status::worker_died;
        o.exit = worker_exit::shutdown;
        o.error = "not started: worker stopped";
        o.attempt = t.attempt;
        send(t.reply_to, o);
        continue;
      }
      start(t);
    }
  }

  void start(const task_request& t) {
    ++w_.started[t.id];
    send(t.reply_to, task_started{t.id, t.attempt, 4242});
    task_outcome o;
    o.id = t.id;
    o.os_pid = 4242;
    o.attempt = t.attempt;
    auto delay = std::chrono::milliseconds{1 + w_.below(20)};
    auto deadline = t.limits.deadline.count() > 0 ? t.limits.deadline : std::chrono::milliseconds{60000};
    auto crash = [&] {
      o.status = task_status::worker_died;
      o.exit = worker_exit::crashed;
      o.error = "worker 4242 crashed with SIGSEGV";
    };
    auto hang = [&] {
      o.status = task_status::worker_died;
      o.exit = worker_exit::deadline;
      o.error = "worker 4242 was killed at its deadline";
      delay = deadline;
    };
    if (t.kind == "ok") {
      auto roll = static_cast<unsigned>(w_.below(100));
      unsigned edge = w_.throw_pct;
      if (roll < edge) {
        o.status = task_status::failed;
        o.error = "std::runtime_error: seeded failure";
      } else if (roll < (edge += w_.crash_pct)) {
        crash();
      } else if (roll < (edge += w_.hang_pct)) {
        hang();
      } else {
        if (roll < edge + w_.snapshot_pct) {
          task_event p{t.id, task_event_type::progress, "{\"done\":1}"};
          p.attempt = t.attempt;
          task_event snap{t.id, task_event_type::snapshot, "{\"step\":" + std::to_string(t.attempt) + "}"};
          snap.attempt = t.attempt;
          send(t.reply_to, p);
          send(t.reply_to, snap);
        }
        o.status = task_status::succeeded;
        o.result = "{\"job\":" + std::to_string(t.id) + ",\"attempt\":" + std::to_string(t.attempt) + "}";
      }
    } else if (t.kind == "poison") {
      crash();
    } else if (t.kind == "hang") {
      hang();
    } else {
      o.status = task_status::unknown_kind;
      o.error = "no job kind named " + t.kind;
      delay = std::chrono::milliseconds{0};
    }
    auto token = next_token_++;
    auto timer = send_after(delay, sim_finish{t.id, token});
    running_[t.id] = running_task{t.reply_to, timer, token, std::move(o)};
  }

  world& w_;
  std::unordered_map<std::uint64_t, running_task> running_;
  std::vector<task_request> waiting_;
  std::vector<fence_task> fences_;
  std::uint64_t next_token_ = 1;
};

}  // namespace

std::shared_ptr<store::job_store> synchronous_store(std::shared_ptr<store::job_store> inner, world& w) {
  return std::make_shared<synchronous_store_impl>(std::move(inner), w);
}

void defer_submits_on(store::job_store& store, runtime& rt) {
  static_cast<synchronous_store_impl&>(store).defer_on(rt);
}

child_spec simulated_pool(const std::string& name, world& w) {
  child_spec c;
  c.id = "pool";
  c.name = name;
  c.start = [&w](const snapshot&) { return std::make_unique<sim_pool>(w); };
  return c;
}

node::node(world& w, std::string db_path, engine::engine_config config) : w_{w} {
  store::sqlite_options o;
  o.path = std::move(db_path);
  o.synchronous = store::sqlite_options::synchronous_mode::off;  // durability is not what this tests
  auto s = store::sqlite_job_store::open(o);
  if (!s.ok()) throw std::runtime_error{"simulation: cannot open the store: " + s.error().message};
  store_ = synchronous_store(std::shared_ptr<store::job_store>{std::move(s).value()}, w);

  runtime_config rc;
  rc.deterministic = true;
  rc.crash_reports = std::getenv("SIM_CRASH_REPORTS") != nullptr;
  if (!rc.crash_reports) rc.log = [](std::string_view) {};  // runs fail on purpose, loudly
  rt_ = std::make_unique<runtime>(rc);
  // Time in the log goes on across restarts: a fixed epoch, plus what earlier nodes lived, plus
  // this runtime's manual clock.
  runtime* rt = rt_.get();
  auto before = w.elapsed_before;
  config.clock = [rt, before] {
    auto since = std::chrono::duration_cast<std::chrono::microseconds>(rt->now().time_since_epoch());
    return jobs::from_microseconds(1'800'000'000'000'000) + before + since;
  };
  config.pool_child = [&w](const std::string& name) { return simulated_pool(name, w); };
  if (w.commit_crash_pct > 0) defer_submits_on(*store_, *rt_);
  handle_ = engine::start_engine(*rt_, std::move(config), store_);
}

node::~node() {
  // The node dies: every process ends where it stands (no clean shutdown).
  w_.elapsed_before += std::chrono::duration_cast<std::chrono::milliseconds>(rt_->now().time_since_epoch());
  rt_.reset();
  store_.reset();
}

// The engine's tree, not one dispatcher: a dispatcher killed and restarted by its supervisor is
// the engine at work (the driver must not paper over it with a node restart).
bool node::engine_alive() const { return rt_->alive(handle_.supervisor); }

void node::run(std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    if (!rt_->step()) rt_->advance(std::chrono::milliseconds{1});
  }
}

}  // namespace respawn::sim
