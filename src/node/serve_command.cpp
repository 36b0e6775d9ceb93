// serve_command.cpp: parses `respawn serve`'s flags, puts the node under heart, and runs the node:
// it opens the store and the users, starts the engine and the HTTP API, prints where to find them,
// then waits for SIGTERM or SIGINT and drains -- no new connections, no new attempts, running
// attempts given up to --drain-timeout to finish, the log flushed -- and exits 0. Jobs still
// queued (or cut off at the timeout) stay in the log and run at the next start.
//
// Let it crash all the way up (issue 12): the node is one supervision tree. node_keeper watches
// the engine's root supervisor; when it exits the node exits 70 (EX_SOFTWARE) and heart starts a
// new node with backoff. A node that cannot start (the data directory is taken or unusable, a
// database is corrupt, the engine does not start) exits 78 (EX_CONFIG) with the error, and heart
// does not start it again.
#include "serve_command.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "data_dir.hpp"
#include "heart.hpp"
#include "node_keeper.hpp"
#include "respawn/engine.hpp"
#include "respawn/http_server.hpp"
#include "respawn/runtime.hpp"
#include "respawn/users.hpp"
#include "respawn/worker_pool.hpp"
#include "store/sqlite_job_store.hpp"

namespace respawn::node {

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int exit_usage = 64;
constexpr int exit_software = 70;  // EX_SOFTWARE: the node's tree died; heart starts a new node
constexpr int exit_config = 78;

// Builtin kinds that misbehave on purpose (a hang, a crash, a runaway allocation, a failure, a
// crash loop): the demo's and the tests', accepted only with --demo. Anyone with a token could
// otherwise burn a worker per request.
constexpr const char* demo_only_kinds[] = {"loop", "crash", "oom", "fail", "counter"};

// Per-task defaults and bounds (--task-memory-mb, --task-cpu-seconds), and the worker's own
// file limits (docs/workers.md).
constexpr unsigned long default_task_memory_mb = 1024;
constexpr unsigned long max_task_memory_mb = 65536;
constexpr unsigned long default_task_cpu_seconds = 3600;
constexpr unsigned long max_task_cpu_seconds = 86400;
// A job's attempt is killed past its timeout (a request's timeout_ms, else --attempt-timeout),
// and retried up to its max_attempts (a request's, else --max-attempts): bounds of the HTTP API's
// own (a week, 1000 attempts), so that any default serve takes a request could also ask for.
constexpr unsigned long default_attempt_timeout_s = 60;
constexpr unsigned long max_attempt_timeout_s = 7UL * 24 * 3600;
constexpr unsigned long max_max_attempts = 1000;
constexpr const char* worker_max_open_files = "256";
constexpr const char* worker_max_file_size_mb = "1024";

constexpr const char* usage_text =
    "usage: respawn serve [--data-dir DIR] [--listen ADDRESS:PORT] [--workers N] [--running N]\n"
    "                     [--running-per-user N] [--workers-per-user N] [--session-workers N]\n"
    "                     [--attempt-timeout SECONDS] [--max-attempts N] [--task-memory-mb N]\n"
    "                     [--task-cpu-seconds N] [--drain-timeout SECONDS] [--demo] [--no-heart]\n"
    "\n"
    "  --data-dir DIR        where the job log (jobs.db), the users (users.db) and demo.token\n"
    "                        live (default: $RESPAWN_DATA_DIR, else ./respawn-data)\n"
    "  --listen ADDR:PORT    the HTTP API's address (default 127.0.0.1:8080)\n"
    "  --workers N           worker processes for jobs at most (default 4)\n"
    "  --running N           attempts in flight at most (default 64): jobs sent to the pool,\n"
    "                        running or waiting for a worker; more suits many short jobs\n"
    "  --running-per-user N  attempts in flight for one user at most (default 3/4 of --running,\n"
    "                        at least 1), so that one user cannot take every slot\n"
    "  --workers-per-user N  workers one user's jobs may occupy at once (default --workers - 1,\n"
    "                        at least 1), so that one user's long jobs always leave a worker free\n"
    "  --session-workers N   workers kept beyond --workers for session answers only (default 1;\n"
    "                        0: answers share the job workers)\n"
    "  --attempt-timeout S   an attempt of a job without its own timeout_ms is killed after S\n"
    "                        seconds (default 60, at most 604800)\n"
    "  --max-attempts N      attempts of a job without its own max_attempts (default 5, 1..1000)\n"
    "  --task-memory-mb N    memory a task may add to its worker (RLIMIT_AS; default 1024,\n"
    "                        at most 65536); past it the attempt fails \"over its memory limit\"\n"
    "  --task-cpu-seconds N  CPU seconds a task may use (RLIMIT_CPU; default 3600, at most 86400)\n"
    "  --drain-timeout S     on SIGTERM, how long running jobs may take to finish (default 30)\n"
    "  --demo                the demo: a `demo` user (token in DIR/demo.token) and the kinds that\n"
    "                        misbehave on purpose (loop, crash, oom, fail, counter)\n"
    "  --no-heart            run the node without heart (nothing starts it again if it dies)\n"
    "\n"
    "Every limit a job meets, and its defaults, is in docs/jobs.md (\"Limits\"); GET /v1/jobs/ID\n"
    "shows the ones a job runs with (\"limits\").\n";

struct serve_options {
  std::string data_dir;
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t workers = 4;
  std::size_t running = 64;
  std::size_t running_per_user = 0;  // 0: max(1, running * 3 / 4)
  std::size_t workers_per_user = 0;  // 0: workers - 1 (no cap with one worker)
  std::size_t session_workers = 1;
  std::chrono::seconds attempt_timeout{default_attempt_timeout_s};
  std::uint32_t max_attempts = 5;
  unsigned long task_memory_mb = default_task_memory_mb;
  unsigned long task_cpu_seconds = default_task_cpu_seconds;
  std::chrono::seconds drain_timeout{30};
  bool demo = false;
  bool heart = true;
};

bool parse_number(std::string_view text, unsigned long& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc{} && end == text.data() + text.size();
}

std::optional<std::string> parse(int argc, char** argv, serve_options& o) {
  o.data_dir = users::default_data_dir();
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view{argv[++i]};
    };
    if (a == "--no-heart") {
      o.heart = false;
    } else if (a == "--demo") {
      o.demo = true;
    } else if (a == "--running-per-user") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > 100000) return "--running-per-user needs a number from 1 to 100000";
      o.running_per_user = n;
    } else if (a == "--workers-per-user") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > 1024) return "--workers-per-user needs a number from 1 to 1024";
      o.workers_per_user = n;
    } else if (a == "--session-workers") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n > 64) return "--session-workers needs a number from 0 to 64";
      o.session_workers = n;
    } else if (a == "--attempt-timeout") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > max_attempt_timeout_s) {
        return "--attempt-timeout needs seconds, 1 to " + std::to_string(max_attempt_timeout_s);
      }
      o.attempt_timeout = std::chrono::seconds{n};
    } else if (a == "--max-attempts") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > max_max_attempts) {
        return "--max-attempts needs a number from 1 to " + std::to_string(max_max_attempts);
      }
      o.max_attempts = static_cast<std::uint32_t>(n);
    } else if (a == "--task-memory-mb") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > max_task_memory_mb) {
        return "--task-memory-mb needs a number from 1 to " + std::to_string(max_task_memory_mb);
      }
      o.task_memory_mb = n;
    } else if (a == "--task-cpu-seconds") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > max_task_cpu_seconds) {
        return "--task-cpu-seconds needs a number from 1 to " + std::to_string(max_task_cpu_seconds);
      }
      o.task_cpu_seconds = n;
    } else if (a == "--data-dir") {
      auto v = value();
      if (!v || v->empty()) return "--data-dir needs a directory";
      o.data_dir = std::string{*v};
    } else if (a == "--listen") {
      auto v = value();
      auto colon = v ? v->rfind(':') : std::string_view::npos;
      unsigned long port = 0;
      if (!v || colon == std::string_view::npos || !parse_number(v->substr(colon + 1), port) || port > 65535) {
        return "--listen needs ADDRESS:PORT, e.g. 127.0.0.1:8080";
      }
      o.address = std::string{v->substr(0, colon)};
      o.port = static_cast<std::uint16_t>(port);
    } else if (a == "--workers") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > 1024) return "--workers needs a number from 1 to 1024";
      o.workers = n;
    } else if (a == "--running") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n == 0 || n > 100000) return "--running needs a number from 1 to 100000";
      o.running = n;
    } else if (a == "--drain-timeout") {
      auto v = value();
      unsigned long n = 0;
      if (!v || !parse_number(*v, n) || n > 3600) return "--drain-timeout needs seconds, 0 to 3600";
      o.drain_timeout = std::chrono::seconds{n};
    } else if (a == "--help" || a == "-h") {
      return std::string{};
    } else {
      return "unknown argument \"" + std::string{a} + "\"";
    }
  }
  if (o.workers_per_user > o.workers) {
    return "--workers-per-user (" + std::to_string(o.workers_per_user) + ") cannot be more than --workers (" +
           std::to_string(o.workers) + ")";
  }
  return std::nullopt;
}

