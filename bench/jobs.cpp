// jobs: the job service scenarios of ../shared/bench/JOBS.md against the engine, in process: real
// SQLite with synchronous=FULL (a submission is acknowledged only once its `submitted` event is
// on disk; every `claimed` and every outcome is on disk before it is acted on), real worker
// processes (this binary as `respawn-bench worker`), in-process submitters.
//
//   respawn-bench jobs --scenario noop [--n 20000] [--mode bulk|single]
//       N no-op jobs; bulk: submitted in batches of 1,000 (one transaction each); single: one
//       job per call from C = 16 concurrent submitter threads. Processing runs with concurrency
//       16 (running_max) while submission goes on (the engine has no paused mode), so insert_per_s
//       is the submission rate, process_per_s is N over the time from the first submission to
//       the last job final, and e2e_s is that time.
//   respawn-bench jobs --scenario latency [--n 1000]
//       an idle engine; one job at a time, 5 ms apart; submit_ack = the submit call's duration
//       (durable), lat (submit to start) = the job's `claimed` event time minus its `submitted`
//       event time, both stamped by the engine (the handler starts a worker round trip later).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "respawn/engine.hpp"
#include "respawn/jobs/event.hpp"
#include "store/sqlite_job_store.hpp"

namespace rb {

namespace {

namespace fs = std::filesystem;

struct jobs_options {
  std::string scenario;
  std::string mode = "bulk";
  std::int64_t n = 0;
  std::size_t running = 16;  // jobs claimed and in workers at once (the engine's running_max)
  // "file": the durable figure. "memory": SQLite in memory, nothing on disk -- not a result to
  // compare with anyone, only the engine's own ceiling (where the time goes without the disk).
  std::string store = "file";
};

[[noreturn]] void jobs_usage(const std::string& why) {
  std::fprintf(stderr, "respawn-bench jobs: %s\nusage: respawn-bench jobs --scenario noop|latency|recovery [--n N] [--mode bulk|single] [--running R] [--store file|memory]\n",
               why.c_str());
  std::exit(2);
}

jobs_options parse(int argc, char** argv) {
  jobs_options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) jobs_usage(a + " needs a value");
    std::string v = argv[++i];
    if (a == "--scenario") {
      o.scenario = v;
    } else if (a == "--mode") {
      o.mode = v;
    } else if (a == "--store") {
      if (v != "file" && v != "memory") jobs_usage("--store file|memory");
      o.store = v;
    } else if (a == "--running") {
      try {
        o.running = static_cast<std::size_t>(std::stoull(v));
      } catch (...) {
        jobs_usage("--running: not a number");
      }
      if (o.running == 0 || o.running > 100000) jobs_usage("--running: 1 .. 100,000");
    } else if (a == "--n") {
      try {
        o.n = std::stoll(v);
      } catch (...) {
        jobs_usage("--n: not a number");
      }
      if (o.n <= 0 || o.n > 10'000'000) jobs_usage("--n: 1 .. 10,000,000");
    } else {
      jobs_usage("unknown option " + a);
    }
  }
  if (o.scenario != "noop" && o.scenario != "latency" && o.scenario != "recovery") {
    jobs_usage("--scenario noop|latency|recovery");
  }
  if (o.mode != "bulk" && o.mode != "single") jobs_usage("--mode bulk|single");
  if (o.n == 0) o.n = o.scenario == "noop" ? 20000 : 1000;  // recovery: 1,000 too
  return o;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct node {
  fs::path dir;
  std::shared_ptr<respawn::store::job_store> store;
  std::unique_ptr<respawn::runtime> rt;
  respawn::engine::engine_handle engine{};

  node(std::int64_t n, std::size_t running_max, bool in_memory = false) {
    dir = fs::temp_directory_path() / ("respawn-bench-jobs-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    respawn::store::sqlite_options so;
    so.path = in_memory ? std::string{":memory:"} : (dir / "jobs.db").string();
    so.synchronous = respawn::store::sqlite_options::synchronous_mode::full;
    auto s = respawn::store::sqlite_job_store::open(so);
    if (!s.ok()) {
      std::fprintf(stderr, "jobs: cannot open the store: %s\n", s.error().message.c_str());
      std::exit(1);
    }
    store = std::shared_ptr<respawn::store::job_store>{std::move(s).value()};
    respawn::runtime_config rc;
    rc.crash_reports = false;
    rt = std::make_unique<respawn::runtime>(rc);
    respawn::engine::engine_config c;
    c.pool.min_workers = 2;
    c.pool.max_workers = 2;
    c.running_max = running_max;
    c.queue.running_per_user_max = static_cast<std::uint32_t>(running_max);
    c.queue.held_max = static_cast<std::size_t>(n) + 1000;
    c.queue.held_per_user_max = static_cast<std::size_t>(n) + 1000;
    engine = respawn::engine::start_engine(*rt, c, store);
  }
  ~node() {
    rt.reset();
    store.reset();
    fs::remove_all(dir);
  }
};

respawn::jobs::job_request noop_request() {
  respawn::jobs::job_request r;
  r.user = "bench";
  r.kind = "noop";
  return r;
}

int run_noop(const jobs_options& o) {
  node nd{o.n, o.running, o.store == "memory"};
  respawn::scoped_process me{*nd.rt};
  me.send(nd.engine.dispatcher, respawn::engine::watch_finals{me.self()});
  // The watch is in the dispatcher's mailbox before any submission (same sender order).
  auto t0 = clk::now();
  std::atomic<bool> failed{false};
  if (o.mode == "bulk") {
    for (std::int64_t done = 0; done < o.n;) {
      std::int64_t k = std::min<std::int64_t>(1000, o.n - done);
      respawn::engine::submit_jobs batch;
      for (std::int64_t i = 0; i < k; ++i) batch.requests.push_back(noop_request());
      auto r = nd.rt->call<respawn::engine::submit_reply>(nd.engine.dispatcher, std::move(batch), driver_timeout);
      if (!r.ok() || !r.value().ok) {
        std::fprintf(stderr, "jobs: a submission failed: %s\n", r.ok() ? r.value().error.c_str() : "call failed");
        return 1;
      }
      done += k;
    }
  } else {
    constexpr int producers = 16;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (std::int64_t i = p; i < o.n; i += producers) {
          auto r = nd.rt->call<respawn::engine::submit_reply>(
              nd.engine.dispatcher, respawn::engine::submit_jobs{{noop_request()}}, driver_timeout);
          if (!r.ok() || !r.value().ok) failed = true;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) {
      std::fprintf(stderr, "jobs: a submission failed\n");
      return 1;
    }
  }
  auto t_inserted = clk::now();
  std::int64_t finished = 0;
  while (finished < o.n) {
    auto f = me.receive<respawn::engine::job_finished>(driver_timeout);
    if (!f) {
      std::fprintf(stderr, "jobs: only %lld of %lld jobs finished\n", static_cast<long long>(finished),
                   static_cast<long long>(o.n));
      return 1;
    }
    if (f->status != respawn::jobs::job_status::succeeded) {
      std::fprintf(stderr, "jobs: job %llu ended %s\n", static_cast<unsigned long long>(f->id),
                   std::string{respawn::jobs::to_string(f->status)}.c_str());
      return 1;
    }
    ++finished;
  }
  auto t1 = clk::now();
  double insert_s = seconds_between(t0, t_inserted);
  double e2e = seconds_between(t0, t1);
  nlohmann::json line{{"system", "respawn"},
                      {"scenario", "noop"},
                      {"n", o.n},
                      {"conc", o.running},
                      {"mode", o.mode},
                      {"durability", o.store == "memory" ? "NONE: SQLite in memory (the engine's ceiling)"
                                                         : "sqlite synchronous=FULL, WAL, group commit"},
                      {"insert_per_s", static_cast<double>(o.n) / insert_s},
                      {"process_per_s", static_cast<double>(o.n) / e2e},
                      {"e2e_s", e2e}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return 0;
}

int run_latency(const jobs_options& o) {
  node nd{o.n, o.running};
  respawn::scoped_process me{*nd.rt};
  me.send(nd.engine.dispatcher, respawn::engine::watch_finals{me.self()});
  std::vector<double> ack_ms;
  std::vector<respawn::jobs::job_id> ids;
  for (std::int64_t i = 0; i < o.n; ++i) {
    auto t0 = clk::now();
    auto r = nd.rt->call<respawn::engine::submit_reply>(nd.engine.dispatcher,
                                                        respawn::engine::submit_jobs{{noop_request()}}, driver_timeout);
    if (!r.ok() || !r.value().ok || r.value().jobs.empty()) {
      std::fprintf(stderr, "jobs: a submission failed\n");
      return 1;
    }
    ack_ms.push_back(seconds_between(t0, clk::now()) * 1e3);
    ids.push_back(r.value().jobs[0].id);
    if (!me.receive<respawn::engine::job_finished>(driver_timeout)) {
      std::fprintf(stderr, "jobs: a job did not finish\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});  // the scenario's spacing
  }
  std::vector<double> start_ms;
  for (auto id : ids) {
    auto events = nd.store->events(id, 0, 10);
    if (!events.ok()) continue;
    std::optional<respawn::jobs::job_time> submitted, claimed;
    for (auto& e : events.value()) {
      if (e.type == respawn::jobs::event_type::submitted) submitted = e.time;
      if (e.type == respawn::jobs::event_type::claimed && !claimed) claimed = e.time;
    }
    if (submitted && claimed) start_ms.push_back(std::chrono::duration<double, std::milli>(*claimed - *submitted).count());
  }
  nlohmann::json line{{"system", "respawn"},
                      {"scenario", "latency"},
                      {"n", o.n},
                      {"durability", o.store == "memory" ? "NONE: SQLite in memory (the engine's ceiling)"
                                                         : "sqlite synchronous=FULL, WAL, group commit"},
                      {"lat_p50_ms", percentile(start_ms, 0.50)},
                      {"lat_p90_ms", percentile(start_ms, 0.90)},
                      {"lat_p99_ms", percentile(start_ms, 0.99)},
                      {"lat_max_ms", percentile(start_ms, 1.0)},
                      {"submit_ack_p50_ms", percentile(ack_ms, 0.50)},
                      {"submit_ack_p90_ms", percentile(ack_ms, 0.90)},
                      {"submit_ack_p99_ms", percentile(ack_ms, 0.99)},
                      {"submit_ack_max_ms", percentile(ack_ms, 1.0)}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int run_jobs(int argc, char** argv) {
  jobs_options o = parse(argc, argv);
  if (o.scenario == "recovery") return run_recovery(static_cast<std::size_t>(o.n), o.running);
  return o.scenario == "noop" ? run_noop(o) : run_latency(o);
}

}  // namespace rb
