// Tests of the unstable counter example (seed 003): that a supervisor restarts the counter from
// its latest recovery snapshot and never from 0 once a snapshot exists; that a crashed or killed
// instance's timers never fire into its replacement; and that the supervisor gives up exactly when
// its restart intensity is exceeded, not before. All in deterministic mode: the clock moves 1 ms
// at a time under the test's control, and every run of a seed is the same run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <respawn/respawn.hpp>

#include "counter.hpp"

namespace {

using namespace std::chrono_literals;
using respawn::pid;
using unstable_counter::counter_event;
using time_point = std::chrono::steady_clock::time_point;

// A supervised counter in a deterministic runtime, with everything it reports recorded: the
// counter's events, and the runtime's log lines (crash reports, the supervisor giving up).
struct counter_run {
  struct log_line {
    std::string text;
    time_point at;
  };

  explicit counter_run(unstable_counter::counter_config counter, std::uint32_t intensity = 5,
                       std::chrono::milliseconds period = 1000ms)
      : rt{config_for(this)}, watcher{rt} {
    respawn::supervisor_spec spec;
    spec.flags.intensity = intensity;
    spec.flags.period = period;
    spec.children.push_back(
        unstable_counter::counter_child_spec(counter, [this](const counter_event& e) { events.push_back(e); }));
    supervisor = rt.spawn<respawn::supervisor>({}, spec);
    watcher.monitor(supervisor);
    rt.run_until_idle();
  }

  static respawn::runtime_config config_for(counter_run* self) {
    respawn::runtime_config config;
    config.deterministic = true;
    config.log = [self](std::string_view line) { self->log.push_back({std::string{line}, self->rt.now()}); };
    return config;
  }

  // Moves the clock 1 ms at a time for `how_long`, or until the supervisor has ended.
  void run_for(std::chrono::milliseconds how_long) {
    auto until = rt.now() + how_long;
    while (rt.now() < until && rt.alive(supervisor)) {
      rt.advance(1ms);
      rt.run_until_idle();
    }
  }

  std::vector<counter_event> of_kind(counter_event::kind k) const {
    std::vector<counter_event> out;
    for (const auto& e : events) {
      if (e.what == k) out.push_back(e);
    }
    return out;
  }

  std::vector<time_point> crash_times() const {
    std::vector<time_point> out;
    for (const auto& l : log) {
      if (l.text.starts_with("crash report:")) out.push_back(l.at);
    }
    return out;
  }

  std::vector<log_line> log;  // declared before rt: the runtime logs into it until it is gone
  std::vector<counter_event> events;
  respawn::runtime rt;
  respawn::scoped_process watcher;
  pid supervisor;
};

unstable_counter::counter_config quiet() {  // no random faults: it only overflows
  return {};
}

unstable_counter::counter_config faulty(std::uint64_t seed) {
  unstable_counter::counter_config config;
  config.random_fault_one_in = 40;
  config.seed = seed;
  return config;
}

TEST(UnstableCounter, CountsOnePerTickAndSavesASnapshotEverySnapshotInterval) {
  counter_run run{quiet()};
  run.run_for(1000ms);
  auto counted = run.of_kind(counter_event::kind::counted);
  ASSERT_EQ(counted.size(), 100u);  // 10 ms ticks
  for (std::size_t i = 0; i < counted.size(); ++i) EXPECT_EQ(counted[i].value, i + 1);
  auto saved = run.of_kind(counter_event::kind::snapshot_saved);
  ASSERT_EQ(saved.size(), 10u);  // 100 ms snapshots
  EXPECT_TRUE(run.crash_times().empty());
}

TEST(UnstableCounter, OverflowsPast255AndResumesFromTheSnapshotBeforeTheOverflow) {
  counter_run run{quiet(), 100, 1000ms};  // an intensity it will not reach in this test
  run.run_for(2600ms);
  ASSERT_EQ(run.crash_times().size(), 1u);
  EXPECT_NE(run.log[0].text.find("std::overflow_error"), std::string::npos) << run.log[0].text;
  auto counted = run.of_kind(counter_event::kind::counted);
  auto starts = run.of_kind(counter_event::kind::started);
  ASSERT_EQ(starts.size(), 2u);
  // The first instance reached 255; the second starts from the last value it saved.
  EXPECT_EQ(starts[0].value, 0);
  EXPECT_FALSE(starts[0].resumed);
  EXPECT_TRUE(starts[1].resumed);
  std::uint8_t last_saved = 0;
  for (const auto& e : run.events) {
    if (e.instance == starts[0].instance && e.what == counter_event::kind::snapshot_saved) last_saved = e.value;
  }
  EXPECT_EQ(starts[1].value, last_saved);
  EXPECT_GE(last_saved, 255 - 10);  // at most one snapshot interval (10 ticks) behind
  EXPECT_NE(starts[1].instance, starts[0].instance);
  EXPECT_EQ(run.rt.whereis(unstable_counter::counter_name), starts[1].instance);
}

// Over many seeds: every restart starts exactly at the latest snapshot any earlier instance
// saved, and, once one was saved, never at 0.
TEST(UnstableCounter, EveryRestartResumesFromTheLastSnapshotNeverFromZero) {
  int restarts_after_a_snapshot = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    counter_run run{faulty(seed), 1000, 1000ms};  // never gives up: we look at the restarts
    run.run_for(4000ms);
    std::optional<std::uint8_t> last_saved;
    for (const auto& e : run.events) {
      if (e.what == counter_event::kind::snapshot_saved) last_saved = e.value;
      if (e.what != counter_event::kind::started) continue;
      if (!last_saved) {
        EXPECT_FALSE(e.resumed) << "seed " << seed;
        EXPECT_EQ(e.value, 0) << "seed " << seed;
        continue;
      }
      ++restarts_after_a_snapshot;
      EXPECT_TRUE(e.resumed) << "seed " << seed;
      EXPECT_EQ(e.value, *last_saved) << "seed " << seed;
      EXPECT_NE(e.value, 0) << "seed " << seed;
    }
  }
  EXPECT_GT(restarts_after_a_snapshot, 100);  // the seeds do exercise it
}

