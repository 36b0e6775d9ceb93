// The SQLite store's bounds: the writer's cache of unfinished jobs stays within its bytes (F6),
// a job's outputs are capped in count and bytes, and the next block of ids is reserved before the
// current one runs out, so that allocate_id does not wait on the disk (F28).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <string>

#include "respawn/jobs/fold.hpp"
#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {
using namespace std::chrono_literals;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

TEST(SqliteLimits, TheWritersCacheStaysWithinItsBytesAndHoldsNoRequests) {
  constexpr std::size_t budget = 256u << 10;
  auto opened = sqlite_job_store::open({.path = ":memory:", .state_cache_bytes_max = budget});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  constexpr int jobs_count = 200;
  constexpr std::size_t args_bytes = 50'000;
  std::vector<job_id> ids;
  for (int i = 0; i < jobs_count; ++i) {
    ids.push_back(store.allocate_id().value());
    ASSERT_TRUE(store.submit({{.id = ids.back(),
                               .request = {.user = "ann", .kind = "sum",
                                           .args = {{"blob", std::string(args_bytes, 'a')}}},
                               .time = t0}})
                    .ok());
  }
  // 10 MB of args submitted; the cache holds none of them.
  auto stats = store.stats();
  EXPECT_EQ(stats.state_cache_entries, static_cast<std::uint64_t>(jobs_count));
  EXPECT_LT(stats.state_cache_bytes, jobs_count * args_bytes / 20);
  // Large progress reports: past the budget the writer forgets entries, and still folds every
  // append right (a miss reads the row).
  const nlohmann::json progress = {{"log", std::string(4'000, 'p')}};
  for (job_id id : ids) {
    ASSERT_TRUE(store.append({jobs::make_claimed(id, 2, t0, 1)}).ok());
    ASSERT_TRUE(store.append({jobs::make_progress(id, 3, t0, progress)}).ok());
    ASSERT_LE(store.stats().state_cache_bytes, budget);
  }
  stats = store.stats();
  EXPECT_GT(stats.state_cache_entries, 0u);
  EXPECT_LT(stats.state_cache_entries, static_cast<std::uint64_t>(jobs_count));
  for (job_id id : ids) ASSERT_TRUE(store.append({jobs::make_succeeded(id, 4, t0, 1)}).ok());
  EXPECT_EQ(store.stats().state_cache_entries, 0u) << "finished jobs leave the cache";
  EXPECT_EQ(store.stats().state_cache_bytes, 0u);
  auto state = store.get(ids[0]);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), jobs::fold(store.events(ids[0], 0, 100).value()));
}

TEST(SqliteLimits, OutputsPastAJobsCapAreRefused) {
  auto opened = sqlite_job_store::open({.path = ":memory:", .outputs_max = 3, .output_bytes_max = 1'000});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  auto running_job = [&] {
    const job_id id = store.allocate_id().value();
    EXPECT_TRUE(store.submit({{.id = id, .request = {.user = "ann", .kind = "sum"}, .time = t0}}).ok());
    EXPECT_TRUE(store.append({jobs::make_claimed(id, 2, t0, 1)}).ok());
    return id;
  };
  const job_id counted = running_job();
  for (std::uint64_t s = 3; s <= 5; ++s) {
    ASSERT_TRUE(store.append({jobs::make_output(counted, s, t0, "line")}).ok());
  }
  auto fourth = store.append({jobs::make_output(counted, 6, t0, "line")});
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.error().code, store_errc::invalid_request);
  EXPECT_NE(fourth.error().message.find("3 outputs"), std::string::npos) << fourth.error().message;
  // Refused whole: nothing written, and the job can still finish.
  EXPECT_EQ(store.get(counted).value().outputs, 3u);
  EXPECT_TRUE(store.append({jobs::make_succeeded(counted, 6, t0, 1)}).ok());

  const job_id sized = running_job();
  ASSERT_TRUE(store.append({jobs::make_output(sized, 3, t0, std::string(500, 'x'))}).ok());
  auto big = store.append({jobs::make_output(sized, 4, t0, std::string(600, 'x'))});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, store_errc::invalid_request);
  EXPECT_NE(big.error().message.find("bytes of output"), std::string::npos) << big.error().message;
  EXPECT_EQ(store.get(sized).value().last_sequence, 3u);
}

// The writer is held by another connection's lock (as by a disk stall): ids keep coming from the
// block reserved ahead, across the end of the current one.
TEST(SqliteLimits, TheNextIdBlockIsReservedBeforeTheCurrentOneRunsOut) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path, .busy_timeout = 60s, .id_block_size = 10});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  std::vector<job_id> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(store.allocate_id().value());  // past half the block
  // Writes run in order: once this is committed, so is the reservation queued before it.
  ASSERT_TRUE(store.submit({{.id = ids[0], .request = {.user = "ann", .kind = "sum"}, .time = t0}}).ok());

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto more = std::async(std::launch::async, [&] {
    std::vector<store_result<job_id>> got;
    for (int i = 0; i < 8; ++i) got.push_back(store.allocate_id());  // crosses into the next block
    return got;
  });
  const bool ready = more.wait_for(10s) == std::future_status::ready;
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(ready) << "allocate_id waited on the disk at the end of a block";
  for (auto& id : more.get()) {
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_GT(id.value(), ids.back());
    ids.push_back(id.value());
  }
}

}  // namespace
}  // namespace respawn::store
