// serve_command.cpp: parses `respawn serve`'s flags, puts the node under heart, and runs the node:
// it opens the store and the users, starts the engine and the HTTP API, prints where to find them,
// then waits for SIGTERM or SIGINT and drains -- no new connections, no new attempts, running
// attempts given up to --drain-timeout to finish, the log flushed -- and exits 0. Jobs still
// queued (or cut off at the timeout) stay in the log and run at the next start.
#include "serve_command.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "heart.hpp"
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
constexpr int exit_config = 78;

constexpr const char* usage_text =
    "usage: respawn serve [--data-dir DIR] [--listen ADDRESS:PORT] [--workers N] [--running N]\n"
    "                     [--drain-timeout SECONDS] [--no-heart]\n"
    "\n"
    "  --data-dir DIR        where the job log (jobs.db), the users (users.db) and demo.token\n"
    "                        live (default: $RESPAWN_DATA_DIR, else ./respawn-data)\n"
    "  --listen ADDR:PORT    the HTTP API's address (default 127.0.0.1:8080)\n"
    "  --workers N           worker processes at most (default 4)\n"
    "  --running N           attempts in flight at most (default 64): claimed jobs, in or queued\n"
    "                        at a worker; more suits many short jobs, fewer long ones\n"
    "  --drain-timeout S     on SIGTERM, how long running jobs may take to finish (default 30)\n"
    "  --no-heart            run the node without heart (nothing starts it again if it dies)\n";

struct serve_options {
  std::string data_dir;
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t workers = 4;
  std::size_t running = 64;
  std::chrono::seconds drain_timeout{30};
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
  return std::nullopt;
}

// Writes a heartbeat byte to heart's pipe every second, from inside the runtime: if the runtime
// stops running processes, the beats stop and heart restarts the node.
struct beat {};
class heartbeat final : public process {
 public:
  explicit heartbeat(int fd) : fd_{fd} {}
  void init() override { send_after(1000ms, beat{}); }
  void handle(message& m) override {
    if (!m.is<beat>()) return;
    char b = 'b';
    [[maybe_unused]] auto n = ::write(fd_, &b, 1);  // non-blocking: a full pipe just skips a beat
    send_after(1000ms, beat{});
  }

 private:
  int fd_;
};

int run_node(const serve_options& o, const kind_registry& kinds) {
  // SIGTERM and SIGINT are waited for by this thread (sigwait below): block them before any
  // thread exists, so that every thread inherits the mask and none of them takes the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int heart_fd = heart_fd_from_environment();
  if (heart_fd >= 0) ::fcntl(heart_fd, F_SETFL, ::fcntl(heart_fd, F_GETFL) | O_NONBLOCK);

  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "respawn serve: cannot use the data directory %s: %s\n", o.data_dir.c_str(),
                 ec.message().c_str());
    return exit_config;
  }
  auto data = fs::absolute(o.data_dir).lexically_normal();

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
  auto demo_token = user_db->ensure("demo");
  auto token_path = (data / "demo.token").string();
  if (demo_token.ok()) {
    auto written = users::write_token_file(token_path, demo_token.value());
    if (!written.ok()) std::fprintf(stderr, "respawn serve: cannot write %s: %s\n", token_path.c_str(), written.error().message.c_str());
  } else {
    std::fprintf(stderr, "respawn serve: no demo user: %s\n", demo_token.error().message.c_str());
  }

  runtime_config rc;
  runtime rt{rc};
  if (heart_fd >= 0) rt.spawn<heartbeat>(spawn_options{}, heart_fd);

  engine::engine_config ec_config;
  ec_config.name = "jobs";
  ec_config.pool.min_workers = std::min<std::size_t>(2, o.workers);
  ec_config.pool.max_workers = o.workers;
  // Attempts in flight: workers pipeline tasks (a short job's round trip is microseconds, its
  // three commits are not), so more attempts than workers keep them busy.
  ec_config.running_max = o.running;
  ec_config.queue.running_per_user_max = static_cast<std::uint32_t>(o.running);
  ec_config.is_session_kind = [&kinds](const std::string& kind) { return kinds.is_session(kind); };
  auto engine = engine::start_engine(rt, ec_config, store);
  reload_on_sighup reload{rt, rt.whereis(ec_config.name + ".pool")};

  http::server_config hc;
  hc.address = o.address;
  hc.port = o.port;
  hc.default_max_attempts = ec_config.retry.attempts_max;
  hc.dispatcher_name = ec_config.name;
  // Handler threads block on engine calls (a submission waits for its commit): enough of them
  // that concurrent submitters share commits instead of queueing for a thread.
  hc.handler_threads = 32;
  hc.authenticate = [user_db](std::string_view token) { return user_db->authenticate(token); };
  hc.kind_exists = [&kinds](std::string_view kind) { return kinds.contains(std::string{kind}); };
  hc.is_session_kind = [&kinds](std::string_view kind) { return kinds.is_session(std::string{kind}); };
  // No `ready` callback: the server starts only after start_engine returned, i.e. once every
  // unfinished job is recovered, so /readyz is 200 from its first answer.
  http::server server{rt, hc, engine.dispatcher, store};
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "respawn serve: cannot listen on %s:%u: %s\n", o.address.c_str(), o.port, e.what());
    return exit_config;
  }

  std::string url = "http://" + o.address + ":" + std::to_string(server.port());
  std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  std::printf(
      "respawn serve: listening on %s (node %d%s; data in %s; up to %zu workers)\n"
      "demo user token: %s   (also in %s)\n"
      "\n"
      "try:\n"
      "  export RESPAWN_SERVER=%s RESPAWN_TOKEN=$(cat %s)\n"
      "  curl -s -H \"Authorization: Bearer $RESPAWN_TOKEN\" -d '{\"kind\":\"fib\",\"args\":{\"n\":30}}' $RESPAWN_SERVER/v1/jobs\n"
      "  %s submit fib --arg n=30 --wait\n"
      "  %s submit crash --wait      # a job that kills its worker: retried, then dead; the node is fine\n"
      "  %s jobs\n",
      url.c_str(), static_cast<int>(::getpid()), heart_fd >= 0 ? ", under heart" : "", data.c_str(), o.workers,
      demo_token.ok() ? demo_token.value().c_str() : "(none)", token_path.c_str(), url.c_str(), token_path.c_str(),
      self.c_str(), self.c_str(), self.c_str());
  std::fflush(stdout);

  int sig = 0;
  ::sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "respawn serve: %s: draining (no new connections or attempts; running jobs get %lld s)\n",
               ::strsignal(sig), static_cast<long long>(o.drain_timeout.count()));
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
    return run_heart(child, h);
  }
  return run_node(o, kinds);
}

}  // namespace respawn::node
