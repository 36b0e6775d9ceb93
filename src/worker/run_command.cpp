// run_command.cpp: `respawn run KIND [--arg k=v ...]` (see run_command.hpp): one task in a pool
// of workers of this very binary, its progress and outputs as they come, then its outcome. It
// is the smallest whole path through the isolation layer, and what scripts/demo shows the
// buggy kinds with: the node (this process) survives every one of them.
#include "run_command.hpp"

#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "respawn/runtime.hpp"
#include "respawn/worker_pool.hpp"

namespace respawn::detail {

namespace {

int usage(const char* why) {
  if (why != nullptr) std::cerr << "respawn run: " << why << "\n";
  std::cerr << "usage: respawn run KIND [--arg KEY=VALUE ...] [--args JSON] [--deadline-ms N]\n"
               "                        [--memory-mb N] [--cpu-s N] [--timeout-ms N]\n"
               "  Runs one task of KIND in a worker process and prints its outcome as JSON.\n"
               "  VALUE is taken as JSON if it parses (n=10, ok=true), else as a string.\n";
  return 64;
}

bool parse_uint(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 12) return false;
  out = std::stoull(s);
  return true;
}

}  // namespace

int run_command(int argc, char** argv, const kind_registry& kinds) {
  if (argc < 2) return usage("missing KIND");
  std::string kind = argv[1];
  if (kind == "--help" || kind == "-h") return usage(nullptr);
  if (!kinds.contains(kind)) {
    std::cerr << "respawn run: unknown kind '" << kind << "' (respawn kinds lists them)\n";
    return 64;
  }
  nlohmann::json args = nlohmann::json::object();
  task_limits limits;
  limits.deadline = std::chrono::milliseconds{30000};
  std::uint64_t wait_ms = 120000;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + flag).c_str());
    std::string value = argv[++i];
    std::uint64_t n = 0;
    if (flag == "--arg") {
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) return usage("--arg takes KEY=VALUE");
      std::string text = value.substr(eq + 1);
      auto parsed = nlohmann::json::parse(text, nullptr, false);
      args[value.substr(0, eq)] = parsed.is_discarded() ? nlohmann::json(text) : parsed;
    } else if (flag == "--args") {
      args = nlohmann::json::parse(value, nullptr, false);
      if (args.is_discarded() || !args.is_object()) return usage("--args takes a JSON object");
    } else if (flag == "--deadline-ms" && parse_uint(value, n)) {
      limits.deadline = std::chrono::milliseconds{n};
    } else if (flag == "--memory-mb" && parse_uint(value, n)) {
      limits.memory_mb = static_cast<std::uint32_t>(n);
    } else if (flag == "--cpu-s" && parse_uint(value, n)) {
      limits.cpu_seconds = static_cast<std::uint32_t>(n);
    } else if (flag == "--timeout-ms" && parse_uint(value, n)) {
      wait_ms = n;
    } else {
      return usage(("bad option " + flag + " " + value).c_str());
    }
  }

  runtime rt{runtime_config{}};
  worker_pool_config config;
  config.name = "run";
  config.min_workers = 1;
  config.max_workers = 1;
  auto pool = start_worker_pool(rt, config);
  scoped_process me{rt};
  task_request task;
  task.id = 1;
  task.kind = kind;
  task.args = args.dump();
  task.limits = limits;
  task.reply_to = me.self();
  me.send(pool.manager, submit_task{std::move(task)});

  int code = 2;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds{wait_ms};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::cerr << "respawn run: no outcome within " << wait_ms << " ms\n";
      break;
    }
    message_ptr m = me.receive(left);
    if (!m) continue;
    if (auto* e = m->get_if<task_event>()) {
      const char* type = e->type == task_event_type::progress ? "progress"
                         : e->type == task_event_type::output ? "output"
                                                               : "snapshot";
      std::cout << type << " " << e->value << "\n" << std::flush;
    } else if (auto* o = m->get_if<task_outcome>()) {
      nlohmann::json out{{"kind", kind}, {"status", to_string(o->status)}, {"worker_os_pid", o->os_pid}};
      if (!o->result.empty()) out["result"] = nlohmann::json::parse(o->result, nullptr, false);
      if (!o->error.empty()) out["error"] = o->error;
      if (o->status == task_status::worker_died) out["worker_exit"] = to_string(o->exit);
      std::cout << out.dump() << "\n";
      code = o->status == task_status::succeeded ? 0 : 1;
      break;
    }
  }
  rt.exit(pool.supervisor, exit_reason::shutdown());
  return code;
}

}  // namespace respawn::detail
