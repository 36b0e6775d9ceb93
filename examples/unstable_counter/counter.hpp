// counter: the "unstable counter" of Kompact's fault-recovery chapter (seed 003) as a Respawn
// process. It counts up by one on every tick, a timer it sets for itself with send_after. Its
// value is a uint8_t and the count past 255 throws, as the seed's u8 panics on overflow; now and
// then a tick also fails at random (a seeded PRNG), so that crashes happen mid-count as well as at
// the top. Every snapshot_interval it hands the runtime a recovery snapshot of its value
// (process::save_snapshot: the seed's set_recovery_function); its supervisor starts the
// replacement from the latest snapshot, so a crash costs the counts since that snapshot, never
// the whole count.
//
// What a restart resumes from, after an overflow too: the latest snapshot, as in the seed. That
// snapshot was taken at most one snapshot_interval before the overflow, so the replacement
// overflows again soon after (the seed notes it "crashes much faster after the first time").
// Kompact would let that go on forever; here the supervisor's restart intensity ends it: past
// `intensity` restarts in `period` it gives up and exits with `shutdown`. We do not paper over
// the overflow (say, by resuming from 0 or wrapping): a state that leads straight back to the
// crash is exactly what intensity is for, and the example shows it doing its job.
//
// Timers and restarts: a timer is tied to the pid that set it, so a tick the crashed instance
// left pending is dropped when it fires (its pid is dead) and never reaches the replacement,
// which has a pid of its own. The counter still cancels its timers in terminate(), as the seed's
// recovery handler does, to free them early; a kill runs no terminate() and relies on the pid
// alone. The tick carries the pid of the instance that set it, so that the tests can prove that
// no instance ever handles another's tick (the observer hears of it as a stray_tick).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>

#include <respawn/respawn.hpp>

namespace unstable_counter {

inline constexpr const char* counter_name = "unstable_counter";

struct counter_config {
  std::chrono::milliseconds tick_interval{10};       // one count per tick
  std::chrono::milliseconds snapshot_interval{100};  // a recovery snapshot this often
  std::uint32_t random_fault_one_in = 0;             // a tick fails with probability 1/N; 0: never
  std::uint64_t seed = 1;                            // for the random faults (mixed with the pid)
};

// What a counter hands the runtime as its recovery snapshot.
struct counter_snapshot {
  std::uint8_t value = 0;
};

// What a counter tells its observer (main's printer, the tests' recorder).
struct counter_event {
  enum class kind : std::uint8_t {
    started,         // init ran: `value` is where it starts, `resumed` whether from a snapshot
    counted,         // a tick: `value` is the new count
    snapshot_saved,  // `value` was handed to the runtime as the recovery snapshot
    stray_tick,      // a tick set by another instance arrived (must never happen)
  };
  kind what = kind::started;
  respawn::pid instance{};
  std::uint8_t value = 0;
  bool resumed = false;
  std::chrono::steady_clock::time_point at{};  // the runtime's clock
};

// Called from inside the counter's handlers: on scheduler threads in threaded mode, so it must
// then be thread-safe. Everything in this example runs deterministic, on one thread.
using counter_observer = std::function<void(const counter_event&)>;

// What a random fault throws (an overflow throws std::overflow_error).
class random_fault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class counter final : public respawn::process {
 public:
  // `resume_from`: the value of the latest snapshot, if there is one (else it starts at 0).
  counter(counter_config config, counter_observer observer, const counter_snapshot* resume_from);

  void init() override;
  void handle(respawn::message& m) override;
  void terminate(const respawn::exit_reason& reason) override;

 private:
  struct tick {
    respawn::pid instance;  // who set the timer
  };
  struct take_snapshot {
    respawn::pid instance;
  };

  void count();
  void report(counter_event::kind what);

  counter_config config_;
  counter_observer observer_;
  std::uint8_t value_ = 0;
  bool resumed_ = false;
  std::mt19937_64 random_;  // its output is fixed by the standard: the same faults on every machine
  respawn::timer_ref tick_timer_;
  respawn::timer_ref snapshot_timer_;
};

// The counter as a supervisor's child: registered as "unstable_counter", permanent, and started
// from the latest recovery snapshot (from 0 when there is none yet).
respawn::child_spec counter_child_spec(counter_config config, counter_observer observer);

}  // namespace unstable_counter
