// supervisor: OTP's supervisor behaviour. A supervisor is a process that starts its children,
// links to them, traps their exits, and restarts them by a strategy (one_for_one, one_for_all,
// rest_for_one) and their restart type (permanent, transient, temporary), at most `intensity`
// restarts per `period`; past that it shuts its children down in reverse start order and exits
// with `shutdown`, so its own parent decides (escalation). Shutting a child down is asynchronous:
// monitor, send `shutdown`, wait up to the child's timeout, then kill; the supervisor keeps
// handling its mailbox meanwhile. A child may save recovery snapshots; its replacement starts
// from the latest one. An optional exponential backoff (with jitter and a cap) delays restarts.
//
// dynamic_supervisor: OTP's simple_one_for_one / Elixir's DynamicSupervisor: children of one spec
// started at run time (start_child), optionally at most max_children.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "respawn/process.hpp"
#include "respawn/snapshot.hpp"

namespace respawn {

enum class restart_type : std::uint8_t { permanent, transient, temporary };
enum class child_type : std::uint8_t { worker, supervisor };
enum class strategy : std::uint8_t { one_for_one, one_for_all, rest_for_one };

const char* to_string(restart_type) noexcept;
const char* to_string(child_type) noexcept;
const char* to_string(strategy) noexcept;

// How a child is stopped: `shutdown`, then `kill` after the timeout; or at once with `kill`.
struct shutdown_spec {
  std::chrono::milliseconds timeout{5000};
  bool brutal_kill = false;
  static shutdown_spec brutal() { return {std::chrono::milliseconds{0}, true}; }
  static shutdown_spec after(std::chrono::milliseconds t) { return {t, false}; }
  static shutdown_spec infinity() { return {std::chrono::milliseconds::max(), false}; }
};

// Delay before restart number k (k = 0, 1, ...) of a child: min(max, initial * multiplier^k),
// then +/- jitter (a fraction). The count starts again once a child has run for `reset_after`.
struct backoff_spec {
  std::chrono::milliseconds initial{10};
  std::chrono::milliseconds max{1000};
  double multiplier = 2.0;
  double jitter = 0.1;
  std::chrono::milliseconds reset_after{5000};
};

// Makes the process of a child; given the latest recovery snapshot (empty on a first start).
using child_start = std::function<std::unique_ptr<process>(const snapshot& last)>;

struct child_spec {
  std::string id{};
  child_start start{};
  restart_type restart = restart_type::permanent;
  // Unset: 5 s for a worker, infinity for a supervisor (OTP's defaults).
  std::optional<shutdown_spec> shutdown{};
  child_type type = child_type::worker;
  std::string name{};  // registered name, registered again by every restart ("" for none)
  std::optional<backoff_spec> backoff{};
  // Passed on to spawn for every start of the child (spawn_options has their meaning).
  std::uint32_t mailbox_bound = 0;
  std::chrono::milliseconds handler_budget{0};
  bool dedicated_thread = false;

  // A child_start that constructs P(args...) (copies of args) and ignores snapshots.
  template <class P, class... Args>
  static child_start make(Args... args) {
    return [=](const snapshot&) { return std::make_unique<P>(args...); };
  }
};

struct supervisor_flags {
  respawn::strategy strategy = respawn::strategy::one_for_one;
  std::uint32_t intensity = 3;               // max restarts ...
  std::chrono::milliseconds period{5000};    // ... in this window
  std::uint64_t seed = 0;                    // for backoff jitter; 0: derived from the pid
  // Crash reports are rate-limited per child id (a crash loop must not flood the log): at most
  // crash_reports_max per crash_report_period; the rest are counted and summarised in one line
  // ("N more crashes of child 'X' suppressed in the last P ms") when the period ends.
  std::uint32_t crash_reports_max = 10;
  std::chrono::milliseconds crash_report_period{1000};
};

struct supervisor_spec {
  supervisor_flags flags{};
  std::vector<child_spec> children{};
};

// One child as the supervisor sees it (which_children, the tree).
struct child_info {
  std::string id{};
  respawn::pid pid{};  // null if not running
  std::string name{};
  restart_type restart = restart_type::permanent;
  child_type type = child_type::worker;
  std::uint64_t restarts = 0;
  std::string last_exit_reason{};  // "" if it never exited
};

// Requests a supervisor answers with call() (the reply type is in the comment).
struct which_children {};      // -> std::vector<child_info>
struct terminate_child {       // -> bool (false: no such running child); not restarted after
  std::string id;
};
struct restart_child {         // -> bool (false: unknown id or already running)
  std::string id;
};
struct start_child {           // dynamic_supervisor -> pid (null: max_children reached or failed)
  std::any argument;
};
struct count_children {};      // -> std::size_t (running children)

class supervisor : public process {
 public:
  explicit supervisor(supervisor_spec spec);
  ~supervisor() override;

