// respawn-store-bench: durable writes per second through the store seam's SQLite backend, with
// 1 or more concurrent submitters, each waiting for its write to be durable before the next (as
// an HTTP handler acknowledging a submission would). With group commit the writes of concurrent
// submitters share fsyncs, so throughput should grow with submitters while one alone is bound by
// the disk's fsync latency. Prints one JSON line per run.
//
//   respawn-store-bench [--scenario submit|append|engine] [--submitters N] [--batch B]
//                       [--seconds S] [--jobs N] [--inflight K] [--drivers D] [--gather-us U]
//                       [--checkpoint-pages P] [--pipeline 0|1] [--synchronous full|normal|off]
//                       [--dir DIR]
//
// --gather-us sets the store's gather_wait (how long the writer may wait for more writes after a
// transaction that had several) and --checkpoint-pages its checkpoint_pages (0: SQLite's own
// checkpoints, in the writer); the defaults are the store's.
//
// submit / append: a write is one submit (of B jobs) or one append (of B progress events);
// records_per_s counts jobs or events.
//
// engine: what the job engine does to the store (src/engine): N jobs, each written three times as
// separate writes — submitted (submit_async), claimed, succeeded (append_async of one event each)
// — each write issued only once the previous one of its job is durable, K jobs in flight. As in
// the engine, the store's callbacks only post a message (here: to a queue) and D driver threads
// (the engine's schedulers) issue the next write. Reports jobs/s, writes per transaction and the
// writer thread's CPU per write (the store's single writer is the engine's bottleneck). With
// --pipeline 1 the `claimed` append is issued right after the submission instead of after its
// acknowledgement (an engine-side change this measures: two commit waits per job instead of three).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <set>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "store/sqlite_job_store.hpp"

namespace {
using namespace respawn;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string scenario = "submit";
  int submitters = 1;
  int batch = 1;
  double seconds = 3.0;
  std::string synchronous = "full";
  std::string dir;
  int jobs = 20'000;    // engine: jobs to run
  int inflight = 64;    // engine: jobs in flight at once
  int drivers = 2;      // engine: threads that issue the next write when one is acknowledged
  int gather_us = -1;   // the store's gather_wait in microseconds; -1: its default
  int checkpoint_pages = -1;  // the store's checkpoint_pages; -1: its default
  bool pipeline = false;  // engine: issue `claimed` right after the submission, without waiting
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "respawn-store-bench: %s\nusage: respawn-store-bench [--scenario submit|append|engine] "
               "[--submitters N] [--batch B] [--seconds S] [--jobs N] [--inflight K] [--drivers D] "
               "[--gather-us U] [--checkpoint-pages P] [--pipeline 0|1] [--synchronous full|normal|off] "
               "[--dir DIR]\n",
               problem.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage("missing value after " + flag);
    const std::string value = argv[++i];
    if (flag == "--scenario") o.scenario = value;
    else if (flag == "--submitters") o.submitters = std::stoi(value);
    else if (flag == "--batch") o.batch = std::stoi(value);
    else if (flag == "--seconds") o.seconds = std::stod(value);
    else if (flag == "--synchronous") o.synchronous = value;
    else if (flag == "--dir") o.dir = value;
    else if (flag == "--jobs") o.jobs = std::stoi(value);
    else if (flag == "--inflight") o.inflight = std::stoi(value);
    else if (flag == "--drivers") o.drivers = std::stoi(value);
    else if (flag == "--gather-us") o.gather_us = std::stoi(value);
    else if (flag == "--checkpoint-pages") o.checkpoint_pages = std::stoi(value);
    else if (flag == "--pipeline") o.pipeline = value == "1" || value == "true";
    else usage("unknown option " + flag);
  }
  if (o.scenario != "submit" && o.scenario != "append" && o.scenario != "engine") {
    usage("--scenario must be submit, append or engine");
  }
  if (o.jobs < 1 || o.inflight < 1 || o.inflight > 100'000 || o.drivers < 1 || o.drivers > 64) {
    usage("--jobs, --inflight (1..100000) and --drivers (1..64) must be positive");
  }
  if (o.submitters < 1 || o.submitters > 1024) usage("--submitters must be 1..1024");
  if (o.batch < 1 || o.batch > 10'000) usage("--batch must be 1..10000");
  return o;
}

