// Retention (F21): finished jobs and their events go once their TTL is past (by the store's clock,
// injected here), unfinished ones never do; idempotency keys expire; an idle writer cuts the WAL
// back. Maintenance is run on demand (maintain_now), so that no test waits on a timer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "sqlite_file.hpp"
#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {
using namespace std::chrono_literals;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

// The store's clock, moved by the test.
struct test_clock {
  std::shared_ptr<std::atomic<std::int64_t>> us =
      std::make_shared<std::atomic<std::int64_t>>(jobs::to_microseconds(t0));
  std::function<jobs::job_time()> function() const {
    return [us = us] { return jobs::from_microseconds(us->load()); };
  }
  void advance(std::chrono::microseconds by) const { us->fetch_add(by.count()); }
};

job_id submit(sqlite_job_store& store, std::optional<std::string> key = std::nullopt) {
  const job_id id = store.allocate_id().value();
  auto r = store.submit({{.id = id,
                          .request = {.user = "ann", .kind = "sum", .idempotency_key = std::move(key)},
                          .time = t0}});
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value()[0].id : 0;
}

TEST(SqliteRetention, FinishedJobsGoWithTheirEventsOnceTheirTtlIsPastUnfinishedOnesNever) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  test_clock clock;
  auto opened = sqlite_job_store::open({.path = path,
                                        .synchronous = sqlite_options::synchronous_mode::off,
                                        .finished_ttl = 1h,
                                        .maintenance_interval = 0ms,
                                        .retention_batch_rows = 3,  // many small transactions
                                        .clock = clock.function()});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& store = *opened.value();
  const job_id succeeded = submit(store);
  const job_id cancelled = submit(store);
  const job_id running = submit(store);
  const job_id queued = submit(store);
  ASSERT_TRUE(store.append({jobs::make_claimed(succeeded, 2, t0, 1)}).ok());
  for (std::uint64_t s = 3; s < 10; ++s) {
    ASSERT_TRUE(store.append({jobs::make_progress(succeeded, s, t0, static_cast<int>(s))}).ok());
  }
  ASSERT_TRUE(store.append({jobs::make_succeeded(succeeded, 10, t0, 1)}).ok());
  ASSERT_TRUE(store.append({jobs::make_cancelled(cancelled, 2, t0)}).ok());
  ASSERT_TRUE(store.append({jobs::make_claimed(running, 2, t0, 1)}).ok());

  clock.advance(30min);
  store.maintain_now();
  for (job_id id : {succeeded, cancelled, running, queued}) {
    EXPECT_TRUE(store.get(id).ok()) << "job " << id << " deleted before its TTL";
  }
  EXPECT_EQ(store.stats().jobs_deleted, 0u);

  clock.advance(31min);
  const auto runs_before = store.stats().maintenance_runs;
  store.maintain_now();
  for (job_id id : {succeeded, cancelled}) {
    EXPECT_EQ(store.get(id).error().code, store_errc::not_found) << "job " << id;
    EXPECT_EQ(store.events(id, 0, 100).error().code, store_errc::not_found) << "job " << id;
  }
  EXPECT_EQ(store.stats().jobs_deleted, 2u);
  EXPECT_EQ(store.stats().events_deleted, 12u);  // 10 + 2
  EXPECT_GE(store.stats().maintenance_runs - runs_before, 4u) << "14 rows, 3 per transaction";
  EXPECT_EQ(testing::query_sql(path, "SELECT COUNT(*) FROM job_requests"), "2");

  clock.advance(24h * 365);
  store.maintain_now();
  EXPECT_EQ(store.get(running).value().status, jobs::job_status::running);
  EXPECT_EQ(store.get(queued).value().status, jobs::job_status::queued);
  EXPECT_EQ(store.events(running, 0, 100).value().size(), 2u);
}

TEST(SqliteRetention, ATtlOfZeroKeepsFinishedJobsForever) {
  test_clock clock;
  auto opened = sqlite_job_store::open({.path = ":memory:", .finished_ttl = 0ms,
                                        .maintenance_interval = 0ms, .clock = clock.function()});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  const job_id id = submit(store);
  ASSERT_TRUE(store.append({jobs::make_cancelled(id, 2, t0)}).ok());
  clock.advance(24h * 3650);
  store.maintain_now();
  EXPECT_TRUE(store.get(id).ok());
}

TEST(SqliteRetention, AnExpiredIdempotencyKeyMakesANewJob) {
  test_clock clock;
  auto opened = sqlite_job_store::open({.path = ":memory:", .idempotency_key_ttl = 1h,
                                        .maintenance_interval = 0ms, .clock = clock.function()});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  const job_id first = submit(store, "key-1");
  clock.advance(59min);
  EXPECT_EQ(submit(store, "key-1"), first) << "within its TTL the key names its job";
  clock.advance(2min);
  const job_id second = submit(store, "key-1");
  EXPECT_NE(second, first) << "past its TTL the key names no job: a retry is a new job";
  EXPECT_EQ(submit(store, "key-1"), second) << "and the key names the new job from then on";
  EXPECT_TRUE(store.get(first).ok()) << "the old job itself stays";
}

// Without maintain_now: the writer runs maintenance on its own once the interval has passed (the
// condition is polled, with a deadline: the store offers no signal for it).
TEST(SqliteRetention, MaintenanceRunsOnItsOwnWhenDue) {
  test_clock clock;
  auto opened = sqlite_job_store::open({.path = ":memory:", .finished_ttl = 1h,
                                        .maintenance_interval = 1ms, .clock = clock.function()});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  const job_id id = submit(store);
  ASSERT_TRUE(store.append({jobs::make_cancelled(id, 2, t0)}).ok());
  clock.advance(2h);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (store.stats().jobs_deleted == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(store.stats().jobs_deleted, 1u);
  EXPECT_EQ(store.get(id).error().code, store_errc::not_found);
}

// After maintenance on an idle store, the WAL is checkpointed and cut to nothing; the stats say
// how big the database is.
TEST(SqliteRetention, AnIdleStoreCutsItsWalBack) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path, .maintenance_interval = 0ms});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  for (int i = 0; i < 50; ++i) submit(store);
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
  store.maintain_now();
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 0u);
  EXPECT_GT(store.stats().database_bytes, 0u);
  EXPECT_EQ(store.stats().database_bytes, std::filesystem::file_size(path));
}

}  // namespace
}  // namespace respawn::store
