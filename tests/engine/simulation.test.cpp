// The engine under a seeded deterministic simulation (issue 5; simulation.hpp says what is
// simulated and why). Each seed runs submitters (a flooding user, occasional users, a quiet user
// who submits one job mid-flood), simulated workers that succeed, throw, crash or hang, writes
// that fail, cancels, clients that lose a reply and submit again with the same idempotency key,
// node deaths at arbitrary steps, and dispatcher kills inside a submission's commit window (the
// commit is durable, its answer not yet delivered) — then lets the node finish its work and checks:
//   - every accepted (acknowledged) job reaches exactly one final state, and its last event is
//     that state; a dispatcher crash mid-commit orphans nothing, and a retry with the same key
//     finds the job live;
//   - one attempt at a time: no job's task is handed to the pool while one of its earlier
//     attempts still runs (a job process rebuilt by a crash waits for the pool's fence);
//   - no job succeeds twice; no job is attempted more than its attempts allow;
//   - an attempt counts only when its task started (the simulated pool has fewer workers than
//     running slots, so tasks wait in it unstarted, and die there with the node);
//   - the store holds exactly the accepted jobs (nothing lost, nothing extra);
//   - replaying each job's log (jobs::fold) rebuilds the state the store holds;
//   - the quiet user's job is not starved by the flood;
//   - the same seed replays the same run, event for event.
// A failing seed is printed; RESPAWN_SIM_SEED=N runs just that one, RESPAWN_SIM_SEEDS=K runs K.
//
// Also here: countdown fault injection through the engine. For N = 1, 2, ... the Nth write at the
// store seam fails (once; and from then on), until a run meets no fault: every run must end in
// success or a clean stop, with the log intact and replayable; after a persistent fault is
// repaired, a restarted node finishes every accepted job.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "respawn/jobs/event.hpp"
#include "respawn/jobs/fold.hpp"
#include "simulation.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using respawn::jobs::event_type;
using respawn::jobs::job_id;
using respawn::jobs::job_request;
using respawn::jobs::job_status;
using respawn::sim::node;
using respawn::sim::world;

constexpr std::size_t running_max = 4;
constexpr std::uint32_t attempts_max = 3;

respawn::engine::engine_config sim_config() {
  respawn::engine::engine_config c;
  c.name = "jobs";
  c.running_max = running_max;
  c.queue.running_per_user_max = running_max;
  c.queue.held_per_user_max = 5000;
  c.retry.attempts_max = attempts_max;
  c.retry.backoff_initial = 5ms;
  c.retry.backoff_max = 50ms;
  c.attempt_timeout = 40ms;  // a hanging attempt is killed after this
  return c;
}

fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("respawn-sim-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  return path;
}

// One batch a submitter sends (and sends again, with the same keys, until it is answered).
struct batch {
  std::vector<job_request> requests;
};

// Drives one run: a node that dies and is started again, the submitters, the checks' inputs.
class driver {
 public:
  driver(world& w, fs::path db) : w_{w}, db_{std::move(db)} { start(); }

  node& n() { return *node_; }
  void start() {
    // A node can die while it starts (a write fails during recovery and its tree gives up):
    // start it again, as heart would.
    for (int tries = 1;; ++tries) {
      try {
        node_ = std::make_unique<node>(w_, db_.string(), sim_config());
        return;
      } catch (const std::exception& e) {
        node_.reset();
        if (tries == 20) throw;
      }
    }
  }
  void restart() {
    node_.reset();
    ++restarts_;
    start();
  }

