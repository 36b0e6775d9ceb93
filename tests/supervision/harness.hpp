// harness: the children and helpers the supervision tests share, so that each test reads as the
// supervisor behaviour it checks. A `worker` logs its start ("start:ID", in init) and its orderly
// end ("stop:ID", in terminate, which a kill skips) into an event_log the test reads, so that
// start order and reverse-order shutdown are plain vectors of strings. It obeys messages to end
// with a reason, throw, and count (saving each count as a recovery snapshot); its start function
// resumes from that snapshot. `endings()` are the four exit reasons of OTP's supervisor matrix.
// Deterministic mode throughout, except where a file says otherwise: the event log is then
// touched by one thread only. Public API only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "respawn/respawn.hpp"
#include "respawn/supervisor.hpp"

namespace respawn::sup_test {

using namespace std::chrono_literals;

// Crash reports go nowhere unless a test captures them (crash_reports.test.cpp does).
inline runtime_config deterministic_config() {
  runtime_config c;
  c.deterministic = true;
  c.log = [](std::string_view) {};
  return c;
}

// A monitor's verdict: the reason `p` ended, once the system is idle (deterministic mode).
inline std::optional<exit_reason> exit_reason_of(scoped_process& watcher, pid p) {
  while (message_ptr m = watcher.receive(0ms)) {
    if (auto* d = m->get_if<down>(); d != nullptr && d->process == p) return d->reason;
  }
  return std::nullopt;
}

// What happened, in order: "start:a", "stop:a", ... Deterministic tests read `events` directly;
// threaded ones go through the locked members (add is thread-safe) and wait_until.
struct event_log {
  std::vector<std::string> events;

  void add(std::string e) {
    {
      std::lock_guard lock{mutex_};
      events.push_back(std::move(e));
    }
    changed_.notify_all();
  }
  // The events since `mark` (an earlier size()).
  std::vector<std::string> since(std::size_t mark) const {
    std::lock_guard lock{mutex_};
    return {events.begin() + static_cast<std::ptrdiff_t>(std::min(mark, events.size())), events.end()};
  }
  std::size_t size() const {
    std::lock_guard lock{mutex_};
    return events.size();
  }
  std::size_t count(const std::string& e) const {
    std::lock_guard lock{mutex_};
    return static_cast<std::size_t>(std::count(events.begin(), events.end(), e));
  }
  // Waits until `done(events)` holds; false if it did not within `timeout` (threaded tests).
  template <class Pred>
  bool wait_until(Pred done, std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return done(events); });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
};

// --- what a worker obeys ---
struct exit_with {  // stop(reason) once the handler returns
  exit_reason reason;
};
struct throw_error {  // throws std::runtime_error{text}
  std::string text = "boom";
};
struct increment {};  // value += 1, saved as a recovery snapshot
struct get_value {};  // call -> int
struct get_id {};     // call -> std::string

class worker : public process {
 public:
  // `stubborn`: traps exits and ignores shutdown (only a kill ends it).
  worker(std::string id, std::shared_ptr<event_log> log, int value = 0, bool stubborn = false)
      : id_{std::move(id)}, log_{std::move(log)}, value_{value}, stubborn_{stubborn} {}

  void init() override {
    if (stubborn_) trap_exit(true);
    log_->add("start:" + id_);
  }
  void handle(message& m) override {
    if (auto* e = m.get_if<exit_with>()) {
      stop(e->reason);
    } else if (auto* t = m.get_if<throw_error>()) {
      throw std::runtime_error{t->text};
    } else if (m.is<increment>()) {
      ++value_;
      save_snapshot(value_);
    } else if (m.is<get_value>()) {
      reply(m, value_);
    } else if (m.is<get_id>()) {
      reply(m, id_);
    }
    // A stubborn worker receives its shutdown as an exit_signal message and ignores it.
  }
  void terminate(const exit_reason&) override { log_->add("stop:" + id_); }

 private:
  std::string id_;
  std::shared_ptr<event_log> log_;
  int value_;
  bool stubborn_;
};

