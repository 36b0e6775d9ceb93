// spawn: the driver spawns N children in one uninterrupted loop (it does not look at its mailbox
// meanwhile); each child, when it first runs (init), sends `done` to the driver and ends
// normally. Timed from just before the first spawn until the driver has counted N `done`s.
// Measures the whole life of a short-lived process: create, schedule, first run, send, exit,
// free. ops = N.
#include "common.hpp"

namespace rb {

namespace {

class child final : public respawn::process {
 public:
  void init() override {
    send(parent(), done{});
    stop();
  }
  void handle(respawn::message&) override {}
};

class driver final : public respawn::process {
 public:
  driver(respawn::pid reporter, std::int64_t n) : reporter_{reporter}, n_{n} {}

  void handle(respawn::message& m) override {
    if (m.is<done>()) {
      if (++received_ == n_) {
        send(reporter_, result{seconds_between(t0_, clk::now())});
        stop();
      }
    } else if (m.is<start>()) {
      t0_ = clk::now();
      for (std::int64_t i = 0; i < n_; ++i) spawn<child>({});
    }
  }

 private:
  respawn::pid reporter_;
  std::int64_t n_;
  std::int64_t received_ = 0;
  clk::time_point t0_;
};

}  // namespace

int run_spawn(const options& o) {
  const std::int64_t n = o.n_given ? o.n : 1000000;
  double secs = 0;
  {
    respawn::runtime rt{config_for(o)};
    respawn::scoped_process main_self{rt};
    secs = run_driver(rt, main_self, rt.spawn<driver>({}, main_self.self(), n));
  }
  json_line("spawn", o.threads).num("n", n).timing(secs, n).print();
  return 0;
}

}  // namespace rb