  // Sends a batch; true when answered (accepted, or refused for good). A batch that could not be
  // answered (a write failed, the engine is starting, the dispatcher died) is kept to send again.
  bool send(const batch& b) {
    auto& rt = node_->rt();
    auto dispatcher = rt.whereis("jobs");
    if (!dispatcher) return false;
    auto r = rt.call<respawn::engine::submit_reply>(dispatcher, respawn::engine::submit_jobs{b.requests}, 5s);
    if (!r.ok() || !r.value().ok) return false;
    auto& reply = r.value();
    answered_.push_back(b);
    EXPECT_EQ(reply.jobs.size(), b.requests.size());
    for (std::size_t i = 0; i < reply.jobs.size() && i < b.requests.size(); ++i) {
      auto key = b.requests[i].user + "/" + *b.requests[i].idempotency_key;
      auto [it, fresh] = accepted_.emplace(key, reply.jobs[i].id);
      // The same key always names the same job, however often it is sent.
      EXPECT_EQ(it->second, reply.jobs[i].id) << "key " << key;
      if (fresh) user_of_[reply.jobs[i].id] = b.requests[i].user;
    }
    return true;
  }
  void submit(batch b) {
    if (!send(b)) unanswered_.push_back(std::move(b));
  }
  void resend_one() {
    if (unanswered_.empty()) return;
    auto b = std::move(unanswered_.front());
    unanswered_.erase(unanswered_.begin());
    submit(std::move(b));
  }

  batch make_batch(const std::string& user, std::size_t n, bool varied) {
    batch b;
    for (std::size_t i = 0; i < n; ++i) {
      job_request r;
      r.user = user;
      r.kind = "ok";
      r.args = {{"i", next_key_}};
      if (varied) {
        auto roll = w_.below(100);
        if (roll < 5) r.kind = "poison";
        else if (roll < 8) r.kind = "hang";
        else if (roll < 11) r.kind = "no_such_kind";
        else if (roll < 16) r.attempts_max = 1;
      }
      r.idempotency_key = "k" + std::to_string(next_key_++);
      b.requests.push_back(std::move(r));
    }
    return b;
  }

  void cancel_one() {
    if (accepted_.empty()) return;
    auto it = accepted_.begin();
    std::advance(it, static_cast<long>(w_.below(accepted_.size())));
    auto dispatcher = node_->rt().whereis("jobs");
    if (dispatcher) (void)node_->rt().call<bool>(dispatcher, respawn::engine::cancel_job{it->second}, 5s);
  }

  bool all_final() {
    for (auto& [key, id] : accepted_) {
      auto s = node_->store().get(id);
      if (!s.ok() || !respawn::jobs::is_final(s.value().status)) return false;
    }
    return true;
  }

  // Lets the node finish: no more faults or deaths; unanswered batches sent until answered.
  bool drain() {
    w_.faults = {};
    for (int round = 0; round < 20000; ++round) {
      if (!node_->engine_alive()) restart();
      if (!unanswered_.empty()) resend_one();
      node_->run(500);
      if (round % 20 == 0 && unanswered_.empty() && all_final()) return true;
    }
    return false;
  }

  // The whole log, job by job: what two runs of one seed must agree on.
  std::string trace() {
    std::ostringstream out;
    for (auto& [key, id] : accepted_) {
      out << key << " -> " << id << "\n";
      auto events = node_->store().events(id, 0, 10000);
      if (!events.ok()) continue;
      for (auto& e : events.value()) out << nlohmann::json(e).dump() << "\n";
    }
    return out.str();
  }

  world& w_;
  fs::path db_;
  std::unique_ptr<node> node_;
  std::map<std::string, job_id> accepted_;  // "user/key" -> job
  std::map<job_id, std::string> user_of_;
  std::vector<batch> unanswered_;
  std::vector<batch> answered_;
  std::uint64_t next_key_ = 1;
  unsigned restarts_ = 0;
};

std::vector<respawn::jobs::event> log_of(respawn::store::job_store& store, job_id id) {
  auto events = store.events(id, 0, 10000);
  EXPECT_TRUE(events.ok()) << "job " << id;
  return events.ok() ? std::move(events).value() : std::vector<respawn::jobs::event>{};
}

