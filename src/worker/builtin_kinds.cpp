// builtin_kinds: the demo kinds every respawn binary can run, each showing one way a task ends —
// a result, an exception, a hang, a crash, a runaway allocation, a crash resumed from a snapshot.
// They are what `respawn run` and the tests drive; docs/job-kinds.md has the table.
//
//   sum {n}            seed 002's demo. The sum 1..n, counted by a loop (a number while it fits in
//                      64 bits, else its decimal string: n = 1e10 gives "50000000005000000000").
//                      n == 13 throws std::domain_error("13 is unlucky"). A negative n loops
//                      forever without looking at cancelled(): only the deadline can end it.
//                      A big n reports progress (0..1) about every 50 ms and stops if cancelled.
//   noop               returns null at once; does not even parse its arguments.
//   sleep {ms}         sleeps ms milliseconds in slices of at most 10 ms, stopping early if
//                      cancelled; returns {"slept_ms": ms}.
//   fib {n}            naive recursive Fibonacci (slow on purpose, n <= 92), reporting the fraction
//                      of calls done about every 50 ms and stopping if cancelled.
//   fail {message}     throws std::runtime_error(message), "failed on purpose" by default.
//   loop               never returns and never looks at cancelled(): a hung task.
//   crash {signal}     dies by the signal, "SEGV" (a write through a null pointer, the default) or
//                      "ABRT" (std::abort()); anything else throws std::invalid_argument.
//   oom {mb}           allocates and touches mb MiB (default 1024) in 1 MiB chunks, keeping them;
//                      returns {"allocated_mb": mb} if it got them. Under a memory limit smaller
//                      than mb, the worker exits with exit_memory_limit.
//   counter {to, snapshot_every}
//                      seed 003's unstable counter in a worker: counts up by one from the restored
//                      snapshot's "value" (or 0) to `to` (default 300), saving the snapshot
//                      {"value": v} and emitting it as an output every snapshot_every counts
//                      (default 10). Its value is a uint8_t: counting past 255 aborts the worker,
//                      the next attempt resumes from the last snapshot and crashes again, until
//                      the job's max attempts ends it. With to <= 255 it returns {"value": to}.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "respawn/kinds.hpp"

namespace respawn {
namespace {

using clock_type = std::chrono::steady_clock;
// 128 bits hold the sum 1..n for any 64-bit n; __extension__ tells -Wpedantic we mean it.
__extension__ typedef unsigned __int128 uint128;
constexpr auto progress_interval = std::chrono::milliseconds{50};

// An integer argument; a missing or non-integer one is the caller's mistake, said plainly.
std::int64_t integer_arg(task_context& ctx, const char* kind, const char* name, std::optional<std::int64_t> fallback) {
  const nlohmann::json& args = ctx.args();
  auto it = args.is_object() ? args.find(name) : args.end();
  if (it == args.end()) {
    if (fallback) return *fallback;
    throw std::invalid_argument{std::string{kind} + " needs the integer argument \"" + name + "\""};
  }
  // An unsigned value past INT64_MAX would wrap to a negative one (for sum: the endless loop).
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX)) {
    throw std::invalid_argument{std::string{kind} + ": \"" + name + "\" must be a 64-bit integer, not " + it->dump()};
  }
  return it->get<std::int64_t>();
}

std::string string_arg(task_context& ctx, const char* name, const char* fallback) {
  const nlohmann::json& args = ctx.args();
  auto it = args.is_object() ? args.find(name) : args.end();
  if (it == args.end()) return fallback;
  if (!it->is_string()) {
    throw std::invalid_argument{std::string{"\""} + name + "\" must be a string, not " + it->dump()};
  }
  return it->get<std::string>();
}

// Spins forever. The volatile counter keeps the compiler from deleting the loop (an infinite
// loop without side effects is undefined behaviour it may assume away).
[[noreturn]] void spin_forever() {
  volatile std::uint64_t spins = 0;
  for (;;) spins = spins + 1;
}

