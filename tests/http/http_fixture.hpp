// The fixture of the HTTP API tests: a whole node on loopback — a real SQLite store in a
// temporary folder, the engine's tree on a threaded runtime with real worker processes
// (test-worker-v1), and the server on port 0 — plus waiting helpers with deadlines (no sleeps
// to wait for async work: a hang fails the test).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "http_client.hpp"
#include "respawn/engine.hpp"
#include "respawn/http_server.hpp"
#include "respawn/runtime.hpp"
#include "store/sqlite_job_store.hpp"

namespace respawn::http::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using header_list = std::vector<std::pair<std::string, std::string>>;

inline constexpr auto patience = 60s;

inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = patience) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);  // a polling step, bounded by the deadline above
  }
  return true;
}

inline header_list auth(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }
inline header_list ann() { return auth("tok-ann"); }
inline header_list bob() { return auth("tok-bob"); }
inline header_list with(header_list h, std::string name, std::string value) {
  h.emplace_back(std::move(name), std::move(value));
  return h;
}

class http_api : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("respawn-http-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store::sqlite_options o;
    o.path = (dir_ / "jobs.db").string();
    auto s = store::sqlite_job_store::open(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::shared_ptr<store::job_store>{std::move(s).value()};
  }
  void TearDown() override {
    if (server_) server_->stop();  // before the runtime and the store it uses
    server_.reset();
    rt_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  engine::engine_config engine_config() {
    engine::engine_config c;
    c.pool.worker.binary = TEST_WORKER_V1;
    c.pool.min_workers = 2;
    c.pool.max_workers = 2;
    c.pool.max_in_flight = 4;
    c.retry.attempts_max = 3;
    c.retry.backoff_initial = 10ms;
    c.retry.backoff_max = 40ms;
    c.attempt_timeout = 20s;
    c.is_session_kind = [](const std::string& kind) { return kind == "echo"; };
    c.session_linger = 30ms;
    return c;
  }

  server_config http_config() {
    server_config c;
    c.port = 0;
    c.max_body_bytes = 64 * 1024;
    c.max_batch = 10;
    c.default_max_attempts = 3;
    c.authenticate = [](std::string_view token) -> std::optional<std::string> {
      static const std::map<std::string, std::string, std::less<>> tokens{{"tok-ann", "ann"}, {"tok-bob", "bob"}};
      auto it = tokens.find(token);
      if (it == tokens.end()) return std::nullopt;
      return it->second;
    };
    c.kind_exists = [](std::string_view kind) {
      static const std::set<std::string, std::less<>> kinds{"sum",  "sleep", "echo_args", "progress_then_result",
                                                            "fail", "noop",  "echo"};
      return kinds.count(kind) > 0;
    };
    c.is_session_kind = [](std::string_view kind) { return kind == "echo"; };
    c.ready = [this] { return ready_.load(); };
    return c;
  }

  void start(engine::engine_config ec, server_config hc) {
    runtime_config rc;
    rc.scheduler_threads = 2;
    rc.crash_reports = false;
    rt_ = std::make_unique<runtime>(rc);
    handle_ = engine::start_engine(*rt_, std::move(ec), store_);
    server_ = std::make_unique<server>(*rt_, std::move(hc), handle_.dispatcher, store_);
    server_->start();
    ASSERT_NE(server_->port(), 0);
  }
  void start() { start(engine_config(), http_config()); }

  client connect() { return client{server_->port()}; }

  // POSTs a job for ann and returns its JSON (expects 201).
  nlohmann::json submit(client& c, nlohmann::json body, const header_list& headers = ann()) {
    auto r = c.request("POST", "/v1/jobs", body.dump(), headers);
    EXPECT_EQ(r.status, 201u) << r.body;
    return r.json();
  }
  // Polls GET /v1/jobs/ID until the job is final; returns its JSON.
  nlohmann::json await_final(client& c, std::uint64_t id, const header_list& headers = ann()) {
    nlohmann::json job;
    EXPECT_TRUE(eventually([&] {
      auto r = c.request("GET", "/v1/jobs/" + std::to_string(id), {}, headers);
      job = r.json();
      auto state = job.value("state", std::string{});
      return state == "succeeded" || state == "dead" || state == "cancelled";
    })) << "job "
        << id << " is still " << job.dump();
    return job;
  }

  fs::path dir_;
  std::shared_ptr<store::job_store> store_;
  std::unique_ptr<runtime> rt_;
  engine::engine_handle handle_{};
  std::unique_ptr<server> server_;
  std::atomic<bool> ready_{true};
};

}  // namespace respawn::http::test
