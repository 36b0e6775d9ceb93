// The engine tests' fixture: a real SQLite store in a temporary folder, real worker processes
// (test-worker-v1), the engine's tree on a threaded runtime that a test can destroy (a node
// death) and start again on the same store. Shared by engine.test.cpp and session.test.cpp.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "respawn/engine.hpp"
#include "respawn/jobs/event.hpp"
#include "respawn/runtime.hpp"
#include "store/sqlite_job_store.hpp"

namespace respawn_engine_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using respawn::jobs::job_status;

constexpr auto patience = 60s;

inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = patience) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline respawn::jobs::job_request request(std::string user, std::string kind, nlohmann::json args = nlohmann::json::object()) {
  respawn::jobs::job_request r;
  r.user = std::move(user);
  r.kind = std::move(kind);
  r.args = std::move(args);
  return r;
}

class engine : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("respawn-engine-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    open_store();
  }
  void TearDown() override {
    stop_node();
    store_.reset();
    fs::remove_all(dir_);
  }

  void open_store() {
    respawn::store::sqlite_options o;
    o.path = (dir_ / "jobs.db").string();
    auto s = respawn::store::sqlite_job_store::open(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::shared_ptr<respawn::store::job_store>{std::move(s).value()};
  }

  respawn::engine::engine_config config() {
    respawn::engine::engine_config c;
    c.pool.worker.binary = TEST_WORKER_V1;
    c.pool.min_workers = 2;
    c.pool.max_workers = 2;
    c.pool.max_in_flight = 4;
    c.retry.attempts_max = 3;
    c.retry.backoff_initial = 10ms;
    c.retry.backoff_max = 40ms;
    c.attempt_timeout = 20s;
    return c;
  }

  void start_node(respawn::engine::engine_config c) {
    respawn::runtime_config rc;
    rc.scheduler_threads = 2;
    rc.crash_reports = std::getenv("ENGINE_TEST_CRASH_REPORTS") != nullptr;
    rt_ = std::make_unique<respawn::runtime>(rc);
    handle_ = respawn::engine::start_engine(*rt_, std::move(c), store_);
  }
  // The node dies: every process ends at once (no clean shutdown), workers included.
  void stop_node() { rt_.reset(); }

  respawn::engine::submit_reply submit(std::vector<respawn::jobs::job_request> requests) {
    auto r = rt_->call<respawn::engine::submit_reply>(handle_.dispatcher,
                                                      respawn::engine::submit_jobs{std::move(requests)}, patience);
    EXPECT_TRUE(r.ok()) << "the submit call failed: " << (r.ok() ? "" : r.error().message());
    return r.ok() ? r.value() : respawn::engine::submit_reply{};
  }
  respawn::jobs::job_id submit_one(respawn::jobs::job_request req) {
    auto reply = submit({std::move(req)});
    EXPECT_TRUE(reply.ok) << respawn::engine::to_string(reply.error_code) << ": " << reply.error;
    return reply.jobs.empty() ? 0 : reply.jobs[0].id;
  }

  respawn::jobs::job_state state(respawn::jobs::job_id id) {
    auto s = store_->get(id);
    EXPECT_TRUE(s.ok());
    return s.ok() ? s.value() : respawn::jobs::job_state{};
  }
  respawn::jobs::job_state await_final(respawn::jobs::job_id id) {
    respawn::jobs::job_state s;
    EXPECT_TRUE(eventually([&] {
      s = state(id);
      return respawn::jobs::is_final(s.status);
    })) << "job " << id << " is still " << respawn::jobs::to_string(s.status);
    return s;
  }
  std::vector<respawn::jobs::event_type> event_types(respawn::jobs::job_id id) {
    std::vector<respawn::jobs::event_type> types;
    auto events = store_->events(id, 0, 1000);
    if (events.ok()) {
      for (auto& e : events.value()) types.push_back(e.type);
    }
    return types;
  }

  fs::path dir_;
  std::shared_ptr<respawn::store::job_store> store_;
  std::unique_ptr<respawn::runtime> rt_;
  respawn::engine::engine_handle handle_{};
};

}  // namespace respawn_engine_test