// Dies by `signal` for real. Sanitizers install their own SEGV handler, which would turn the
// signal into an ordinary exit code: the default action is put back first.
[[noreturn]] __attribute__((no_sanitize("address", "undefined"))) void die_by(int signal) {
  std::signal(signal, SIG_DFL);
  if (signal == SIGSEGV) {
    // Both volatile: the pointer, so that the compiler cannot see the null and emit a trap
    // instead; the pointee, so that it cannot drop the store as dead before std::abort().
    volatile int* volatile target = nullptr;
    *target = 1;
  }
  std::abort();  // SIGABRT, or the fallback if the write above somehow survived
}

std::string decimal(uint128 v) {
  if (v == 0) return "0";
  std::string digits;
  for (; v > 0; v /= 10) digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  return digits;
}

nlohmann::json sum(task_context& ctx) {
  std::int64_t n = integer_arg(ctx, "sum", "n", std::nullopt);
  if (n == 13) throw std::domain_error{"13 is unlucky"};
  if (n < 0) spin_forever();
  // Counted in chunks so that the clock is read rarely; 2^20 additions take well under 50 ms.
  constexpr std::uint64_t chunk = 1 << 20;
  auto last_report = clock_type::now();
  uint128 total = 0;
  auto limit = static_cast<std::uint64_t>(n);
  for (std::uint64_t i = 1; i <= limit;) {
    std::uint64_t end = limit - i < chunk ? limit : i + chunk - 1;
    for (; i <= end; ++i) total += i;
    if (i <= limit) {
      if (ctx.cancelled()) return nullptr;
      if (auto now = clock_type::now(); now - last_report >= progress_interval) {
        ctx.progress(static_cast<double>(i) / static_cast<double>(limit));
        last_report = now;
      }
    }
  }
  if (total <= UINT64_MAX) return static_cast<std::uint64_t>(total);
  return decimal(total);
}

nlohmann::json sleep_kind(task_context& ctx) {
  std::int64_t ms = integer_arg(ctx, "sleep", "ms", std::nullopt);
  // Bounded so that now() + ms cannot overflow the clock.
  constexpr std::int64_t max_ms = 366LL * 24 * 3600 * 1000;
  if (ms < 0 || ms > max_ms) throw std::invalid_argument{"sleep: ms must be in 0.." + std::to_string(max_ms)};
  auto until = clock_type::now() + std::chrono::milliseconds{ms};
  while (!ctx.cancelled()) {
    auto left = until - clock_type::now();
    if (left <= clock_type::duration::zero()) break;
    std::this_thread::sleep_for(std::min<clock_type::duration>(left, std::chrono::milliseconds{10}));
  }
  return {{"slept_ms", ms}};
}

// Naive Fibonacci that counts its calls, so that it can say how far along it is.
class fib_run {
 public:
  struct stopped {};  // thrown to unwind the recursion once the task is cancelled

  fib_run(task_context& ctx, std::uint64_t expected_calls) : ctx_{ctx}, expected_calls_{expected_calls} {}

  std::uint64_t fib(int n) {
    if ((++calls_ & 0xffff) == 0) check_in();
    return n < 2 ? static_cast<std::uint64_t>(n) : fib(n - 1) + fib(n - 2);
  }

 private:
  void check_in() {
    if (ctx_.cancelled()) throw stopped{};
    if (auto now = clock_type::now(); now - last_report_ >= progress_interval) {
      ctx_.progress(static_cast<double>(calls_) / static_cast<double>(expected_calls_));
      last_report_ = now;
    }
  }

  task_context& ctx_;
  const std::uint64_t expected_calls_;
  std::uint64_t calls_ = 0;
  clock_type::time_point last_report_ = clock_type::now();
};

