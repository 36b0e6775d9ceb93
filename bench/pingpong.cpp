// pingpong: two processes exchange M round trips with one message in flight. The driver spawns
// pong P and ping Q (untimed), takes t0 and sends (start, M) to Q; Q sends (ping, M) to P; P
// answers (pong, k) to the sender; Q on (pong, k) sends (ping, k-1) if k > 1, else `done` to the
// driver and `stop` to P. t1 when the driver has `done`. Measures the latency of a send that
// wakes a waiting process and the hand-over between two processes. ops = M round trips.
#include "common.hpp"

namespace rb {

namespace {

struct ping {
  std::int64_t k;
};
struct pong {
  std::int64_t k;
};
struct go {
  std::int64_t m;
};

class pong_process final : public respawn::process {
 public:
  void handle(respawn::message& m) override {
    if (auto* p = m.get_if<ping>()) {
      send(m.sender(), pong{p->k});
    } else if (m.is<stop_msg>()) {
      stop();
    }
  }
};

class ping_process final : public respawn::process {
 public:
  ping_process(respawn::pid pong_pid, respawn::pid driver) : pong_{pong_pid}, driver_{driver} {}
  void handle(respawn::message& m) override {
    if (auto* p = m.get_if<pong>()) {
      if (p->k > 1) {
        send(pong_, ping{p->k - 1});
      } else {
        send(driver_, done{});
        send(pong_, stop_msg{});
        stop();
      }
    } else if (auto* g = m.get_if<go>()) {
      send(pong_, ping{g->m});
    }
  }

 private:
  respawn::pid pong_, driver_;
};

class driver final : public respawn::process {
 public:
  driver(respawn::pid reporter, std::int64_t m) : reporter_{reporter}, m_{m} {}
  void handle(respawn::message& msg) override {
    if (msg.is<start>()) {
      respawn::pid p = spawn<pong_process>({});
      respawn::pid q = spawn<ping_process>({}, p, self());
      t0_ = clk::now();
      send(q, go{m_});
    } else if (msg.is<done>()) {
      send(reporter_, result{seconds_between(t0_, clk::now())});
      stop();
    }
  }

 private:
  respawn::pid reporter_;
  std::int64_t m_;
  clk::time_point t0_;
};

}  // namespace

int run_pingpong(const options& o) {
  double secs = 0;
  {
    respawn::runtime rt{config_for(o)};
    respawn::scoped_process main_self{rt};
    secs = run_driver(rt, main_self, rt.spawn<driver>({}, main_self.self(), o.m));
  }
  json_line("pingpong", o.threads).num("m", o.m).timing(secs, o.m).print();
  return 0;
}

}  // namespace rb
