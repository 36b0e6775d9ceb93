// worker_roundtrip: no-op tasks through the worker pool, end to end: a driver process submits N
// `noop` tasks (in batches of up to 256, keeping at most `window` unanswered) to a pool of P real
// worker processes (this very binary, run as `respawn-bench worker`), each allowed K tasks in
// flight, and counts the N task_outcome messages. ops = N: ops_per_s and per_op_ns are the
// throughput; per_op_ns is also the amortized per-task overhead of the isolation layer (frames,
// socket writes and reads, the poller, the owner, the pool). Then, with one task in flight at a
// time, 2,000 sequential round trips give the latency of a lone task (p50/p99, microseconds).
//
//   respawn-bench worker_roundtrip [--n 200000] [--p 2 workers] [--k 64 in flight per worker]
//
// RESPAWN_BENCH_PIPELINE_STALL_US=N sets worker_pool_config::pipeline_stall (microseconds; the
// pool's default otherwise): how long a running task may have run and still get tasks sent
// behind it. 0 sends a task only to an idle worker (no pipelining at all).
#include <algorithm>
#include <cstdlib>
#include <thread>
#include <cstdio>
#include <vector>

#include "common.hpp"
#include "respawn/worker_pool.hpp"

namespace rb {

namespace {

class submitter final : public respawn::process {
 public:
  submitter(respawn::pid reporter, respawn::pid pool, std::int64_t n, std::int64_t window)
      : reporter_{reporter}, pool_{pool}, n_{n}, window_{window} {}

  void handle(respawn::message& m) override {
    if (m.is<start>()) {
      t0_ = clk::now();
      refill();
    } else if (m.is<respawn::task_outcome>()) {
      ++answered_;
      if (answered_ == n_) {
        send(reporter_, result{seconds_between(t0_, clk::now())});
        return;
      }
      refill();
    }
  }

 private:
  void refill() {
    const std::int64_t batch = std::min<std::int64_t>(256, window_);
    while (submitted_ < n_ && submitted_ - answered_ + batch <= window_) {
      std::int64_t count = std::min(batch, n_ - submitted_);
      std::vector<respawn::task_request> tasks(static_cast<std::size_t>(count));
      for (auto& t : tasks) {
        t.id = static_cast<std::uint64_t>(++submitted_);
        t.kind = "noop";
        t.reply_to = self();
      }
      send(pool_, respawn::submit_tasks{std::move(tasks)});
    }
  }

  respawn::pid reporter_;
  respawn::pid pool_;
  std::int64_t n_;
  std::int64_t window_;
  std::int64_t submitted_ = 0;
  std::int64_t answered_ = 0;
  clk::time_point t0_{};
};

}  // namespace

int run_worker_roundtrip(const options& o) {
  std::int64_t n = o.n_given ? o.n : 200000;
  std::int64_t workers = o.p_given ? o.p : 2;
  std::int64_t in_flight = o.k_given ? o.k : 64;
  respawn::runtime rt{config_for(o)};
  respawn::worker_pool_config c;
  c.name = "bench_pool";
  c.min_workers = static_cast<std::size_t>(workers);
  c.max_workers = static_cast<std::size_t>(workers);
  c.max_in_flight = static_cast<std::size_t>(in_flight);
  if (const char* stall = std::getenv("RESPAWN_BENCH_PIPELINE_STALL_US")) {
    c.pipeline_stall = std::chrono::microseconds{std::atoll(stall)};
  }
  auto pool = respawn::start_worker_pool(rt, c);
  respawn::scoped_process me{rt};

  // Wait until every worker said hello, so that start-up is not timed.
  for (;;) {
    auto s = rt.call<respawn::pool_stats>(pool.manager, respawn::pool_stats_request{}, driver_timeout);
    if (!s.ok()) {
      std::fprintf(stderr, "worker_roundtrip: the pool does not answer\n");
      return 1;
    }
    if (s.value().workers == c.min_workers) break;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }

  respawn::pid driver = rt.spawn<submitter>({}, me.self(), pool.manager, n, workers * in_flight * 4);
  double seconds = run_driver(rt, me, driver);
  rt.exit(driver, respawn::exit_reason::shutdown());

  // Latency of a lone task: one in flight at a time.
  constexpr int lone = 2000;
  std::vector<double> us;
  us.reserve(lone);
  for (int i = 0; i < lone; ++i) {
    respawn::task_request t;
    t.id = static_cast<std::uint64_t>(i + 1);
    t.kind = "noop";
    t.reply_to = me.self();
    auto t0 = clk::now();
    me.send(pool.manager, respawn::submit_task{std::move(t)});
    auto outcome = me.receive<respawn::task_outcome>(driver_timeout);
    if (!outcome) {
      std::fprintf(stderr, "worker_roundtrip: no outcome for a lone task\n");
      return 1;
    }
    us.push_back(seconds_between(t0, clk::now()) * 1e6);
  }
  std::sort(us.begin(), us.end());
  rt.exit(pool.supervisor, respawn::exit_reason::shutdown());

  json_line line{"worker_roundtrip", rt.config().scheduler_threads};
  line.num("n", n).num("worker_processes", workers).num("in_flight_per_worker", in_flight);
  line.num("pipeline_stall_us", static_cast<std::int64_t>(c.pipeline_stall.count()));
  line.timing(seconds, n);
  line.real("lone_p50_us", us[us.size() / 2], 1).real("lone_p99_us", us[us.size() * 99 / 100], 1);
  line.print();
  return 0;
}

}  // namespace rb
