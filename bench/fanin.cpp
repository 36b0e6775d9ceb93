// fanin: P senders each send K messages to one receiver. Setup (untimed): the driver spawns the
// receiver R (knows the driver and P*K) and P senders (know the driver, R, K); each sender sends
// `ready` to the driver when it first runs and waits for `go`; the driver waits for P `ready`s.
// t0; the driver sends `go` to every sender in one loop; a sender on `go` sends (msg, i) for
// i = 0..K-1 to R and ends; R counts and at P*K sends `done`; t1 at `done`. Measures many-to-one
// throughput: contended pushes onto one mailbox while its owner drains it. ops = P*K messages.
#include <vector>

#include "common.hpp"

namespace rb {

namespace {

struct ready {};
struct go {};
struct msg {
  std::int64_t i;
};

class receiver final : public respawn::process {
 public:
  receiver(respawn::pid driver, std::int64_t total) : driver_{driver}, total_{total} {}
  void handle(respawn::message& m) override {
    if (m.is<msg>()) {
      if (++count_ == total_) {
        send(driver_, done{});
        stop();
      }
    }
  }

 private:
  respawn::pid driver_;
  std::int64_t total_;
  std::int64_t count_ = 0;
};

class sender final : public respawn::process {
 public:
  sender(respawn::pid driver, respawn::pid dest, std::int64_t k) : driver_{driver}, dest_{dest}, k_{k} {}
  void init() override { send(driver_, ready{}); }
  void handle(respawn::message& m) override {
    if (m.is<go>()) {
      for (std::int64_t i = 0; i < k_; ++i) send(dest_, msg{i});
      stop();
    }
  }

 private:
  respawn::pid driver_, dest_;
  std::int64_t k_;
};

class driver final : public respawn::process {
 public:
  driver(respawn::pid reporter, std::int64_t p, std::int64_t k) : reporter_{reporter}, p_{p}, k_{k} {}
  void handle(respawn::message& m) override {
    if (m.is<ready>()) {
      if (++ready_ == p_) {
        t0_ = clk::now();
        for (respawn::pid s : senders_) send(s, go{});
        senders_.clear();
      }
    } else if (m.is<done>()) {
      send(reporter_, result{seconds_between(t0_, clk::now())});
      stop();
    } else if (m.is<start>()) {
      respawn::pid r = spawn<receiver>({}, self(), p_ * k_);
      senders_.reserve(static_cast<std::size_t>(p_));
      for (std::int64_t i = 0; i < p_; ++i) senders_.push_back(spawn<sender>({}, self(), r, k_));
    }
  }

 private:
  respawn::pid reporter_;
  std::int64_t p_, k_;
  std::int64_t ready_ = 0;
  std::vector<respawn::pid> senders_;
  clk::time_point t0_;
};

}  // namespace

int run_fanin(const options& o) {
  double secs = 0;
  {
    respawn::runtime rt{config_for(o)};
    respawn::scoped_process main_self{rt};
    secs = run_driver(rt, main_self, rt.spawn<driver>({}, main_self.self(), o.p, o.k));
  }
  json_line("fanin", o.threads).num("p", o.p).num("k", o.k).timing(secs, o.p * o.k).print();
  return 0;
}

}  // namespace rb