store::sqlite_options::synchronous_mode sync_mode(const std::string& s) {
  using m = store::sqlite_options::synchronous_mode;
  if (s == "full") return m::full;
  if (s == "normal") return m::normal;
  if (s == "off") return m::off;
  usage("--synchronous must be full, normal or off");
}

jobs::job_time now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// The threads of this process, by id (Linux: /proc/self/task).
std::set<long> thread_ids() {
  std::set<long> ids;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ignored)) {
    ids.insert(std::stol(entry.path().filename().string()));
  }
  return ids;
}

// CPU time of one thread of this process, in microseconds (Linux's per-thread CPU clock id, made
// from the thread id the way glibc's pthread_getcpuclockid does), or -1. Measured from outside
// the store, so the same bench measures any version of it.
double thread_cpu_us(long tid) {
  if (tid <= 0) return -1;
  const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned long>(tid) << 3) | 6u);
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double process_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// The engine scenario (see the top of the file). Returns the number of failed writes.
struct engine_run {
  double seconds = 0;
  std::uint64_t jobs_done = 0;
  int failures = 0;
  std::vector<double> job_latency_us;  // submit issued -> succeeded durable
};

engine_run run_engine(store::job_store& s, const options& o) {
  struct slot {
    jobs::job_id id = 0;
    int step = 0;  // the write to issue next: 0 submit, 1 claimed, 2 succeeded, 3 done
    clock_type::time_point started{};
  };
  std::vector<slot> slots(static_cast<std::size_t>(o.inflight));
  std::mutex m;
  std::condition_variable ready_cv;
  std::deque<std::size_t> ready;  // slots whose last write is durable: the drivers' mailbox
  std::atomic<int> started{0};
  std::atomic<int> failures{0};
  std::atomic<int> finished_slots{0};
  engine_run run;
  std::mutex latency_mutex;

  // What the store's callback does: post a message, return. It notifies under the lock so that
  // it touches nothing of this function's once a driver can see the slot (the last one may end
  // the run).
  auto post = [&](std::size_t i) {
    std::lock_guard lock(m);
    ready.push_back(i);
    ready_cv.notify_one();
  };
  for (std::size_t i = 0; i < slots.size(); ++i) ready.push_back(i);

  const auto start = clock_type::now();
  std::vector<std::thread> drivers;
  for (int d = 0; d < o.drivers; ++d) {
    drivers.emplace_back([&] {
      for (;;) {
        std::size_t i = 0;
        {
          std::unique_lock lock(m);
          ready_cv.wait(lock, [&] { return !ready.empty() || finished_slots.load() == o.inflight; });
          if (ready.empty()) return;
          i = ready.front();
          ready.pop_front();
        }
        slot& sl = slots[i];
        auto next = [&, i](bool ok) {
          if (!ok) ++failures;
          ++slots[i].step;
          post(i);
        };
        if (sl.step == 3) {  // the job is done: record it, start another or retire the slot
          {
            std::lock_guard lock(latency_mutex);
            run.job_latency_us.push_back(
                std::chrono::duration<double, std::micro>(clock_type::now() - sl.started).count());
          }
          sl.step = 0;
        }
        if (sl.step == 0) {
          if (started.fetch_add(1) >= o.jobs) {
            if (finished_slots.fetch_add(1) + 1 == o.inflight) {
              std::lock_guard lock(m);  // wake the other drivers to see that all is done
              ready_cv.notify_all();
            }
            continue;
          }
          sl.started = clock_type::now();
          auto id = s.allocate_id();
          if (!id.ok()) {
            ++failures;
            sl.step = 2;  // give up on this job
            post(i);
            continue;
          }
          sl.id = id.value();
          if (o.pipeline) {
            // Submit and claim back to back: the store runs writes in the order they are queued,
            // so the claim's acknowledgement comes after the submission's (and a claim of a job
            // whose submission failed fails with it, not_found).
            s.submit_async({{.id = sl.id, .request = {.user = "user" + std::to_string(i % 8), .kind = "noop"},
                             .time = now()}},
                           [&failures](store::store_result<std::vector<store::submit_outcome>> r) {
                             if (!r.ok()) ++failures;
                           });
            sl.step = 1;
            s.append_async({jobs::make_claimed(sl.id, 2, now(), 1)},
                           [next](store::store_result<store::committed> r) { next(r.ok()); });
            continue;
          }
          s.submit_async({{.id = sl.id, .request = {.user = "user" + std::to_string(i % 8), .kind = "noop"},
                           .time = now()}},
                         [next](store::store_result<std::vector<store::submit_outcome>> r) { next(r.ok()); });
        } else if (sl.step == 1) {
          s.append_async({jobs::make_claimed(sl.id, 2, now(), 1)},
                         [next](store::store_result<store::committed> r) { next(r.ok()); });
        } else {
          s.append_async({jobs::make_succeeded(sl.id, 3, now(), nullptr)},
                         [next](store::store_result<store::committed> r) { next(r.ok()); });
        }
      }
    });
  }
  for (auto& d : drivers) d.join();
  run.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  run.jobs_done = run.job_latency_us.size();
  run.failures = failures.load();
  return run;
}
}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const std::filesystem::path dir =
      o.dir.empty() ? std::filesystem::temp_directory_path() /
                          ("respawn-store-bench-" + std::to_string(::getpid()))
                    : std::filesystem::path(o.dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bench.db").string();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");

  // The store's own threads are those that appear while it opens (its writer, and a background
  // checkpointer in later versions); the writer is the busiest of them.
  const std::set<long> threads_before = thread_ids();
  store::sqlite_options store_options{.path = path, .synchronous = sync_mode(o.synchronous)};
  if (o.gather_us >= 0) store_options.gather_wait = std::chrono::microseconds(o.gather_us);
  if (o.checkpoint_pages >= 0) store_options.checkpoint_pages = static_cast<std::uint32_t>(o.checkpoint_pages);
  auto opened = store::sqlite_job_store::open(std::move(store_options));
  if (!opened.ok()) {
    std::fprintf(stderr, "respawn-store-bench: %s\n", opened.error().message.c_str());
    return 1;
  }
  store::sqlite_job_store& s = *opened.value();
  std::vector<long> store_threads;
  for (long tid : thread_ids()) {
    if (!threads_before.contains(tid)) store_threads.push_back(tid);
  }
  auto store_cpu = [&] {
    std::vector<double> cpu;
    for (long tid : store_threads) cpu.push_back(thread_cpu_us(tid));
    return cpu;
  };

  if (o.scenario == "engine") {
    const auto before = s.stats();
    const std::vector<double> store_cpu_before = store_cpu();
    const double cpu_before = process_cpu_us();
    engine_run run = run_engine(s, o);
    const std::vector<double> store_cpu_after = store_cpu();
    const double cpu = process_cpu_us() - cpu_before;
    double writer_cpu = -1;
    double store_threads_cpu = 0;
    for (std::size_t i = 0; i < store_threads.size(); ++i) {
      const double used = store_cpu_after[i] - store_cpu_before[i];
      writer_cpu = std::max(writer_cpu, used);
      store_threads_cpu += used;
    }
    const auto after = s.stats();
    const auto writes = after.writes - before.writes;
    const auto transactions = after.transactions - before.transactions;
    auto& lat = run.job_latency_us;
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
      return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
    };
    const double w = static_cast<double>(std::max<std::uint64_t>(writes, 1));
    nlohmann::json line{
        {"bench", "store"},
        {"scenario", "engine"},
        {"backend", "sqlite"},
        {"synchronous", o.synchronous},
        {"jobs", run.jobs_done},
        {"inflight", o.inflight},
        {"drivers", o.drivers},
        {"pipeline", o.pipeline},
        {"failures", run.failures},
        {"seconds", run.seconds},
        {"jobs_per_s", static_cast<double>(run.jobs_done) / run.seconds},
        {"writes", writes},
        {"writes_per_s", static_cast<double>(writes) / run.seconds},
        {"transactions", transactions},
        {"writes_per_transaction",
         transactions == 0 ? 0.0 : static_cast<double>(writes) / static_cast<double>(transactions)},
        {"writer_cpu_us_per_write", writer_cpu / w},
        {"writer_busy", writer_cpu / (run.seconds * 1e6)},
        {"store_threads_cpu_us_per_write", store_threads_cpu / w},
        {"process_cpu_us_per_write", cpu / w},
        {"wal_pages_per_transaction",
         transactions == 0 ? 0.0
                           : static_cast<double>(after.wal_pages - before.wal_pages) /
                                 static_cast<double>(transactions)},
        {"job_latency_p50_us", pct(0.50)},
        {"job_latency_p99_us", pct(0.99)},
    };
    std::printf("%s\n", line.dump().c_str());
    opened.value().reset();
    std::filesystem::remove_all(dir);
    return run.failures == 0 ? 0 : 1;
  }

  // append: each submitter owns one running job and appends progress events to it.
  std::vector<jobs::job_id> own(static_cast<std::size_t>(o.submitters));
  if (o.scenario == "append") {
    for (auto& id : own) {
      id = s.allocate_id().value();
      if (!s.submit({{.id = id, .request = {.user = "bench", .kind = "noop"}, .time = now()}}).ok() ||
          !s.append({jobs::make_claimed(id, 2, now(), 1)}).ok()) {
        std::fprintf(stderr, "respawn-store-bench: setup failed\n");
        return 1;
      }
    }
  }
  const auto before = s.stats();

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::vector<double>> latencies_us(static_cast<std::size_t>(o.submitters));
  std::vector<std::thread> threads;
  const auto start = clock_type::now();
  for (int t = 0; t < o.submitters; ++t) {
    threads.emplace_back([&, t] {
      auto& lat = latencies_us[static_cast<std::size_t>(t)];
      std::uint64_t sequence = 3;
      const std::string user = "user" + std::to_string(t % 8);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t1 = clock_type::now();
        bool ok = false;
        if (o.scenario == "submit") {
          std::vector<store::submission> jobs_batch;
          for (int b = 0; b < o.batch; ++b) {
            auto id = s.allocate_id();
            if (!id.ok()) break;
            jobs_batch.push_back({.id = id.value(), .request = {.user = user, .kind = "noop"},
                                  .time = now()});
          }
          ok = jobs_batch.size() == static_cast<std::size_t>(o.batch) &&
               s.submit(std::move(jobs_batch)).ok();
        } else {
          const jobs::job_id id = own[static_cast<std::size_t>(t)];
          std::vector<jobs::event> events;
          for (int b = 0; b < o.batch; ++b) {
            const std::uint64_t next = sequence++;
            events.push_back(jobs::make_progress(id, next, now(), next));
          }
          ok = s.append(std::move(events)).ok();
        }
        if (!ok) ++failures;
        lat.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t1).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));  // the run's length
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  const auto after = s.stats();

  std::vector<double> all;
  for (auto& l : latencies_us) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  const auto writes = after.writes - before.writes;
  const auto transactions = after.transactions - before.transactions;
  nlohmann::json line{
      {"bench", "store"},
      {"scenario", o.scenario},
      {"backend", "sqlite"},
      {"synchronous", o.synchronous},
      {"submitters", o.submitters},
      {"batch", o.batch},
      {"writes", all.size()},
      {"failures", failures.load()},
      {"seconds", elapsed},
      {"writes_per_s", static_cast<double>(all.size()) / elapsed},
      {"records_per_s", static_cast<double>(all.size()) * o.batch / elapsed},
      {"transactions", transactions},
      {"writes_per_transaction",
       transactions == 0 ? 0.0 : static_cast<double>(writes) / static_cast<double>(transactions)},
      {"latency_p50_us", pct(0.50)},
      {"latency_p99_us", pct(0.99)},
  };
  std::printf("%s\n", line.dump().c_str());
  opened.value().reset();
  std::filesystem::remove_all(dir);
  return failures.load() == 0 ? 0 : 1;
}
