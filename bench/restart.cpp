// restart: the cost of one crash-restart-answer cycle under a real supervisor. A one_for_one
// supervisor with one permanent child registered as "rb_child" (intensity 2R in 1 s, as the
// Erlang peer, so that it never gives up; crash reports off, as in the peers). R times, the
// driver: looks the child up by name, tells it to crash (asynchronously; it throws), then polls
// the name -- yielding (process::yield) after sending itself `retry` -- until a new instance is registered, and pings
// it (monitor + send + wait for `pong` or `down`, as the Erlang peer's emulated-raw does; a
// `down` counts as a failed ping and the driver polls again). t1 after the R-th `pong`.
// ops = R; per_op_us, polls, failed_pings and restarts (counted by the supervisor) reported.
#include <cstdio>
#include <thread>

#include "common.hpp"
#include "respawn/supervisor.hpp"

namespace rb {

namespace {

struct crash {};
struct ping {};
struct pong {};
struct retry {};

const std::string child_name = "rb_child";

class child final : public respawn::process {
 public:
  void handle(respawn::message& m) override {
    if (m.is<ping>()) {
      send(m.sender(), pong{});
    } else if (m.is<crash>()) {
      throw std::runtime_error{"crash"};
    }
  }
};

class driver final : public respawn::process {
 public:
  driver(respawn::pid reporter, std::int64_t r) : reporter_{reporter}, r_{r} {}

  void handle(respawn::message& msg) override {
    if (msg.is<start>()) {
      t0_ = clk::now();
      next_cycle();
    } else if (msg.is<retry>()) {
      poll();
    } else if (msg.is<pong>()) {
      demonitor(monitor_);
      if (++cycles_ == r_) {
        send(reporter_, result{seconds_between(t0_, clk::now())});
        stop();
        return;
      }
      next_cycle();
    } else if (auto* d = msg.get_if<respawn::down>(); d != nullptr && d->ref == monitor_) {
      ++failed_pings_;
      send(self(), retry{});
      yield();
    }
  }

  std::int64_t polls() const { return polls_; }
  std::int64_t failed_pings() const { return failed_pings_; }

 private:
  void next_cycle() {
    old_ = system().whereis(child_name);
    send(old_, crash{});
    poll();
  }
  void poll() {
    respawn::pid cur = system().whereis(child_name);
    if (!cur || cur == old_) {
      ++polls_;
      send(self(), retry{});
      yield();  // other processes (the crashing child, the supervisor) run before we look again
      return;
    }
    monitor_ = monitor(cur);
    send(cur, ping{});
  }

  respawn::pid reporter_;
  std::int64_t r_;
  std::int64_t cycles_ = 0;
  std::int64_t polls_ = 0;
  std::int64_t failed_pings_ = 0;
  respawn::pid old_;
  respawn::monitor_ref monitor_;
  clk::time_point t0_;

 public:
  // Read by the main thread after the driver reported (the report orders the accesses).
  static inline std::int64_t reported_polls = 0;
  static inline std::int64_t reported_failed_pings = 0;
  ~driver() override {
    reported_polls = polls_;
    reported_failed_pings = failed_pings_;
  }
};

}  // namespace

int run_restart(const options& o) {
  double secs = 0;
  std::uint64_t restarts = 0;
  {
    respawn::runtime_config config = config_for(o);
    config.crash_reports = false;  // as in the peers
    respawn::runtime rt{config};
    respawn::supervisor_spec spec;
    spec.flags.strategy = respawn::strategy::one_for_one;
    spec.flags.intensity = static_cast<std::uint32_t>(2 * o.r);
    spec.flags.period = std::chrono::seconds{1};
    spec.children.push_back(respawn::child_spec{.id = "child",
                                                .start = respawn::child_spec::make<child>(),
                                                .restart = respawn::restart_type::permanent,
                                                .shutdown = respawn::shutdown_spec::brutal(),
                                                .name = child_name});
    respawn::pid sup = rt.spawn<respawn::supervisor>({}, spec);
    respawn::scoped_process main_self{rt};
    // Setup (untimed): the first child is registered.
    while (!rt.whereis(child_name)) std::this_thread::yield();
    respawn::pid d = rt.spawn<driver>({}, main_self.self(), o.r);
    secs = run_driver(rt, main_self, d);
    auto children = rt.call<std::vector<respawn::child_info>>(sup, respawn::which_children{}, std::chrono::seconds{10});
    if (children.ok() && !children.value().empty()) restarts = children.value().front().restarts;
    // The driver has stopped; wait for its destructor to publish its counters.
    respawn::scoped_process watcher{rt};
    watcher.monitor(d);
    watcher.receive<respawn::down>(std::chrono::seconds{10});
  }
  json_line("restart", o.threads)
      .num("r", o.r)
      .timing(secs, o.r)
      .real("per_op_us", secs * 1e6 / static_cast<double>(o.r), 3)
      .num("restarts", static_cast<std::int64_t>(restarts))
      .num("polls", driver::reported_polls)
      .num("failed_pings", driver::reported_failed_pings)
      .print();
  return 0;
}

}  // namespace rb