// The checks every run must pass, whatever happened in it.
void check_log(driver& d) {
  auto& store = d.n().store();
  for (auto& overlap : d.w_.overlaps) ADD_FAILURE() << "two attempts at once: " << overlap;
  // The store holds exactly the accepted jobs.
  std::size_t stored = 0;
  respawn::store::job_filter all;
  all.limit = 10000;
  for (;;) {
    auto page = store.list(all);
    ASSERT_TRUE(page.ok());
    stored += page.value().jobs.size();
    if (!page.value().next_after_id) break;
    all.after_id = *page.value().next_after_id;
  }
  EXPECT_EQ(stored, d.accepted_.size()) << "jobs in the store that no submitter was told of, or lost";

  for (auto& [key, id] : d.accepted_) {
    auto state = store.get(id);
    ASSERT_TRUE(state.ok()) << "job " << id << " (" << key << ") is not in the store";
    auto events = store.events(id, 0, 10000);
    ASSERT_TRUE(events.ok());
    auto& log = events.value();
    ASSERT_FALSE(log.empty());
    // Replaying the log rebuilds the stored state.
    auto replayed = respawn::jobs::fold(log);
    EXPECT_EQ(replayed, state.value()) << "job " << id << ": the stored state is not the fold of its log";

    std::size_t finals = 0, successes = 0, claims = 0;
    for (auto& e : log) {
      if (e.type == event_type::succeeded || e.type == event_type::dead || e.type == event_type::cancelled) ++finals;
      if (e.type == event_type::succeeded) ++successes;
      if (e.type == event_type::claimed) ++claims;
    }
    EXPECT_TRUE(respawn::jobs::is_final(state.value().status))
        << "job " << id << " (" << key << ") never finished: " << respawn::jobs::to_string(state.value().status)
        << "; its log:\n" << [&] {
             std::string text;
             for (auto& e : log) text += "  " + nlohmann::json(e).dump() + "\n";
             return text;
           }();
    EXPECT_EQ(finals, 1u) << "job " << id << " reached " << finals << " final states";
    EXPECT_LE(successes, 1u) << "job " << id << " succeeded twice";
    auto allowed = state.value().request.attempts_max != 0 ? state.value().request.attempts_max : attempts_max;
    EXPECT_LE(claims, allowed) << "job " << id << " was attempted past its attempts";
    // An attempt counts only once its task started: tasks that waited in the pool when a node
    // died, or were cancelled there, cost none.
    auto started = d.w_.started.count(id) != 0 ? d.w_.started.at(id) : 0u;
    EXPECT_LE(claims, started) << "job " << id << ": " << claims << " attempts counted, " << started
                               << " of its tasks started";
    const auto& kind = state.value().request.kind;
    if (state.value().status != job_status::cancelled && (kind == "poison" || kind == "hang")) {
      EXPECT_EQ(state.value().status, job_status::dead) << "job " << id << " (" << kind << ")";
      EXPECT_EQ(claims, allowed) << "a poison job uses up its attempts";
    }
    if (kind == "no_such_kind" && state.value().status != job_status::cancelled) {
      EXPECT_EQ(state.value().status, job_status::dead);
    }
  }
}

struct run_outcome {
  std::string trace;
  unsigned restarts = 0;
  std::uint64_t faults = 0;
  std::uint64_t commit_crashes = 0;
};