// Each instance handles ticks only of its own, one per tick_interval, and its count moves by one
// per tick from where it started: no tick of a predecessor reaches it. Faults end instances by
// exception (terminate() runs and cancels their timers); kills end them with no code of theirs
// running (the pending timers stay armed and are dropped at their deadline by the pid check).
TEST(UnstableCounter, AnOldInstancesTimersNeverFireIntoTheNewOne) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    counter_run run{faulty(seed), 1000, 1000ms};
    for (int kill = 0; kill < 8; ++kill) {
      run.run_for(std::chrono::milliseconds{97 + 13 * kill});  // off the 10 ms grid: mid-tick
      pid current = run.rt.whereis(unstable_counter::counter_name);
      ASSERT_TRUE(current);
      run.rt.exit(current, respawn::exit_reason::kill());
      run.rt.run_until_idle();
    }
    run.run_for(500ms);
    EXPECT_TRUE(run.of_kind(counter_event::kind::stray_tick).empty()) << "seed " << seed;

    std::map<pid, std::vector<counter_event>> by_instance;
    for (const auto& e : run.events) by_instance[e.instance].push_back(e);
    EXPECT_GE(by_instance.size(), 9u);
    for (const auto& [instance, events] : by_instance) {
      ASSERT_EQ(events.front().what, counter_event::kind::started);
      int value = events.front().value;
      time_point last = events.front().at;
      for (const auto& e : events) {
        if (e.what != counter_event::kind::counted) continue;
        EXPECT_EQ(e.value, value + 1) << instance.to_string() << " seed " << seed;
        EXPECT_EQ(e.at - last, 10ms) << instance.to_string() << " handled a tick off its own schedule";
        value = e.value;
        last = e.at;
      }
    }
  }
}

// The supervisor allows `intensity` restarts in any window of `period`: it keeps restarting as
// long as no window holds more, and gives up (exit reason shutdown) at the very crash that makes
// one window hold intensity + 1.
TEST(UnstableCounter, TheSupervisorGivesUpOnlyWhenItsRestartIntensityIsExceeded) {
  constexpr std::uint32_t intensity = 3;
  constexpr auto period = 500ms;
  int gave_up = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    counter_run run{faulty(seed), intensity, period};
    run.run_for(6000ms);
    std::vector<time_point> crashes = run.crash_times();
    // The first crash whose window [t - period, t] holds more than `intensity` crashes (as OTP, a
    // restart exactly `period` earlier still counts).
    std::optional<std::size_t> fatal;
    for (std::size_t i = 0; i < crashes.size() && !fatal; ++i) {
      std::size_t in_window = 0;
      for (std::size_t j = 0; j <= i; ++j) in_window += crashes[j] + period >= crashes[i] ? 1 : 0;
      if (in_window > intensity) fatal = i;
    }
    auto starts = run.of_kind(counter_event::kind::started);
    auto gone = run.watcher.receive<respawn::down>(0ms);
    if (!fatal) {
      EXPECT_TRUE(run.rt.alive(run.supervisor)) << "seed " << seed << " gave up within its intensity";
      EXPECT_FALSE(gone) << "seed " << seed;
      EXPECT_EQ(starts.size(), crashes.size() + 1) << "seed " << seed << ": every crash was restarted";
      continue;
    }
    ++gave_up;
    ASSERT_TRUE(gone) << "seed " << seed << " did not give up past its intensity";
    EXPECT_EQ(gone->reason, respawn::exit_reason::shutdown());
    EXPECT_EQ(crashes.size(), *fatal + 1) << "seed " << seed << ": no crash after giving up";
    EXPECT_EQ(starts.size(), *fatal + 1) << "seed " << seed << ": every crash before the fatal one was restarted";
    EXPECT_EQ(run.rt.now(), crashes[*fatal]) << "seed " << seed << ": it gave up at the fatal crash";
    EXPECT_NE(run.log.back().text.find("reached its restart intensity"), std::string::npos) << run.log.back().text;
    EXPECT_FALSE(run.rt.whereis(unstable_counter::counter_name));
  }
  // The seeds cover both outcomes (the overflow loop makes most runs give up).
  EXPECT_GT(gave_up, 0);
}

TEST(UnstableCounter, TheSameSeedRunsTheSameWay) {
  auto trace = [](std::uint64_t seed) {
    counter_run run{faulty(seed)};
    run.run_for(5000ms);
    std::vector<std::string> out;
    for (const auto& e : run.events) {
      out.push_back(std::to_string(static_cast<int>(e.what)) + " " + e.instance.to_string() + " " +
                    std::to_string(e.value) + " " + std::to_string((e.at - run.rt.now()).count()));
    }
    for (const auto& l : run.log) out.push_back(l.text);
    return out;
  };
  EXPECT_EQ(trace(11), trace(11));
  EXPECT_NE(trace(11), trace(12));
}

}  // namespace
