// unstable_counter: the demo of seed 003's counter under a Respawn supervisor. It prints the
// counting (every 50th count, not every tick), each crash as the supervisor reports it (crash
// reports go through runtime_config::log, which we print here), and the value each replacement
// resumes from: the latest recovery snapshot, never 0 once there is one. Random faults show
// resumption mid-count; the overflow at 255 shows a snapshot that leads straight back to the
// crash, and the supervisor's restart intensity ending that loop.
//
// The runtime runs in deterministic mode: this program moves its manual clock 1 ms at a time and
// runs whatever became runnable, so the pids, the faults (a seeded PRNG) and the whole output are
// the same on every run.
//
// Usage: unstable_counter [SEED]   (default 7: a seed whose run shows both kinds of crash)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <respawn/respawn.hpp>

#include "counter.hpp"

namespace {

using namespace std::chrono_literals;
using unstable_counter::counter_event;

constexpr std::uint32_t intensity = 5;
constexpr std::chrono::milliseconds period{1000};
constexpr std::chrono::milliseconds run_at_most{20s};

// Prints what happens, each line stamped with the runtime's clock since the start.
class narrator {
 public:
  void start_clock(std::chrono::steady_clock::time_point t0) { t0_ = t0; }

  void on_event(const counter_event& e) {
    switch (e.what) {
      case counter_event::kind::started:
        if (!e.resumed) {
          line(e.at, e.instance.to_string() + " starts from scratch at 0");
        } else {
          std::string lost = last_count_ ? " (its predecessor had counted to " + std::to_string(*last_count_) + ")" : "";
          line(e.at, e.instance.to_string() + " resumes at " + std::to_string(e.value) + ", the last snapshot" + lost);
        }
        ++starts_;
        if (e.resumed && e.value == 0) ++resumed_from_zero_;
        last_count_ = e.value;
        break;
      case counter_event::kind::counted:
        if (e.value % 50 == 0) line(e.at, "count " + std::to_string(e.value));
        last_count_ = e.value;
        break;
      case counter_event::kind::snapshot_saved:
        break;  // every 100 ms: too many to print; the resumed values show them
      case counter_event::kind::stray_tick:
        line(e.at, "STRAY TICK: " + e.instance.to_string() + " got a timer of another instance");
        break;
    }
  }

  void on_log(std::string_view text, std::chrono::steady_clock::time_point at) {
    line(at, std::string{text});
    if (text.starts_with("crash report:")) ++crashes_;
  }

  void line(std::chrono::steady_clock::time_point at, const std::string& text) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - t0_).count();
    std::printf("   %5lld ms  %s\n", static_cast<long long>(ms), text.c_str());
  }

  int starts_ = 0;
  int crashes_ = 0;
  int resumed_from_zero_ = 0;

 private:
  std::chrono::steady_clock::time_point t0_{};
  std::optional<int> last_count_;
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 7;
  if (argc == 2) {
    seed = std::stoull(argv[1]);
  } else if (argc > 2) {
    std::cerr << "usage: unstable_counter [SEED]\n";
    return 2;
  }

  narrator out;
  respawn::runtime* clock = nullptr;  // set below; the log callback stamps lines with its time
  respawn::runtime_config config;
  config.deterministic = true;
  config.log = [&](std::string_view line) { out.on_log(line, clock->now()); };
  respawn::runtime rt{config};
  clock = &rt;
  out.start_clock(rt.now());

  unstable_counter::counter_config counter;
  counter.random_fault_one_in = 60;
  counter.seed = seed;

  respawn::supervisor_spec spec;
  spec.flags.strategy = respawn::strategy::one_for_one;
  spec.flags.intensity = intensity;
  spec.flags.period = period;
  spec.children.push_back(
      unstable_counter::counter_child_spec(counter, [&](const counter_event& e) { out.on_event(e); }));

  std::cout << "Seed 003's unstable counter on Respawn: it counts every " << counter.tick_interval.count()
            << " ms, saves a recovery snapshot every " << counter.snapshot_interval.count()
            << " ms,\noverflows past 255 (a uint8_t), and fails at random about once in "
            << counter.random_fault_one_in << " ticks (seed " << seed << ").\n";

  respawn::spawn_options options;
  options.name = "counter_supervisor";
  respawn::scoped_process watcher{rt};
  respawn::pid supervisor = rt.spawn<respawn::supervisor>(options, spec);
  watcher.monitor(supervisor);
  std::cout << "Its supervisor " << supervisor.to_string() << ": one_for_one, at most " << intensity
            << " restarts in " << period.count() << " ms, then it gives up.\n\n";

  auto deadline = rt.now() + run_at_most;
  rt.run_until_idle();
  while (rt.alive(supervisor) && rt.now() < deadline) {
    rt.advance(1ms);
    rt.run_until_idle();
  }

  std::cout << '\n';
  if (auto gone = watcher.receive<respawn::down>(0ms)) {
    out.line(rt.now(), "the supervisor ended with reason " + gone->reason.to_string());
  }
  std::cout << "\n" << out.crashes_ << " crashes, " << out.starts_ << " starts; "
            << (out.resumed_from_zero_ == 0 ? "no restart resumed from 0.\n" : "SOME RESTARTS RESUMED FROM 0!\n")
            << "After the first overflow each replacement resumes from a snapshot a few counts short of 255\n"
               "and overflows again within "
            << counter.snapshot_interval.count()
            << " ms; Kompact would restart it forever, the supervisor's restart\n"
               "intensity stops it.\n";
  return out.resumed_from_zero_ == 0 ? 0 : 1;
}