run_outcome run_seed(std::uint64_t seed) {
  world w{seed};
  w.faults.rate = 0.01;
  w.commit_crash_pct = 4;
  driver d{w, scratch("seed-" + std::to_string(seed) + ".db")};

  job_id quiet = 0;
  std::size_t flood_queued_at_quiet = 0;
  for (int tick = 0; tick < 250; ++tick) {
    if (!d.n().engine_alive()) d.restart();
    auto roll = w.below(100);
    if (tick < 40 && roll < 50) {
      d.submit(d.make_batch("flood", 10 + w.below(30), false));  // the flood, early and large
    } else if (roll < 20) {
      d.submit(d.make_batch(w.below(2) == 0 ? "ann" : "bob", 1 + w.below(3), true));
    } else if (roll < 23) {
      d.cancel_one();
    } else if (roll < 26) {
      d.restart();  // the node dies at an arbitrary step
    } else if (roll < 36) {
      d.resend_one();
    } else if (roll < 40 && !d.answered_.empty()) {
      // A client that lost its reply sends the same batch again: same keys, same jobs.
      auto again = d.answered_[w.below(d.answered_.size())];
      d.submit(std::move(again));
    }
    if (tick == 45) {
      // A flood of 150 more, then the quiet user's one job right behind it.
      auto send_until_answered = [&](const batch& b) {
        for (int tries = 0; tries < 50; ++tries) {
          if (!d.n().engine_alive()) d.restart();
          if (d.send(b)) return;
          d.n().run(100);
        }
        ADD_FAILURE() << "a batch was never answered";
      };
      send_until_answered(d.make_batch("flood", 150, false));
      auto stats = d.n().rt().call<respawn::engine::engine_stats>(d.n().rt().whereis("jobs"),
                                                                  respawn::engine::engine_stats_request{}, 5s);
      if (stats.ok()) flood_queued_at_quiet = stats.value().queued;
      batch b = d.make_batch("quiet", 1, false);
      send_until_answered(b);
      auto key = "quiet/" + *b.requests[0].idempotency_key;
      quiet = d.accepted_.count(key) != 0 ? d.accepted_.at(key) : 0;
    }
    d.n().run(w.below(400));
  }
  EXPECT_TRUE(d.drain()) << "the node did not finish its accepted jobs";
  check_log(d);

  // The quiet user: from its job's submission to its first claim, how many of the flood's
  // attempts started? Round robin gives it the next free slot (a node death re-queues everything:
  // allow a slot-full of flood jobs per node life).
  EXPECT_NE(quiet, 0u) << "the quiet user's job was never accepted";
  if (quiet != 0) {
    auto log = log_of(d.n().store(), quiet);
    std::optional<respawn::jobs::job_time> submitted, claimed;
    for (auto& e : log) {
      if (e.type == event_type::submitted) submitted = e.time;
      if (e.type == event_type::claimed && !claimed) claimed = e.time;
    }
    if (submitted && claimed) {
      std::size_t flood_claims = 0;
      for (auto& [key, id] : d.accepted_) {
        if (d.user_of_[id] != "flood") continue;
        for (auto& e : log_of(d.n().store(), id)) {
          if (e.type == event_type::claimed && e.time > *submitted && e.time < *claimed) ++flood_claims;
        }
      }
      EXPECT_GT(flood_queued_at_quiet, running_max) << "the flood was not queued when the quiet user came";
      EXPECT_LE(flood_claims, running_max * (d.restarts_ + 1))
          << "the quiet user's job waited while " << flood_claims << " flood attempts started ("
          << flood_queued_at_quiet << " flood jobs queued at its submission)";
    } else {
      EXPECT_TRUE(claimed.has_value() || d.n().store().get(quiet).value().status == job_status::cancelled)
          << "the quiet user's job never started";
    }
  }
  return {d.trace(), d.restarts_, w.faults_hit, w.commit_crashes};
}

std::vector<std::uint64_t> seeds() {
  if (const char* one = std::getenv("RESPAWN_SIM_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = 12;
  if (const char* k = std::getenv("RESPAWN_SIM_SEEDS")) count = std::strtoull(k, nullptr, 10);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= count; ++s) out.push_back(s * 7919);
  return out;
}

TEST(simulation, every_accepted_job_ends_exactly_once_under_crashes_hangs_faults_and_node_deaths) {
  unsigned restarts = 0;
  std::uint64_t faults = 0;
  std::uint64_t commit_crashes = 0;
  for (auto seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay it: RESPAWN_SIM_SEED=" + std::to_string(seed) +
                 " engine_simulation_tests)");
    auto outcome = run_seed(seed);
    restarts += outcome.restarts;
    faults += outcome.faults;
    commit_crashes += outcome.commit_crashes;
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "simulation: seed %llu FAILED; replay with RESPAWN_SIM_SEED=%llu\n",
                   static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
      return;
    }
  }
  // The runs did exercise what they claim to.
  EXPECT_GT(restarts, 0u);
  EXPECT_GT(faults, 0u);
  EXPECT_GT(commit_crashes, 0u) << "no dispatcher crash landed inside a commit window";
}

