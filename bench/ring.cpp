// ring: N processes in a ring, one token travelling M hops. Setup (untimed): the driver spawns N
// nodes, sends node i (next, node[(i+1) mod N]) and waits for N acks. t0; the driver sends
// (token, M) to node 0; a node on (token, c) sends (token, c-1) to its next if c > 0, else `done`
// to the driver; t1 at `done`. Exactly M node-to-node hops; the nodes are then stopped
// (untimed). Measures message passing along a chain where every hop wakes a different process
// (no pair stays hot in cache as in pingpong). ops = M hops.
#include <vector>

#include "common.hpp"

namespace rb {

namespace {

struct next {
  respawn::pid to;
};
struct ack {};
struct token {
  std::int64_t c;
};

class node final : public respawn::process {
 public:
  explicit node(respawn::pid driver) : driver_{driver} {}
  void handle(respawn::message& m) override {
    if (auto* t = m.get_if<token>()) {
      if (t->c > 0) {
        send(next_, token{t->c - 1});
      } else {
        send(driver_, done{});
      }
    } else if (auto* nx = m.get_if<next>()) {
      next_ = nx->to;
      send(driver_, ack{});
    } else if (m.is<stop_msg>()) {
      stop();
    }
  }

 private:
  respawn::pid driver_;
  respawn::pid next_;
};

class driver final : public respawn::process {
 public:
  driver(respawn::pid reporter, std::int64_t n, std::int64_t m) : reporter_{reporter}, n_{n}, m_{m} {}
  void handle(respawn::message& msg) override {
    if (msg.is<ack>()) {
      if (++acks_ == n_) {
        t0_ = clk::now();
        send(nodes_[0], token{m_});
      }
    } else if (msg.is<done>()) {
      double secs = seconds_between(t0_, clk::now());
      for (respawn::pid x : nodes_) send(x, stop_msg{});
      nodes_.clear();
      send(reporter_, result{secs});
      stop();
    } else if (msg.is<start>()) {
      nodes_.reserve(static_cast<std::size_t>(n_));
      for (std::int64_t i = 0; i < n_; ++i) nodes_.push_back(spawn<node>({}, self()));
      for (std::int64_t i = 0; i < n_; ++i) {
        send(nodes_[static_cast<std::size_t>(i)], next{nodes_[static_cast<std::size_t>((i + 1) % n_)]});
      }
    }
  }

 private:
  respawn::pid reporter_;
  std::int64_t n_, m_;
  std::int64_t acks_ = 0;
  std::vector<respawn::pid> nodes_;
  clk::time_point t0_;
};

}  // namespace

int run_ring(const options& o) {
  const std::int64_t n = o.n_given ? o.n : 1000;
  double secs = 0;
  {
    respawn::runtime rt{config_for(o)};
    respawn::scoped_process main_self{rt};
    secs = run_driver(rt, main_self, rt.spawn<driver>({}, main_self.self(), n, o.m));
  }
  json_line("ring", o.threads).num("n", n).num("m", o.m).timing(secs, o.m).print();
  return 0;
}

}  // namespace rb