// The node's registry of kinds it accepts: every kind of the binary, less the demo-only ones
// unless --demo. (Workers are this same binary and could run them: the node refuses them at
// submission.)
kind_registry accepted_kinds(const kind_registry& all, bool demo) {
  if (demo) return all;
  kind_registry kinds;
  for (const auto& name : all.names()) {
    bool demo_only = false;
    for (const char* d : demo_only_kinds) demo_only = demo_only || name == d;
    if (demo_only) continue;
    if (all.is_session(name)) kinds.add_session(name, *all.find(name));
    else kinds.add(name, *all.find(name));
  }
  return kinds;
}

// Many service managers start a process with a soft limit of 1,024 descriptors: each connection,
// worker socket, pidfd and SQLite file takes one. Use what the hard limit allows.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur != r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  std::fprintf(stderr, "respawn serve: open files limit %llu\n", static_cast<unsigned long long>(r.rlim_cur));
}

// The demo user's token: the one in DIR/demo.token while it still lets the demo user in (so a
// client configured with it keeps working across restarts, and no token piles up per start),
// else a new one, written there (0600).
users::user_result<std::string> demo_token(users::user_store& user_db, const std::string& token_path) {
  std::string kept;
  if (std::FILE* f = std::fopen(token_path.c_str(), "r")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f) != nullptr) kept = line;
    std::fclose(f);
    while (!kept.empty() && (kept.back() == '\n' || kept.back() == '\r')) kept.pop_back();
  }
  if (!kept.empty() && user_db.authenticate(kept) == std::optional<std::string>{"demo"}) return kept;
  auto fresh = user_db.ensure("demo");
  if (!fresh.ok()) return fresh;
  auto written = users::write_token_file(token_path, fresh.value());
  if (!written.ok()) {
    std::fprintf(stderr, "respawn serve: cannot write %s: %s\n", token_path.c_str(), written.error().message.c_str());
  }
  return fresh;
}

