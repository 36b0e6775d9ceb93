// engine_node: a whole engine node in one OS process, for the real-process kill test
// (node_kill.test.cpp). It is its own worker binary too (`engine_node worker ...`).
//
//   engine_node DB submit N   opens the store at DB, starts the engine, submits N `sleep` jobs
//                             (20 ms each) in one durable batch, prints "submitted", then
//                             "finished ID" for every job that ends, until it is killed
//   engine_node DB hold N     submits N `sleep` jobs of 1500 ms with max_attempts 1, all at once
//                             (running_max N, 2 workers: most of them wait in the pool, their
//                             tasks unstarted), prints "submitted", then "started K" once the log
//                             shows K = 2 jobs running (claimed), then waits to be killed
//   engine_node DB check N    opens the store, starts the engine (which recovers every
//                             unfinished job), waits until all N jobs are final, then prints one
//                             JSON line counting them from the log: how many succeeded, how many
//                             `succeeded` events each has (never more than one), attempts, how
//                             many died of an interrupted attempt
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "respawn/engine.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/kinds.hpp"
#include "respawn/runtime.hpp"
#include "store/sqlite_job_store.hpp"

namespace {

using namespace std::chrono_literals;

int fail(const std::string& why) {
  std::fprintf(stderr, "engine_node: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) return respawn::main(argc, argv, respawn::builtin_kinds());
  if (argc != 4) return fail("usage: engine_node DB submit|hold|check N");
  std::string db = argv[1];
  std::string mode = argv[2];
  long n = std::stol(argv[3]);

  respawn::store::sqlite_options so;
  so.path = db;
  auto opened = respawn::store::sqlite_job_store::open(so);
  if (!opened.ok()) return fail(opened.error().message);
  std::shared_ptr<respawn::store::job_store> store{std::move(opened).value()};

  respawn::runtime_config rc;
  rc.crash_reports = false;
  respawn::runtime rt{rc};
  respawn::engine::engine_config c;
  c.pool.min_workers = 2;
  c.pool.max_workers = 2;
  c.running_max = mode == "hold" ? static_cast<std::size_t>(n) : 4;
  c.retry.attempts_max = 5;
  c.retry.backoff_initial = 10ms;
  c.retry.backoff_max = 50ms;
  auto engine = respawn::engine::start_engine(rt, c, store);
  respawn::scoped_process me{rt};
  me.send(engine.dispatcher, respawn::engine::watch_finals{me.self()});

  if (mode == "submit") {
    respawn::engine::submit_jobs batch;
    for (long i = 0; i < n; ++i) {
      respawn::jobs::job_request r;
      r.user = i % 2 == 0 ? "ann" : "bob";
      r.kind = "sleep";
      r.args = {{"ms", 20}};
      batch.requests.push_back(r);
    }
    auto reply = rt.call<respawn::engine::submit_reply>(engine.dispatcher, std::move(batch), 60s);
    if (!reply.ok() || !reply.value().ok) return fail("the submission failed");
    std::printf("submitted\n");
    std::fflush(stdout);
    for (;;) {
      if (auto f = me.receive<respawn::engine::job_finished>(3600s)) {
        std::printf("finished %llu\n", static_cast<unsigned long long>(f->id));
        std::fflush(stdout);
      }
    }
  }
  if (mode == "hold") {
    respawn::engine::submit_jobs batch;
    for (long i = 0; i < n; ++i) {
      respawn::jobs::job_request r;
      r.user = "ann";
      r.kind = "sleep";
      r.args = {{"ms", 1500}};
      r.attempts_max = 1;  // an attempt burnt by the kill would make the job dead
      batch.requests.push_back(r);
    }
    auto reply = rt.call<respawn::engine::submit_reply>(engine.dispatcher, std::move(batch), 60s);
    if (!reply.ok() || !reply.value().ok) return fail("the submission failed");
    std::printf("submitted\n");
    std::fflush(stdout);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      respawn::store::job_filter running;
      running.status = respawn::jobs::job_status::running;
      running.limit = 1000;
      auto page = store->list(running);
      if (page.ok() && page.value().jobs.size() >= 2) {
        std::printf("started %zu\n", page.value().jobs.size());
        std::fflush(stdout);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return fail("no two jobs started within 60 s");
      std::this_thread::sleep_for(1ms);
    }
    for (;;) std::this_thread::sleep_for(3600s);
  }
  if (mode != "check") return fail("mode must be submit, hold or check");

  auto deadline = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    auto left = store->list_unfinished(0, 1);
    if (left.ok() && left.value().jobs.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) return fail("jobs still unfinished after 120 s");
    std::this_thread::sleep_for(10ms);
  }
  long jobs = 0, succeeded = 0, doubled = 0, retried = 0, interrupted = 0;
  respawn::store::job_filter filter;
  filter.limit = 1000;
  for (;;) {
    auto page = store->list(filter);
    if (!page.ok()) return fail(page.error().message);
    for (auto& j : page.value().jobs) {
      ++jobs;
      if (j.status == respawn::jobs::job_status::succeeded) ++succeeded;
      if (j.attempts > 1) ++retried;
      if (j.status == respawn::jobs::job_status::dead &&
          j.last_error.find("interrupted") != std::string::npos) {
        ++interrupted;
      }
      auto events = store->events(j.id, 0, 10000);
      if (!events.ok()) return fail(events.error().message);
      long wins = 0;
      for (auto& e : events.value()) wins += e.type == respawn::jobs::event_type::succeeded ? 1 : 0;
      if (wins > 1) ++doubled;
    }
    if (!page.value().next_after_id) break;
    filter.after_id = *page.value().next_after_id;
  }
  auto stats = rt.call<respawn::engine::engine_stats>(engine.dispatcher, respawn::engine::engine_stats_request{}, 10s);
  nlohmann::json out{{"expected", n},         {"jobs", jobs},       {"succeeded", succeeded},
                     {"succeeded_twice", doubled}, {"retried", retried}, {"dead_interrupted", interrupted},
                     {"recovered", stats.ok() ? stats.value().recovered : 0}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
