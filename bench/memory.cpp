// memory: N idle processes, each waiting for a message. As in the CAF peer, the spawner is the
// main thread (rt.spawn), so no per-process "ready" messages are buffered; it keeps every pid in
// a reserved std::vector (8 bytes per process, included in the delta, like CAF's handles).
// rss_before is read 100 ms after the runtime is up; each process increments a shared atomic
// counter when it first runs (init); when the counter reaches N (checked every 1 ms) VmRSS is
// read again: bytes_per_process = (rss_after - rss_before) / N. Then every process gets `stop`,
// the counter returns to 0, the pids are dropped and rss_after_stop is read (informational: the
// allocator keeps freed memory). seconds/per_op_ns time the spawn phase (informational).
#include <atomic>
#include <thread>
#include <vector>

#include "common.hpp"

namespace rb {

namespace {

class idle final : public respawn::process {
 public:
  explicit idle(std::atomic<std::int64_t>* alive) : alive_{alive} {}
  void init() override { alive_->fetch_add(1, std::memory_order_relaxed); }
  void handle(respawn::message& m) override {
    if (m.is<stop_msg>()) {
      alive_->fetch_sub(1, std::memory_order_relaxed);
      stop();
    }
  }

 private:
  std::atomic<std::int64_t>* alive_;
};

void wait_until(const std::atomic<std::int64_t>& x, std::int64_t expected) {
  while (x.load() != expected) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

int run_memory(const options& o) {
  const std::int64_t n = o.n_given ? o.n : 1000000;
  std::int64_t rss0 = 0, rss1 = 0, rss2 = 0;
  double secs = 0;
  {
    respawn::runtime rt{config_for(o)};
    const std::size_t base_count = rt.process_count();
    std::atomic<std::int64_t> alive{0};
    std::vector<respawn::pid> pids;
    pids.reserve(static_cast<std::size_t>(n));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss0 = rss_bytes();
    auto t0 = clk::now();
    for (std::int64_t i = 0; i < n; ++i) pids.push_back(rt.spawn<idle>({}, &alive));
    wait_until(alive, n);
    secs = seconds_between(t0, clk::now());
    rss1 = rss_bytes();
    for (respawn::pid p : pids) rt.send(p, stop_msg{});
    wait_until(alive, 0);
    pids.clear();
    pids.shrink_to_fit();
    while (rt.process_count() > base_count) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rss2 = rss_bytes();
  }
  const double per = static_cast<double>(rss1 - rss0) / static_cast<double>(n);
  json_line("memory", o.threads)
      .num("n", n)
      .timing(secs, n)
      .num("rss_before", rss0)
      .num("rss_after", rss1)
      .num("rss_after_stop", rss2)
      .real("bytes_per_process", per, 1)
      .real("bytes_per_actor", per, 1)
      .print();
  return 0;
}

}  // namespace rb