int run_node(const serve_options& o, const kind_registry& all_kinds, bool& started) {
  const kind_registry kinds = accepted_kinds(all_kinds, o.demo);
  // SIGTERM and SIGINT are waited for by this thread (a signalfd below): block them before any
  // thread exists, so that every thread inherits the mask and none of them takes the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int heart_fd = heart_fd_from_environment();
  if (heart_fd >= 0) {
    ::fcntl(heart_fd, F_SETFL, ::fcntl(heart_fd, F_GETFL) | O_NONBLOCK);
    // Heart dup'ed it without close-on-exec for us; our workers must not get it (a job could
    // beat for a wedged node).
    ::fcntl(heart_fd, F_SETFD, FD_CLOEXEC);
  }
  raise_open_files_limit();

  auto made = make_private_dir(o.data_dir);
  if (!made.ok()) {
    std::fprintf(stderr, "respawn serve: %s\n", made.error().message.c_str());
    return exit_config;
  }
  auto data = fs::absolute(o.data_dir).lexically_normal();
  auto locked = lock_data_dir(data.string());
  if (!locked.ok()) {
    std::fprintf(stderr, "respawn serve: %s\n", locked.error().message.c_str());
    return exit_config;
  }
  data_dir_lock dir_lock = std::move(locked).value();

  store::sqlite_options so;
  so.path = (data / "jobs.db").string();
  auto opened = store::sqlite_job_store::open(so);
  if (!opened.ok()) {
    std::fprintf(stderr, "respawn serve: cannot open the job log %s: %s\n", so.path.c_str(),
                 opened.error().message.c_str());
    return exit_config;
  }
  std::shared_ptr<store::job_store> store{std::move(opened).value()};

  auto users_opened = users::user_store::open(users::users_db_path(data.string()));
  if (!users_opened.ok()) {
    std::fprintf(stderr, "respawn serve: cannot open the users: %s\n", users_opened.error().message.c_str());
    return exit_config;
  }
  std::shared_ptr<users::user_store> user_db{std::move(users_opened).value()};
  auto token_path = (data / "demo.token").string();
  std::optional<users::user_result<std::string>> demo;
  if (o.demo) {
    demo.emplace(demo_token(*user_db, token_path));
    if (!demo->ok()) std::fprintf(stderr, "respawn serve: no demo user: %s\n", demo->error().message.c_str());
  }

  // The root's end wakes this thread through `down`; declared before the runtime, so it outlives
  // every process that may write it.
  int down = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int signals = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (down < 0 || signals < 0) {
    std::fprintf(stderr, "respawn serve: eventfd/signalfd: %s\n", std::strerror(errno));
    return exit_config;
  }
  struct fd_closer {
    int a, b;
    ~fd_closer() {
      ::close(a);
      ::close(b);
    }
  } closer{down, signals};
  auto why_down = std::make_shared<std::string>();

  runtime_config rc;
  runtime rt{rc};
  // Beating from before recovery (which may take long) on; watching the root once it exists.
  pid keeper = rt.spawn<node_keeper>(spawn_options{}, heart_fd, down, why_down).pid;

  engine::engine_config ec_config;
  ec_config.name = "jobs";
  ec_config.pool.min_workers = std::min<std::size_t>(2, o.workers);
  ec_config.pool.max_workers = o.workers;
  // Each worker's own limits, and the default per-task limits a task without its own gets
  // (docs/workers.md): passed on the worker's command line, before --fd and --parent.
  ec_config.pool.worker.args = {"worker",
                                "--task-memory-mb", std::to_string(o.task_memory_mb),
                                "--task-cpu-seconds", std::to_string(o.task_cpu_seconds),
                                "--max-open-files", worker_max_open_files,
                                "--max-file-size-mb", worker_max_file_size_mb};
  // Fair shares (docs/workers.md): one user's tasks occupy at most workers - 1 workers, so that
  // another user's job finds one free however long the first user's run; and session answers
  // have workers of their own beyond --workers, so that batch work never starves them.
  ec_config.pool.max_workers_per_group = o.workers_per_user != 0 ? o.workers_per_user
                                         : o.workers >= 2        ? o.workers - 1
                                                                 : 0;
  ec_config.pool.interactive_workers = o.session_workers;
  // The limits of a job that does not set its own (docs/jobs.md, "Limits").
  ec_config.attempt_timeout = o.attempt_timeout;
  ec_config.retry.attempts_max = o.max_attempts;
  // Attempts in flight: workers pipeline tasks (a short job's round trip is microseconds, its
  // three commits are not), so more attempts than workers keep them busy.
  ec_config.running_max = o.running;
  // One user may fill most of the slots, never all of them: another user's job still starts.
  std::size_t per_user = o.running_per_user != 0 ? o.running_per_user : std::max<std::size_t>(1, o.running * 3 / 4);
  ec_config.queue.running_per_user_max = static_cast<std::uint32_t>(std::min(per_user, o.running));
  ec_config.is_session_kind = [&kinds](const std::string& kind) { return kinds.is_session(kind); };
  engine::engine_handle engine;
  try {
    engine = engine::start_engine(rt, ec_config, store);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn serve: the engine did not start: %s\n", e.what());
    return exit_config;
  }
  rt.send(keeper, watch_root{engine.supervisor});
  reload_on_sighup reload{rt, rt.whereis(ec_config.name + ".pool")};

  http::server_config hc;
  hc.address = o.address;
  hc.port = o.port;
  hc.default_max_attempts = ec_config.retry.attempts_max;
  // What GET /v1/jobs/ID shows as the limits a job runs with (its "limits").
  hc.default_timeout_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(ec_config.attempt_timeout).count());
  hc.task_memory_mb = static_cast<std::uint32_t>(o.task_memory_mb);
  hc.task_cpu_seconds = static_cast<std::uint32_t>(o.task_cpu_seconds);
  hc.cancel_grace_ms = static_cast<std::uint32_t>(ec_config.cancel_grace.count());
  hc.dispatcher_name = ec_config.name;
  // Handler threads block on engine calls (a submission waits for its commit): enough of them
  // that concurrent submitters share commits instead of queueing for a thread.
  hc.handler_threads = 32;
  hc.authenticate = [user_db](std::string_view token) { return user_db->authenticate(token); };
  hc.kind_exists = [&kinds](std::string_view kind) { return kinds.contains(std::string{kind}); };
  hc.is_session_kind = [&kinds](std::string_view kind) { return kinds.is_session(std::string{kind}); };
  // Ready while a dispatcher (whichever instance its supervisor last started) answers, has
  // finished recovery and is not paused (draining).
  hc.ready = [&rt, name = ec_config.name] {
    pid d = rt.whereis(name);
    if (!d) return false;
    auto stats = rt.call<engine::engine_stats>(d, engine::engine_stats_request{}, 2s);
    return stats.ok() && stats.value().ready && !stats.value().paused;
  };
  http::server server{rt, hc, engine.dispatcher, store};
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn serve: cannot listen on %s:%u: %s\n", o.address.c_str(), o.port, e.what());
    return exit_config;
  }
  started = true;

  std::string url = "http://" + o.address + ":" + std::to_string(server.port());
  std::error_code ec;
  std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  std::printf("respawn serve: listening on %s (node %d%s; data in %s; up to %zu workers)\n", url.c_str(),
              static_cast<int>(::getpid()), heart_fd >= 0 ? ", under heart" : "", data.c_str(), o.workers);
  std::printf("job limits: %lld s per attempt, %u attempts, %lu MB and %lu CPU s per task, cancel kills after %lld ms\n",
              static_cast<long long>(o.attempt_timeout.count()), o.max_attempts, o.task_memory_mb,
              o.task_cpu_seconds, static_cast<long long>(ec_config.cancel_grace.count()));
  if (!o.demo) {
    std::printf("no demo user (--demo has one); make a user with: %s user add NAME --data-dir %s\n", self.c_str(),
                data.c_str());
  } else if (demo->ok()) {
    // A token on a terminal is for the person starting the demo; in a log (journald, a
    // supervisor's file) it would be for anyone who reads the log.
    if (::isatty(STDOUT_FILENO)) {
      std::printf("demo user token: %s   (also in %s)\n", demo->value().c_str(), token_path.c_str());
    } else {
      std::printf("demo user token: in %s\n", token_path.c_str());
    }
    std::printf(
        "\n"
        "try:\n"
        "  export RESPAWN_SERVER=%s RESPAWN_TOKEN=$(cat %s)\n"
        "  curl -s -H \"Authorization: Bearer $RESPAWN_TOKEN\" -d '{\"kind\":\"fib\",\"args\":{\"n\":30}}' $RESPAWN_SERVER/v1/jobs\n"
        "  %s submit fib --arg n=30 --wait\n"
        "  %s submit crash --wait      # a job that kills its worker: retried, then dead; the node is fine\n"
        "  %s jobs\n",
        url.c_str(), token_path.c_str(), self.c_str(), self.c_str(), self.c_str());
  }
  std::fflush(stdout);

  pollfd fds[2] = {{signals, POLLIN, 0}, {down, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "respawn serve: poll: %s\n", std::strerror(errno));
      return exit_software;
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t count = 0;  // the read orders the keeper's write of why_down before ours
      [[maybe_unused]] auto got = ::read(down, &count, sizeof count);
      // Not a drain: the tree that would run it is gone. Heart starts a new node, which recovers
      // every unfinished job from the log.
      std::fprintf(stderr, "respawn serve: %s; exiting %d so that heart starts a new node\n", why_down->c_str(),
                   exit_software);
      std::fflush(stderr);
      return exit_software;
    }
    if (fds[0].revents & POLLIN) break;
  }
  signalfd_siginfo info{};
  [[maybe_unused]] auto got = ::read(signals, &info, sizeof info);
  std::fprintf(stderr, "respawn serve: %s: draining (no new connections or attempts; running jobs get %lld s)\n",
               ::strsignal(static_cast<int>(info.ssi_signo)), static_cast<long long>(o.drain_timeout.count()));
  server.stop_accepting();
  (void)rt.call<bool>(rt.whereis(ec_config.name), engine::pause_dispatch{}, 10s);
  auto until = std::chrono::steady_clock::now() + o.drain_timeout;
  std::size_t last_running = SIZE_MAX;
  for (;;) {
    auto stats = rt.call<engine::engine_stats>(rt.whereis(ec_config.name), engine::engine_stats_request{}, 10s);
    std::size_t running = stats.ok() ? stats.value().running : 0;
    if (running == 0) break;
    if (std::chrono::steady_clock::now() > until) {
      std::fprintf(stderr, "respawn serve: %zu jobs still running at the drain timeout: they run again at the next start\n",
                   running);
      break;
    }
    if (running != last_running) std::fprintf(stderr, "respawn serve: waiting for %zu running jobs\n", running);
    last_running = running;
    std::this_thread::sleep_for(50ms);
  }
  server.stop();
  return 0;  // the runtime (workers included) stops, then the store flushes its log and closes
}

