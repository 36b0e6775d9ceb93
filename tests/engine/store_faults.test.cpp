// Transient store failures through the engine (review F2): a write that meets a full disk (or a
// busy database) is retried with backoff by the job process that met it, not turned into a
// crash storm that takes the engine's tree down; a full disk pauses admission (disk_full) and
// admission resumes by itself once a write succeeds again.
#include "engine_fixture.hpp"
#include "faulty_store.hpp"
#include "respawn/supervisor.hpp"

namespace {

using namespace respawn_engine_test;
using namespace std::chrono_literals;
using respawn::engine::engine_errc;
using respawn::jobs::job_status;

class store_faults : public engine {
 protected:
  void SetUp() override {
    engine::SetUp();
    faulty_ = std::make_shared<faulty_store>(store_);
    store_ = faulty_;  // the engine and the fixture's reads go through it
  }
  respawn::engine::submit_reply try_submit(respawn::jobs::job_request r) {
    auto reply = rt_->call<respawn::engine::submit_reply>(handle_.dispatcher, respawn::engine::submit_jobs{{std::move(r)}},
                                                          patience);
    EXPECT_TRUE(reply.ok()) << "the dispatcher did not answer";
    return reply.ok() ? reply.value() : respawn::engine::submit_reply{};
  }
  std::uint64_t job_restarts() {
    std::uint64_t n = 0;
    auto children = rt_->call<std::vector<respawn::child_info>>(rt_->whereis("jobs.jobs"), respawn::which_children{},
                                                                patience);
    if (children.ok()) {
      for (auto& c : children.value()) n += c.restarts;
    }
    return n;
  }
  std::shared_ptr<faulty_store> faulty_;
};


TEST_F(store_faults, a_full_disk_pauses_admission_and_the_job_finishes_once_it_clears_without_a_crash) {
  auto c = config();
  c.store_retry_initial = 5ms;
  c.store_retry_max = 40ms;
  start_node(c);
  auto id = submit_one(request("ann", "sleep", {{"ms", 300}}));
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::running; }));

  faulty_->failing = true;  // the disk fills while the job runs: its outcome cannot be written
  auto refused = try_submit(request("bob", "noop"));
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error_code, engine_errc::disk_full) << respawn::engine::to_string(refused.error_code);
  // The job's writes keep failing for a while (retried with backoff, not a crash storm).
  ASSERT_TRUE(eventually([&] { return faulty_->failed_writes.load() >= 8; }));
  auto paused = try_submit(request("bob", "noop"));
  EXPECT_FALSE(paused.ok);
  EXPECT_EQ(paused.error_code, engine_errc::disk_full);
  EXPECT_EQ(job_restarts(), 0u) << "the job's process crashed on a transient store error";

  faulty_->failing = false;  // space is freed
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.attempts, 1u);
  // Admission resumes by itself.
  respawn::engine::submit_reply accepted;
  ASSERT_TRUE(eventually([&] {
    accepted = try_submit(request("bob", "noop"));
    return accepted.ok;
  })) << respawn::engine::to_string(accepted.error_code);
  EXPECT_EQ(await_final(accepted.jobs.at(0).id).status, job_status::succeeded);
  EXPECT_EQ(job_restarts(), 0u);
  EXPECT_TRUE(rt_->alive(handle_.dispatcher)) << "the engine's core restarted";
}

TEST_F(store_faults, a_busy_database_is_waited_out_by_the_job_not_crashed_on) {
  auto c = config();
  c.store_retry_initial = 5ms;
  c.store_retry_max = 40ms;
  start_node(c);
  auto id = submit_one(request("ann", "sleep", {{"ms", 300}}));
  ASSERT_TRUE(eventually([&] { return state(id).status == job_status::running; }));
  faulty_->code = respawn::store::store_errc::busy;
  faulty_->failing = true;
  ASSERT_TRUE(eventually([&] { return faulty_->failed_writes.load() >= 8; }));
  faulty_->failing = false;
  auto s = await_final(id);
  EXPECT_EQ(s.status, job_status::succeeded);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(job_restarts(), 0u);
  EXPECT_TRUE(rt_->alive(handle_.dispatcher));
}

}  // namespace
