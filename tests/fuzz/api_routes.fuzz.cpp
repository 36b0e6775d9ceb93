// Fuzz target: the HTTP API's routes (src/http/api_routes.*) as the server calls them once Beast
// has framed a request: method, target, the three headers the routes read, and the body. The
// routes run against a real SQLite store (in a temporary folder) holding a few jobs of users ann
// and bob, so that GET, cancel, events and session input reach the store and the job JSON. The
// engine is absent (its dispatcher pid names no process): every call to it answers 503 at once,
// which keeps each run deterministic and the store unchanged between runs; what the routes do
// before the engine (the target, auth, the body's JSON and its validation) is what is fuzzed.
//
// Input: fields separated by '\n': METHOD, TARGET, AUTHORIZATION, IDEMPOTENCY-KEY, LAST-EVENT-ID,
// then the body (the rest, newlines included). An empty AUTHORIZATION is "Bearer tok-ann", "-"
// is none; an empty IDEMPOTENCY-KEY or LAST-EVENT-ID is none.
//
// Checks: handle() never throws and never crashes; every answer is a status the API documents;
// a JSON answer is valid JSON; 5xx only for the absent engine (503), never 500 internal.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api_routes.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/runtime.hpp"
#include "store/sqlite_job_store.hpp"

namespace {

namespace fs = std::filesystem;
namespace jobs = respawn::jobs;

struct world {
  std::string dir;
  std::shared_ptr<respawn::store::job_store> store;
  std::unique_ptr<respawn::runtime> rt;
  respawn::http::server_config config;
  std::unique_ptr<respawn::http::api_routes> routes;
};

void must(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "api_routes fuzz setup: %s\n", what);
    std::abort();
  }
}

jobs::job_id add_job(respawn::store::job_store& store, const std::string& user, const std::string& kind) {
  auto id = store.allocate_id();
  must(id.ok(), "allocate_id");
  jobs::job_request r;
  r.user = user;
  r.kind = kind;
  r.args = {{"n", 3}};
  must(store.submit({{.id = id.value(), .request = r, .time = jobs::from_microseconds(1'700'000'000'000'000)}}).ok(),
       "submit");
  return id.value();
}

void append(respawn::store::job_store& store, jobs::event e) { must(store.append({std::move(e)}).ok(), "append"); }

world* make_world() {
  auto* w = new world;  // lives as long as the fuzzer: its threads may still run at exit
  const char* base = fs::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string dir = std::string(base) + "/respawn-fuzz-api-XXXXXX";
  must(::mkdtemp(dir.data()) != nullptr, "mkdtemp");
  w->dir = dir;
  respawn::store::sqlite_options o;
  o.path = dir + "/jobs.db";
  o.synchronous = respawn::store::sqlite_options::synchronous_mode::off;
  auto s = respawn::store::sqlite_job_store::open(o);
  must(s.ok(), "open the store");
  w->store = std::shared_ptr<respawn::store::job_store>{std::move(s).value()};
  auto& store = *w->store;
  const auto t = jobs::from_microseconds(1'700'000'001'000'000);
  add_job(store, "ann", "sum");                          // 1: queued
  add_job(store, "ann", "echo");                         // 2: a session job, queued
  add_job(store, "bob", "sum");                          // 3: another user's
  const auto done = add_job(store, "ann", "sum");        // 4: succeeded, with a log
  append(store, jobs::make_claimed(done, 2, t, 1));
  append(store, jobs::make_progress(done, 3, t, {{"done", 1}}));
  append(store, jobs::make_succeeded(done, 4, t, 6));
  const auto failed = add_job(store, "ann", "sum");      // 5: failed, a retry due
  append(store, jobs::make_claimed(failed, 2, t, 1));
  append(store, jobs::make_attempt_failed(failed, 3, t, "boom", t));

  respawn::runtime_config rc;
  rc.scheduler_threads = 1;
  rc.crash_reports = false;
  rc.log = [](std::string_view) {};
  w->rt = std::make_unique<respawn::runtime>(rc);

  w->config.call_timeout = std::chrono::milliseconds{200};
  w->config.max_batch = 10;
  w->config.authenticate = [](std::string_view token) -> std::optional<std::string> {
    if (token == "tok-ann") return "ann";
    if (token == "tok-bob") return "bob";
    return std::nullopt;
  };
  w->config.kind_exists = [](std::string_view kind) { return kind == "sum" || kind == "echo" || kind == "noop"; };
  w->config.is_session_kind = [](std::string_view kind) { return kind == "echo"; };
  w->config.ready = [] { return true; };
  w->routes = std::make_unique<respawn::http::api_routes>(*w->rt, w->config, respawn::pid{}, w->store);
  static const std::string* removed_at_exit = new std::string(dir);
  std::atexit([] {
    // The store's files go; its open connections keep their inodes until the process ends.
    std::error_code ec;
    fs::remove_all(*removed_at_exit, ec);
  });
  return w;
}

world& the_world() {
  static world* w = make_world();
  return *w;
}

std::string_view next_field(std::string_view& rest) {
  auto newline = rest.find('\n');
  auto field = rest.substr(0, newline);
  rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
  return field;
}

bool documented(unsigned status) {
  switch (status) {
    case 200: case 201: case 202: case 400: case 401: case 404: case 405: case 409: case 413: case 422:
    case 429: case 503:
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& w = the_world();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  respawn::http::api_request request;
  request.method = next_field(rest);
  request.target = next_field(rest);
  auto authorization = next_field(rest);
  if (authorization.empty()) {
    request.authorization = "Bearer tok-ann";
  } else if (authorization != "-") {
    request.authorization = std::string(authorization);
  }
  if (auto key = next_field(rest); !key.empty()) request.idempotency_key = std::string(key);
  if (auto last = next_field(rest); !last.empty()) request.last_event_id = std::string(last);
  request.body = rest;

  auto response = w.routes->handle(request);
  if (!documented(response.status)) {
    std::fprintf(stderr, "undocumented status %u: %s\n", response.status, response.body.c_str());
    std::abort();
  }
  if (response.stream) {
    // An events stream: read its first page as the server would.
    auto page = w.routes->poll(*response.stream, 256);
    (void)page;
  } else if (nlohmann::json::parse(response.body, nullptr, false).is_discarded()) {
    std::fprintf(stderr, "status %u with a body that is not JSON: %s\n", response.status, response.body.c_str());
    std::abort();
  }
  return 0;
}