// A node that cannot start says why and exits 78, whatever threw (a corrupt database found
// during recovery, a store or engine failure): heart does not restart it into the same failure,
// and no exception reaches std::terminate (an abort, a core, a restart loop). After the start
// it is a crash like any other: 70, and heart starts a new node.
int run_node_guarded(const serve_options& o, const kind_registry& kinds) {
  bool started = false;
  try {
    return run_node(o, kinds, started);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn serve: %s: %s\n", started ? "the node failed" : "cannot start", e.what());
  } catch (...) {
    std::fprintf(stderr, "respawn serve: %s: an unknown exception\n", started ? "the node failed" : "cannot start");
  }
  return started ? exit_software : exit_config;
}

}  // namespace

int serve_command(int argc, char** argv, const kind_registry& kinds) {
  serve_options o;
  if (auto error = parse(argc, argv, o)) {
    if (error->empty()) {
      std::fputs(usage_text, stdout);
      return 0;
    }
    std::fprintf(stderr, "respawn serve: %s\n%s", error->c_str(), usage_text);
    return exit_usage;
  }
  if (o.heart) {
    std::error_code ec;
    std::vector<std::string> child{fs::read_symlink("/proc/self/exe", ec).string()};
    for (int i = 0; i < argc; ++i) child.emplace_back(argv[i]);
    child.emplace_back("--no-heart");  // the node itself does not start another heart
    heart_options h;
    // Stopping: the node drains for up to --drain-timeout, then the runtime and the store stop;
    // past that and a margin it is SIGKILLed (the log is durable: nothing acknowledged is lost).
    h.stop_timeout = o.drain_timeout + std::chrono::seconds{30};
    return run_heart(child, h);
  }
  return run_node_guarded(o, kinds);
}

}  // namespace respawn::node