nlohmann::json fib(task_context& ctx) {
  std::int64_t n = integer_arg(ctx, "fib", "n", std::nullopt);
  // fib(93) overflows 64 bits (and naive fib(92) would outlive us all anyway).
  if (n < 0 || n > 92) throw std::invalid_argument{"fib: n must be in 0..92, not " + std::to_string(n)};
  // The naive recursion makes 2*fib(n+1)-1 calls; fib(n+1) computed the quick way first.
  uint128 a = 0, b = 1;
  for (std::int64_t i = 0; i < n + 1; ++i) {
    uint128 next = a + b;
    a = b;
    b = next;
  }
  uint128 expected = 2 * a - 1;
  fib_run run{ctx, expected > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(expected)};
  try {
    return run.fib(static_cast<int>(n));
  } catch (const fib_run::stopped&) {
    return nullptr;  // cancelled: the worker reports the task as cancelled whatever we return
  }
}

nlohmann::json crash(task_context& ctx) {
  std::string name = string_arg(ctx, "signal", "SEGV");
  if (name == "SEGV") die_by(SIGSEGV);
  if (name == "ABRT") die_by(SIGABRT);
  throw std::invalid_argument{"crash: unknown signal \"" + name + "\" (SEGV or ABRT)"};
}

nlohmann::json oom(task_context& ctx) {
  std::int64_t mb = integer_arg(ctx, "oom", "mb", 1024);
  if (mb < 0) throw std::invalid_argument{"oom: mb must not be negative"};
  constexpr std::size_t chunk = 1 << 20;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<std::unique_ptr<char[]>> kept;
  for (std::int64_t i = 0; i < mb; ++i) {
    auto block = std::make_unique_for_overwrite<char[]>(chunk);
    // Touch every page: memory that is only reserved would not count against a cgroup limit.
    for (std::size_t at = 0; at < chunk; at += page) static_cast<volatile char*>(block.get())[at] = 1;
    kept.push_back(std::move(block));
  }
  return {{"allocated_mb", mb}};
}

nlohmann::json counter(task_context& ctx) {
  std::int64_t to = integer_arg(ctx, "counter", "to", 300);
  std::int64_t snapshot_every = integer_arg(ctx, "counter", "snapshot_every", 10);
  if (snapshot_every < 1) throw std::invalid_argument{"counter: snapshot_every must be at least 1"};
  std::int64_t value = 0;
  if (const auto& restored = ctx.restored_snapshot(); restored && restored->contains("value")) {
    value = restored->at("value").get<std::int64_t>();
  }
  while (value < to) {
    if (ctx.cancelled()) return nullptr;
    // The seed's value is a u8 that panics on overflow: here the whole worker goes down, and the
    // next attempt starts from the last snapshot (docs/job-kinds.md).
    if (value == 255) die_by(SIGABRT);
    ++value;
    if (value % snapshot_every == 0) {
      nlohmann::json state = {{"value", value}};
      ctx.save_snapshot(state);
      ctx.emit(state);
    }
  }
  return {{"value", value}};
}

}  // namespace

kind_registry builtin_kinds() {
  kind_registry kinds;
  kinds.add("sum", sum);
  kinds.add("noop", [](task_context&) -> nlohmann::json { return nullptr; });
  kinds.add("sleep", sleep_kind);
  kinds.add("fib", fib);
  kinds.add("fail", [](task_context& ctx) -> nlohmann::json {
    throw std::runtime_error{string_arg(ctx, "message", "failed on purpose")};
  });
  kinds.add("loop", [](task_context&) -> nlohmann::json { spin_forever(); });
  kinds.add("crash", crash);
  kinds.add("oom", oom);
  kinds.add("counter", counter);
  // A session kind: each input is answered with itself (docs/sessions.md).
  kinds.add_session("echo", [](task_context& ctx) -> nlohmann::json {
    const auto& args = ctx.args();
    auto it = args.find("data");
    return it == args.end() ? nlohmann::json(nullptr) : *it;
  });
  return kinds;
}

}  // namespace respawn