// A worker's start function: resumes from the latest snapshot (an int), else from 0.
inline child_start worker_start(const std::string& id, const std::shared_ptr<event_log>& log, bool stubborn = false) {
  return [id, log, stubborn](const snapshot& last) {
    const int* saved = last.get<int>();
    return std::make_unique<worker>(id, log, saved != nullptr ? *saved : 0, stubborn);
  };
}

inline child_spec worker_spec(const std::string& id, const std::shared_ptr<event_log>& log,
                              restart_type restart = restart_type::permanent, const std::string& name = "") {
  child_spec c;
  c.id = id;
  c.start = worker_start(id, log);
  c.restart = restart;
  c.name = name;
  return c;
}

inline child_spec supervisor_child(const std::string& id, supervisor_spec spec,
                                   restart_type restart = restart_type::permanent) {
  child_spec c;
  c.id = id;
  c.start = supervisor::of(std::move(spec));
  c.restart = restart;
  c.type = child_type::supervisor;
  c.shutdown = shutdown_spec::infinity();  // OTP's default for supervisor children
  return c;
}

inline supervisor_spec spec_of(strategy s, std::vector<child_spec> children, std::uint32_t intensity = 3,
                               std::chrono::milliseconds period = 5000ms) {
  supervisor_spec spec;
  spec.flags.strategy = s;
  spec.flags.intensity = intensity;
  spec.flags.period = period;
  spec.children = std::move(children);
  return spec;
}

// --- asking a supervisor (these drive the deterministic system themselves) ---
inline std::vector<child_info> children_of(runtime& rt, pid sup) {
  auto r = rt.call<std::vector<child_info>>(sup, which_children{}, 1s);
  EXPECT_TRUE(r.ok()) << "which_children: " << r.error().message();
  return r.ok() ? r.value() : std::vector<child_info>{};
}

inline std::optional<child_info> child_of(runtime& rt, pid sup, const std::string& id) {
  for (auto& c : children_of(rt, sup)) {
    if (c.id == id) return c;
  }
  return std::nullopt;
}

inline pid pid_of(runtime& rt, pid sup, const std::string& id) {
  auto c = child_of(rt, sup, id);
  return c ? c->pid : pid{};
}

inline std::vector<std::string> ids_of(const std::vector<child_info>& children) {
  std::vector<std::string> out;
  for (auto& c : children) out.push_back(c.id);
  return out;
}

// --- the exit reasons of OTP's supervisor matrix ---
struct ending {
  std::string name;
  std::function<void(runtime&, pid)> end;
  exit_reason seen;   // the reason the supervisor sees
  bool abnormal;      // restarts a transient child, and is reported
};

inline std::vector<ending> endings() {
  return {
      {"Normal", [](runtime& rt, pid p) { rt.send(p, exit_with{exit_reason::normal()}); }, exit_reason::normal(), false},
      {"Shutdown", [](runtime& rt, pid p) { rt.send(p, exit_with{exit_reason::shutdown()}); }, exit_reason::shutdown(),
       false},
      {"Error", [](runtime& rt, pid p) { rt.send(p, throw_error{}); }, exit_reason::error("std::runtime_error", "boom"),
       true},
      {"Kill", [](runtime& rt, pid p) { rt.exit(p, exit_reason::kill()); }, exit_reason::killed(), true},
  };
}

inline std::vector<strategy> all_strategies() {
  return {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one};
}
// Test names for a parameter that is a strategy.
inline std::string strategy_name(const ::testing::TestParamInfo<strategy>& param) { return to_string(param.param); }

// Crashes child `id` of `sup` with an exception and lets the system settle.
inline void crash(runtime& rt, pid sup, const std::string& id) {
  pid p = pid_of(rt, sup, id);
  ASSERT_TRUE(p) << "child " << id << " is not running";
  rt.send(p, throw_error{});
  rt.run_until_idle();
}

}  // namespace respawn::sup_test

namespace respawn {
inline void PrintTo(const exit_reason& r, std::ostream* os) { *os << r.to_string(); }
inline void PrintTo(const pid& p, std::ostream* os) { *os << p.to_string(); }
}  // namespace respawn