TEST(simulation, a_seed_replays_the_same_run) {
  auto seed = seeds().front();
  auto first = run_seed(seed);
  auto second = run_seed(seed);
  EXPECT_FALSE(first.trace.empty());
  EXPECT_EQ(first.trace, second.trace) << "seed " << seed << " did not replay the same run";
  EXPECT_EQ(first.restarts, second.restarts);
}

// --- countdown fault injection through the engine ---

struct countdown_run {
  bool hit = false;
};

countdown_run countdown(std::uint64_t n, bool persistent) {
  world w{n};
  w.throw_pct = 0;  // outcomes that do not depend on the seed: one kind of each below
  w.crash_pct = 0;
  w.hang_pct = 0;
  w.snapshot_pct = 100;  // each success also logs progress and a snapshot
  w.faults.fail_at = n;
  w.faults.persistent = persistent;
  driver d{w, scratch("countdown-" + std::to_string(n) + (persistent ? "-p" : "") + ".db")};
  batch b = d.make_batch("ann", 3, false);
  b.requests[1].kind = "poison";
  b.requests[1].attempts_max = 2;
  batch c = d.make_batch("bob", 2, false);
  d.submit(b);
  d.submit(c);
  // Run until the jobs are done or the engine has stopped (a persistent fault ends it).
  for (int round = 0; round < 2000 && d.n().engine_alive(); ++round) {
    d.n().run(200);
    if (d.unanswered_.empty() && d.all_final()) break;
    if (round % 50 == 49) d.resend_one();
  }
  // Whatever happened, the log is intact: every stored job's log folds to its stored state.
  respawn::store::job_filter all;
  auto page = d.n().store().list(all);
  EXPECT_TRUE(page.ok());
  if (page.ok()) {
    for (auto& state : page.value().jobs) {
      auto log = d.n().store().events(state.id, 0, 1000);
      EXPECT_TRUE(log.ok());
      if (log.ok()) {
        EXPECT_EQ(respawn::jobs::fold(log.value()), state) << "job " << state.id;
      }
    }
  }
  // Repair (a persistent fault ends) and restart: every accepted job finishes exactly once.
  countdown_run out{w.faults_hit > 0};
  w.faults = {};
  d.restart();
  EXPECT_TRUE(d.drain());
  check_log(d);
  return out;
}

TEST(simulation, countdown_faults_at_the_store_seam_once_and_from_then_on) {
  for (bool persistent : {false, true}) {
    std::uint64_t n = 1;
    for (; n < 500; ++n) {
      SCOPED_TRACE(std::string{persistent ? "persistent" : "once"} + " fault at write " + std::to_string(n));
      auto r = countdown(n, persistent);
      if (::testing::Test::HasFailure()) return;
      if (!r.hit) break;  // the run finished before its Nth write: every write was tried
    }
    ::testing::Test::RecordProperty(persistent ? "countdown_runs_persistent" : "countdown_runs_once", static_cast<int>(n));
    std::fprintf(stderr, "countdown (%s): faults at writes 1..%llu, then a run without one\n",
                 persistent ? "from then on" : "once", static_cast<unsigned long long>(n - 1));
    EXPECT_GT(n, 10u) << "the workload made too few writes to be a test";
    EXPECT_LT(n, 500u) << "the countdown never reached a run without a fault";
  }
}

}  // namespace
