// counter: see the header.
#include "counter.hpp"

#include <string>

namespace unstable_counter {

counter::counter(counter_config config, counter_observer observer, const counter_snapshot* resume_from)
    : config_{config}, observer_{std::move(observer)} {
  // Bad configuration is rejected at start, with what to change.
  if (config_.tick_interval.count() <= 0 || config_.snapshot_interval.count() <= 0) {
    throw std::invalid_argument{"unstable_counter: tick_interval and snapshot_interval must be positive"};
  }
  if (resume_from != nullptr) {
    value_ = resume_from->value;
    resumed_ = true;
  }
}

void counter::init() {
  // Each instance draws its own faults: seeded from the configured seed and its pid, so a
  // replacement does not replay its predecessor's faults tick for tick, and a deterministic run
  // (same seed, same pids) replays exactly.
  std::uint64_t pid_bits = (std::uint64_t{self().index} << 32) | self().generation;
  random_.seed(config_.seed ^ (pid_bits * 0x9E3779B97F4A7C15ULL));
  report(counter_event::kind::started);
  tick_timer_ = send_after(config_.tick_interval, tick{self()});
  snapshot_timer_ = send_after(config_.snapshot_interval, take_snapshot{self()});
}

void counter::handle(respawn::message& m) {
  if (auto* t = m.get_if<tick>()) {
    if (t->instance != self()) {  // a predecessor's timer: the runtime's pid check should make this impossible
      report(counter_event::kind::stray_tick);
      return;
    }
    count();
    tick_timer_ = send_after(config_.tick_interval, tick{self()});
  } else if (auto* s = m.get_if<take_snapshot>()) {
    if (s->instance != self()) {
      report(counter_event::kind::stray_tick);
      return;
    }
    save_snapshot(counter_snapshot{value_});
    report(counter_event::kind::snapshot_saved);
    snapshot_timer_ = send_after(config_.snapshot_interval, take_snapshot{self()});
  }
}

void counter::count() {
  if (config_.random_fault_one_in != 0 && random_() % config_.random_fault_one_in == 0) {
    throw random_fault{"a random fault at count " + std::to_string(value_)};
  }
  // The seed's checked_add: the count past 255 does not fit, and that is a crash, not a wrap.
  if (value_ == UINT8_MAX) throw std::overflow_error{"255 + 1 does not fit in a uint8_t"};
  ++value_;
  report(counter_event::kind::counted);
}

void counter::terminate(const respawn::exit_reason&) {
  // Not needed for correctness (a dead pid's timers are dropped when they fire), but it frees
  // them now instead of at their deadline, as the seed's recovery handler does.
  cancel_timer(tick_timer_);
  cancel_timer(snapshot_timer_);
}

void counter::report(counter_event::kind what) {
  if (observer_) observer_(counter_event{what, self(), value_, resumed_, system().now()});
}

respawn::child_spec counter_child_spec(counter_config config, counter_observer observer) {
  respawn::child_spec spec;
  spec.id = "counter";
  spec.name = counter_name;  // registered again by every restart: find it with whereis
  spec.restart = respawn::restart_type::permanent;
  spec.start = [config, observer](const respawn::snapshot& last) {
    // `last` is empty on the first start, and holds the crashed instance's latest
    // counter_snapshot on a restart (or an older one, if it crashed before saving its own).
    return std::make_unique<counter>(config, observer, last.get<counter_snapshot>());
  };
  return spec;
}

}  // namespace unstable_counter
