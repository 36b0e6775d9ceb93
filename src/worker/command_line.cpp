// command_line: respawn::main, the command line every respawn binary shares, so that one file is
// both the node and its workers (the node starts a worker by exec'ing its own binary with
// `worker`). Only dispatch lives here; each command is implemented where its subject is.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "exit_codes.hpp"
#include "respawn/kinds.hpp"
#include "run_command.hpp"
#include "worker_main.hpp"

namespace respawn {
namespace {

constexpr const char* usage_text =
    "usage: %s COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  serve [--data-dir DIR] [--listen ADDR:PORT] [--workers N]\n"
    "                               the job server (HTTP API, engine, workers) under heart\n"
    "  user add|list|revoke NAME    manage the users of a server's data directory\n"
    "  submit KIND [--arg k=v ...] [--wait]   submit a job to a server (also: watch ID, jobs,\n"
    "                               cancel ID); see docs/cli.md\n"
    "  run KIND [--arg k=v ...]     run one task of KIND in a pool of workers, print its outcome\n"
    "  kinds                        list the job kinds this binary can run\n"
    "  worker --fd N --parent PID   serve tasks over the socket N for the node PID (started by a\n"
    "                               node, not by hand)\n"
    "  version                      print the build identity\n"
    "  help                         print this text\n";

int usage(std::FILE* to, const char* program, int code) {
  std::fprintf(to, usage_text, program);
  return code;
}

// A non-negative decimal integer, all of `text`.
bool parse_integer(const char* text, long& out) {
  std::string_view s{text};
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), out);
  return error == std::errc{} && end == s.data() + s.size() && out >= 0;
}

int worker_command(int argc, char** argv, const kind_registry& kinds) {
  long fd = -1;
  long parent = -1;
  long memory = 0, cpu = 0, files = 0, file_size = 0;
  for (int i = 1; i < argc; ++i) {
    long* target = std::strcmp(argv[i], "--fd") == 0                  ? &fd
                   : std::strcmp(argv[i], "--parent") == 0            ? &parent
                   : std::strcmp(argv[i], "--task-memory-mb") == 0    ? &memory
                   : std::strcmp(argv[i], "--task-cpu-seconds") == 0  ? &cpu
                   : std::strcmp(argv[i], "--max-open-files") == 0    ? &files
                   : std::strcmp(argv[i], "--max-file-size-mb") == 0  ? &file_size
                                                                      : nullptr;
    if (target == nullptr || i + 1 >= argc || !parse_integer(argv[i + 1], *target)) {
      std::fprintf(stderr,
                   "respawn worker: bad argument \"%s\"; expected [--task-memory-mb N] [--task-cpu-seconds N] "
                   "[--max-open-files N] [--max-file-size-mb N] --fd N --parent PID\n",
                   argv[i]);
      return wire::exit_usage;
    }
    ++i;
  }
  if (fd < 0 || parent <= 0) {
    std::fprintf(stderr, "respawn worker: both --fd N and --parent PID are required\n");
    return wire::exit_usage;
  }
  detail::worker_setup setup;
  setup.task_memory_mb = static_cast<std::uint32_t>(std::min<long>(memory, UINT32_MAX));
  setup.task_cpu_seconds = static_cast<std::uint32_t>(std::min<long>(cpu, UINT32_MAX));
  setup.max_open_files = static_cast<std::uint64_t>(files);
  setup.max_file_size_mb = static_cast<std::uint64_t>(file_size);
  detail::run_worker(static_cast<int>(fd), static_cast<pid_t>(parent), kinds, setup);
}

}  // namespace

int main(int argc, char** argv, const kind_registry& kinds) {
  const char* program = argc > 0 ? argv[0] : "respawn";
  if (argc < 2) return usage(stdout, program, 0);
  std::string_view command = argv[1];
  if (command == "worker") return worker_command(argc - 1, argv + 1, kinds);
  if (command == "run") return detail::run_command(argc - 1, argv + 1, kinds);
  if (command == "kinds") {
    for (const auto& name : kinds.names()) std::printf("%s\n", name.c_str());
    return 0;
  }
  if (command == "version") {
    std::printf("%s\n", build_id().c_str());
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") return usage(stdout, program, 0);
  std::fprintf(stderr, "%s: unknown command \"%s\"\n\n", program, argv[1]);
  return usage(stderr, program, wire::exit_usage);
}

}  // namespace respawn
