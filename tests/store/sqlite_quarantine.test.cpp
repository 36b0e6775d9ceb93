// A damaged database (F14): a row that cannot be read costs its own job, not the page or the
// node's recovery (the job is quarantined: skipped, logged once, marked); a file whose pages are
// damaged is refused at open with bad_configuration, which the node turns into exit 78.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sqlite_file.hpp"
#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {
using testing::exec_sql;
using testing::query_sql;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

std::unique_ptr<sqlite_job_store> open_store(const std::string& path) {
  auto opened = sqlite_job_store::open({.path = path});
  EXPECT_TRUE(opened.ok()) << opened.error().message;
  return opened.ok() ? std::move(opened).value() : nullptr;
}

std::vector<job_id> submit_jobs(sqlite_job_store& store, int n, std::size_t args_bytes = 10) {
  std::vector<job_id> ids;
  for (int i = 0; i < n; ++i) {
    ids.push_back(store.allocate_id().value());
    EXPECT_TRUE(store.submit({{.id = ids.back(),
                               .request = {.user = "ann", .kind = "sum",
                                           .args = {{"pad", std::string(args_bytes, 'p')}}},
                               .time = t0}})
                    .ok());
  }
  return ids;
}

TEST(SqliteQuarantine, AnUnreadableJobRowIsQuarantinedAndRecoveryListsTheOthers) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  std::vector<job_id> ids;
  {
    auto store = open_store(path);
    ASSERT_TRUE(store);
    ids = submit_jobs(*store, 3);
  }
  exec_sql(path, "UPDATE jobs SET state = '{\"id\": garbage' WHERE id = " + std::to_string(ids[1]));

  auto store = open_store(path);  // the file itself is sound: quick_check passes
  ASSERT_TRUE(store);
  auto page = store->list_unfinished(0, 10);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page.value().jobs.size(), 2u);
  EXPECT_EQ(page.value().jobs[0].id, ids[0]);
  EXPECT_EQ(page.value().jobs[1].id, ids[2]);
  EXPECT_EQ(page.value().quarantined, (std::vector<job_id>{ids[1]}));
  // A page the bad row fills up still leads past it.
  auto first = store->list({.limit = 2});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first.value().jobs.size(), 1u);
  ASSERT_TRUE(first.value().next_after_id);
  auto second = store->list({.after_id = *first.value().next_after_id, .limit = 2});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second.value().jobs.size(), 1u);
  EXPECT_EQ(second.value().jobs[0].id, ids[2]);

  auto bad = store->get(ids[1]);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("quarantined"), std::string::npos) << bad.error().message;
  EXPECT_EQ(store->stats().quarantined, 1u) << "logged and marked once, however often it is met";
  // An append to it is refused with a reason, not an exception; the others go on.
  auto append = store->append({jobs::make_claimed(ids[1], 2, t0, 1)});
  ASSERT_FALSE(append.ok());
  EXPECT_EQ(append.error().code, store_errc::invalid_request);
  EXPECT_TRUE(store->append({jobs::make_claimed(ids[2], 2, t0, 1)}).ok());
  store.reset();  // everything queued (the quarantine mark too) is committed at close

  EXPECT_EQ(query_sql(path, "SELECT status FROM jobs WHERE id = " + std::to_string(ids[1])),
            "quarantined");
  EXPECT_NE(query_sql(path, "SELECT reason FROM quarantine WHERE job_id = " + std::to_string(ids[1])),
            "");
  // Marked: recovery no longer meets it at all.
  store = open_store(path);
  ASSERT_TRUE(store);
  auto after = store->list_unfinished(0, 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.value().jobs.size(), 2u);
  EXPECT_TRUE(after.value().quarantined.empty());
}

TEST(SqliteQuarantine, AnUnreadableEventIsSkippedNotTheWholeLog) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto store = open_store(path);
  ASSERT_TRUE(store);
  const job_id id = submit_jobs(*store, 1)[0];
  ASSERT_TRUE(store->append({jobs::make_claimed(id, 2, t0, 1)}).ok());
  ASSERT_TRUE(store->append({jobs::make_progress(id, 3, t0, 50)}).ok());
  exec_sql(path, "UPDATE events SET payload = 'not json' WHERE sequence = 2 AND job_id = " +
                     std::to_string(id));
  auto log = store->events(id, 0, 100);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log.value().size(), 2u);
  EXPECT_EQ(log.value()[0].sequence, 1u);
  EXPECT_EQ(log.value()[1].sequence, 3u);
  EXPECT_EQ(store->stats().quarantined, 1u);
}

// Garbage in the file's pages (not just in a row's text): refused at open, with a reason, as
// bad configuration (the node exits 78), never an abort later in recovery.
TEST(SqliteQuarantine, ADamagedFileIsRefusedAtOpen) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  {
    auto store = open_store(path);
    ASSERT_TRUE(store);
    submit_jobs(*store, 200, 2'000);
  }  // closing checkpoints everything into the file
  const auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 64u * 4096u);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    const std::string garbage(16 * 4096, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto opened = sqlite_job_store::open({.path = path});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, store_errc::bad_configuration);
  EXPECT_NE(opened.error().message.find("corrupt"), std::string::npos) << opened.error().message;
}

}  // namespace
}  // namespace respawn::store
