// respawn-store-bench: durable writes per second through the store seam's SQLite backend, with
// 1 or more concurrent submitters, each waiting for its write to be durable before the next (as
// an HTTP handler acknowledging a submission would). With group commit the writes of concurrent
// submitters share fsyncs, so throughput should grow with submitters while one alone is bound by
// the disk's fsync latency. Prints one JSON line per run.
//
//   respawn-store-bench [--scenario submit|append] [--submitters N] [--batch B] [--seconds S]
//                       [--synchronous full|normal|off] [--dir DIR]
//
// A write is one submit (of B jobs) or one append (of B progress events); records_per_s counts
// jobs or events.
#include <algorithm>
#include <atomic>
#include <chrono>
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
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "respawn-store-bench: %s\nusage: respawn-store-bench [--scenario submit|append] "
               "[--submitters N] [--batch B] [--seconds S] [--synchronous full|normal|off] [--dir DIR]\n",
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
    else usage("unknown option " + flag);
  }
  if (o.scenario != "submit" && o.scenario != "append") usage("--scenario must be submit or append");
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

  auto opened = store::sqlite_job_store::open({.path = path, .synchronous = sync_mode(o.synchronous)});
  if (!opened.ok()) {
    std::fprintf(stderr, "respawn-store-bench: %s\n", opened.error().message.c_str());
    return 1;
  }
  store::sqlite_job_store& s = *opened.value();

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