  void init() override;
  void handle(message& m) override;
  void terminate(const exit_reason& reason) override;

  // A child_start that makes a supervisor for `spec` (for supervisors under supervisors).
  static child_start of(supervisor_spec spec);

 protected:
  struct child;
  struct op;
  // dynamic_supervisor adds children at run time through these.
  child& add_child(child_spec spec);
  // acknowledged: the supervisor waits for the child's start_ack before its next start (the
  // static children, at start and at restarts); a dynamic supervisor's start_child does not.
  bool start(child& c, bool acknowledged = false);
  void remove(child& c);
  std::vector<std::unique_ptr<child>>& children() noexcept { return children_; }
  std::size_t running_children() const noexcept { return by_pid_.size(); }
  supervisor_flags flags_;

 private:
  void on_child_exit(child& c, exit_reason reason, snapshot state);
  void failed_start(child& c, exit_reason reason, snapshot state);
  bool record_restart();  // false: intensity exceeded
  void give_up();
  void schedule_restart(std::vector<child*> group, child& crashed);
  void enqueue_stop(child& c);
  void run_ops();
  void begin_stop(child& c);
  void finish_stop(child& c);
  void report_crash(const child& c, const exit_reason& reason);
  child* find(pid p);
  child* find(const std::string& id);
  void set_pid(child& c, pid p);  // every change of a child's pid goes through here (the index)
  std::chrono::milliseconds backoff_delay(child& c);

  std::vector<std::unique_ptr<child>> children_;  // in start order
  std::unordered_map<respawn::pid, child*> by_pid_;  // running children
  std::unordered_map<std::string, child*> by_id_;
  std::deque<std::chrono::steady_clock::time_point> restarts_;  // within the period; <= intensity+1
  std::deque<std::unique_ptr<op>> ops_;  // stops and starts, in order; the first may be running
  child* stopping_ = nullptr;            // the child whose shutdown the first op waits for
  child* starting_ = nullptr;            // the child whose start_ack the first op waits for
  bool initial_ = false;                 // the first op is the start of every child at init
  bool giving_up_ = false;
  exit_reason exit_with_;
  std::minstd_rand random_;
  // Crash reports per child id in the current period (see supervisor_flags::crash_reports_max).
  struct crash_window {
    std::chrono::steady_clock::time_point start{};
    std::uint32_t reported = 0;
    std::uint64_t suppressed = 0;
    std::string last_reason{};
  };
  std::unordered_map<std::string, crash_window> crash_windows_;
  void summarise_crashes(const std::string& id);
};

// OTP's supervisor:start_link for a root supervisor: spawns it and waits until its whole tree
// has started (every child acknowledged, recursively). Returns its pid; throws spawn_error if it
// failed to start (a child's start failed) or had not started within `timeout`. Call from a
// thread that is not a process (in deterministic mode it drives the system while it waits).
pid start_supervisor(runtime& rt, supervisor_spec spec, spawn_options options = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds{60});

struct dynamic_supervisor_spec {
  child_spec child{};  // its start function gets the start_child argument through make_child
  std::function<std::unique_ptr<process>(const std::any& argument, const snapshot& last)> make_child{};
  std::uint32_t intensity = 3;
  std::chrono::milliseconds period{5000};
  std::size_t max_children = 0;  // 0: no limit
};

class dynamic_supervisor final : public supervisor {
 public:
  explicit dynamic_supervisor(dynamic_supervisor_spec spec);
  void handle(message& m) override;

 private:
  dynamic_supervisor_spec spec_;
  std::uint64_t next_id_ = 0;
};

}  // namespace respawn

namespace respawn {

// The supervision tree as data: a supervisor and, recursively, its children (asked with
// which_children; a child whose type is supervisor is asked in turn).
struct supervision_node {
  std::string id;  // the child id ("" for the root)
  respawn::pid pid{};
  std::string name{};
  child_type type = child_type::supervisor;
  restart_type restart = restart_type::permanent;
  std::uint64_t restarts = 0;
  std::string last_exit_reason{};
  std::vector<supervision_node> children{};
};

// Walks the tree under `root` with calls (each waiting up to `timeout`); a supervisor that does
// not answer is listed without children. Call from a thread that is not a process.
supervision_node supervision_tree(runtime& rt, pid root, std::chrono::milliseconds timeout);
// The tree as JSON: {"id":..,"pid":"<0.1.1>","name":..,"type":..,"restart":..,"restarts":..,
// "last_exit_reason":..,"children":[...]}.
std::string to_json(const supervision_node& node);

}  // namespace respawn
