// harness: the few processes and helpers the runtime tests share, so that each test reads as the
// behaviour it checks. A `puppet` does what the test tells it by message (link, monitor, stop
// with a reason, throw, spawn a child with options) and forwards what the runtime delivers to it
// (exit_signal, down) to an observer, a scoped_process the test reads. A `recorder` keeps the
// ints it receives. `endings()` lists every way a process can end, with the exit reason others
// then see, so that the OTP matrix (links / monitors / trap_exit x reason) is one table.
// Everything here uses the public API only.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "respawn/respawn.hpp"

namespace respawn::test {

using namespace std::chrono_literals;

inline runtime_config deterministic_config() {
  runtime_config c;
  c.deterministic = true;
  return c;
}

// Spawn options, spelled out (designated initializers trip -Wmissing-field-initializers).
inline spawn_options trapping() {
  spawn_options o;
  o.trap_exit = true;
  return o;
}
inline spawn_options linked() {
  spawn_options o;
  o.link = true;
  return o;
}
inline spawn_options monitored() {
  spawn_options o;
  o.monitor = true;
  return o;
}
inline spawn_options bounded(std::uint32_t mailbox_bound) {
  spawn_options o;
  o.mailbox_bound = mailbox_bound;
  return o;
}

// --- what a puppet obeys ---
struct die_with {  // stop(reason) once the handler returns
  exit_reason reason;
};
struct throw_runtime_error {
  std::string text;
};
struct link_to {
  pid other;
};
struct unlink_from {
  pid other;
};
struct monitor_pid {  // reports the monitor_ref to the observer
  pid other;
};
struct demonitor_ref {
  monitor_ref ref;
};
struct send_exit_to {  // exit(to, reason) as this process (Erlang's exit/2)
  pid to;
  exit_reason reason;
};
struct set_trap_exit {
  bool on;
};
struct spawn_puppet {  // spawns a puppet child with these options; reports its `spawned`
  spawn_options options;
};
struct ping {};
struct pong {};

class puppet : public process {
 public:
  explicit puppet(pid observer) : observer_{observer} {}

  void handle(message& m) override {
    if (auto* d = m.get_if<die_with>()) {
      stop(d->reason);
    } else if (auto* t = m.get_if<throw_runtime_error>()) {
      throw std::runtime_error{t->text};
    } else if (auto* l = m.get_if<link_to>()) {
      link(l->other);
    } else if (auto* u = m.get_if<unlink_from>()) {
      unlink(u->other);
    } else if (auto* mo = m.get_if<monitor_pid>()) {
      send(observer_, monitor(mo->other));
    } else if (auto* dm = m.get_if<demonitor_ref>()) {
      demonitor(dm->ref);
    } else if (auto* e = m.get_if<send_exit_to>()) {
      exit(e->to, e->reason);
    } else if (auto* tr = m.get_if<set_trap_exit>()) {
      trap_exit(tr->on);
    } else if (auto* s = m.get_if<spawn_puppet>()) {
      send(observer_, spawn<puppet>(s->options, observer_));
    } else if (m.is<ping>()) {
      if (m.is_call()) {
        reply(m, pong{});
      } else {
        send(m.sender(), pong{});
      }
    } else if (auto* x = m.get_if<exit_signal>()) {
      send(observer_, *x);
    } else if (auto* dn = m.get_if<down>()) {
      send(observer_, *dn);
    }
  }

