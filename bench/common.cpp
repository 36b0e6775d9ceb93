// common: argument parsing, JSON output, VmRSS and the driver hand-off (see common.hpp).
#include "common.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace rb {

namespace {

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr,
               "respawn-bench: %s\n"
               "usage: respawn-bench SCENARIO [--n N] [--m M] [--p P] [--k K] [--r R] [--threads T]\n"
               "  scenarios: spawn (n), pingpong (m), ring (n, m), fanin (p, k), memory (n), restart (r),\n"
               "             worker_roundtrip (n tasks, p worker processes, k tasks in flight per worker)\n"
               "  defaults:  spawn/memory n=1000000; ring n=1000 m=1000000; pingpong m=1000000;\n"
               "             fanin p=1000 k=1000; threads = number of cores\n",
               why.c_str());
  std::exit(2);
}

std::int64_t parse_positive(const std::string& flag, const std::string& text) {
  std::int64_t v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc{} || ptr != last) usage_error("--" + flag + ": '" + text + "' is not an integer");
  if (v <= 0) usage_error("--" + flag + " must be positive (got " + text + ")");
  return v;
}

}  // namespace

options parse_args(int argc, char** argv) {
  options o;
  if (argc < 2) usage_error("missing SCENARIO");
  o.scenario = argv[1];
  if (o.scenario == "-h" || o.scenario == "--help") usage_error("help");
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) usage_error("unexpected argument '" + arg + "'");
    std::string flag = arg.substr(2);
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= argc) usage_error("--" + flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "n") {
      o.n = parse_positive(flag, value);
      o.n_given = true;
    } else if (flag == "m") {
      o.m = parse_positive(flag, value);
    } else if (flag == "p") {
      o.p = parse_positive(flag, value);
      o.p_given = true;
    } else if (flag == "k") {
      o.k = parse_positive(flag, value);
      o.k_given = true;
    } else if (flag == "r") {
      o.r = parse_positive(flag, value);
    } else if (flag == "threads") {
      std::int64_t t = parse_positive(flag, value);
      if (t > 1024) usage_error("--threads: at most 1024");
      o.threads = static_cast<unsigned>(t);
    } else {
      usage_error("unknown option '" + arg + "'");
    }
  }
  // pids are 32-bit indices and the counts travel as int64: keep sizes sane.
  constexpr std::int64_t limit = std::int64_t{1} << 30;
  if (o.n > limit || o.p > limit || o.p * o.k > (std::int64_t{1} << 40)) usage_error("size too large");
  if (o.threads == 0) {
    o.threads = std::thread::hardware_concurrency();
    if (o.threads == 0) o.threads = 1;
  }
  return o;
}

respawn::runtime_config config_for(const options& o) {
  respawn::runtime_config c;
  c.scheduler_threads = o.threads;
  // RESPAWN_BENCH_WATCHDOG=0 measures the watchdog's cost (one CAS per message).
  if (const char* w = std::getenv("RESPAWN_BENCH_WATCHDOG"); w != nullptr && std::string{w} == "0") {
    c.handler_budget = std::chrono::milliseconds{0};
  }
  return c;
}

std::int64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return -1;
}

json_line::json_line(const char* bench, unsigned workers) {
  out_ = "\"runtime\":\"respawn\",\"bench\":\"";
  out_ += bench;
  out_ += '"';
  num("workers", workers);
}

void json_line::key(const char* k) {
  out_ += ",\"";
  out_ += k;
  out_ += "\":";
}

json_line& json_line::num(const char* k, std::int64_t v) {
  key(k);
  out_ += std::to_string(v);
  return *this;
}

json_line& json_line::real(const char* k, double v, int decimals) {
  key(k);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  out_ += buf;
  return *this;
}

json_line& json_line::timing(double seconds, std::int64_t ops) {
  real("seconds", seconds, 6);
  real("per_op_ns", seconds * 1e9 / static_cast<double>(ops), 1);
  real("ops_per_s", static_cast<double>(ops) / seconds, 1);
  return *this;
}

void json_line::print() const {
  std::printf("{%s}\n", out_.c_str());
  std::fflush(stdout);
}

double run_driver(respawn::runtime& /*rt*/, respawn::scoped_process& reporter, respawn::pid driver) {
  reporter.send(driver, start{});
  std::optional<result> r = reporter.receive<result>(driver_timeout);
  if (!r) {
    std::fprintf(stderr, "respawn-bench: no result from the driver within %lld s (hang?)\n",
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(driver_timeout).count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  return r->seconds;
}

}  // namespace rb