 private:
  pid observer_;
};

// Counts live objects across threads and lets a test wait, with a deadline, until none is left:
// the signal a threaded test waits on instead of sleeping. A process is destroyed only after it
// has fully ended (its slot retired, process_count() decremented), so "every counted process
// object is gone" is exactly "every one of them has ended".
class live_counter {
 public:
  void add() {
    std::lock_guard lock{mutex_};
    ++live_;
  }
  void remove() {
    {
      std::lock_guard lock{mutex_};
      --live_;
    }
    changed_.notify_all();
  }
  long live() const {
    std::lock_guard lock{mutex_};
    return live_;
  }
  // true if the count reached zero before `timeout`.
  bool wait_for_none(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, timeout, [this] { return live_ == 0; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  long live_ = 0;
};

// A puppet that counts itself in a live_counter while it exists.
class counted_puppet : public puppet {
 public:
  counted_puppet(pid observer, std::shared_ptr<live_counter> counter)
      : puppet{observer}, counter_{std::move(counter)} {
    counter_->add();
  }
  ~counted_puppet() override { counter_->remove(); }

 private:
  std::shared_ptr<live_counter> counter_;
};

// Keeps every int it receives, in order, in a log the test holds (deterministic mode only: the
// log is not synchronised).
class recorder : public process {
 public:
  explicit recorder(std::shared_ptr<std::vector<int>> log) : log_{std::move(log)} {}
  void handle(message& m) override {
    if (auto* v = m.get_if<int>()) log_->push_back(*v);
  }

 private:
  std::shared_ptr<std::vector<int>> log_;
};

// Spawns recorders (logging into `log`) until one lands in the slot of the dead pid `old`: a
// newer process with the same index and another generation. The others stay alive, so that the
// search moves through the free slots. A null pid if none did within `tries`.
inline pid spawn_recorder_in_slot_of(runtime& rt, pid old, const std::shared_ptr<std::vector<int>>& log,
                                     int tries = 1000) {
  for (int i = 0; i < tries; ++i) {
    pid p = rt.spawn<recorder>({}, log);
    if (p.index == old.index) return p;
  }
  return pid{};
}

// What the observer was sent, taken out once the system is idle (deterministic mode: receive
// with a zero timeout runs the system until a message arrives or nothing is runnable).
struct observed {
  std::vector<down> downs;
  std::vector<exit_signal> exit_signals;
  std::vector<monitor_ref> monitor_refs;
  std::vector<spawned> spawns;
  std::size_t others = 0;

  std::optional<down> down_of(pid p) const {
    for (const down& d : downs) {
      if (d.process == p) return d;
    }
    return std::nullopt;
  }
};

inline observed collect(scoped_process& observer) {
  observed out;
  while (message_ptr m = observer.receive(0ms)) {
    if (auto* d = m->get_if<down>()) {
      out.downs.push_back(*d);
    } else if (auto* e = m->get_if<exit_signal>()) {
      out.exit_signals.push_back(*e);
    } else if (auto* r = m->get_if<monitor_ref>()) {
      out.monitor_refs.push_back(*r);
    } else if (auto* s = m->get_if<spawned>()) {
      out.spawns.push_back(*s);
    } else {
      ++out.others;
    }
  }
  return out;
}

// One way for a process to end, and the reason its links and monitors then see.
struct ending {
  std::string name;
  std::function<void(runtime&, pid)> end;
  exit_reason seen;
};

inline std::vector<ending> endings() {
  return {
      {"Normal", [](runtime& rt, pid p) { rt.send(p, die_with{exit_reason::normal()}); }, exit_reason::normal()},
      {"Shutdown", [](runtime& rt, pid p) { rt.send(p, die_with{exit_reason::shutdown()}); },
       exit_reason::shutdown()},
      {"Kill", [](runtime& rt, pid p) { rt.exit(p, exit_reason::kill()); }, exit_reason::killed()},
      {"Error", [](runtime& rt, pid p) { rt.send(p, throw_runtime_error{"boom"}); },
       exit_reason::error("std::runtime_error", "boom")},
      {"Other", [](runtime& rt, pid p) { rt.send(p, die_with{exit_reason::other("custom reason")}); },
       exit_reason::other("custom reason")},
  };
}

inline std::string ending_name(const ::testing::TestParamInfo<ending>& info) { return info.param.name; }

}  // namespace respawn::test

// gtest prints parameters and reasons with these.
namespace respawn {
inline void PrintTo(const exit_reason& r, std::ostream* os) { *os << r.to_string(); }
inline void PrintTo(const pid& p, std::ostream* os) { *os << p.to_string(); }
namespace test {
inline void PrintTo(const ending& e, std::ostream* os) { *os << e.name; }
}  // namespace test
}  // namespace respawn
