// Tests of what is particular to the SQLite backend: WAL mode, the schema version, refused
// configuration, and group commit (concurrent writes share transactions).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {
using namespace std::chrono_literals;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

std::string pragma(const std::string& path, const std::string& name) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(db, ("PRAGMA " + name).c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return value;
}

TEST(SqliteStore, UsesWalModeAndRecordsItsSchemaVersion) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  {
    auto store = sqlite_job_store::open({.path = path});
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(store.value()->options().synchronous, sqlite_options::synchronous_mode::full);
  }
  EXPECT_EQ(pragma(path, "journal_mode"), "wal");
  EXPECT_EQ(pragma(path, "user_version"), "4");
  // Set before the first table, so that retention's freed pages can go back to the file system.
  EXPECT_EQ(pragma(path, "auto_vacuum"), "2");
}

TEST(SqliteStore, RefusesADatabaseWithANewerSchema) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  pragma(path, "user_version = 99");
  auto store = sqlite_job_store::open({.path = path});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, store_errc::schema_too_new);
  EXPECT_NE(store.error().message.find("99"), std::string::npos) << store.error().message;
}

TEST(SqliteStore, RefusesBadConfigurationSayingWhatToChange) {
  auto no_path = sqlite_job_store::open({});
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.error().code, store_errc::bad_configuration);
  EXPECT_NE(no_path.error().message.find("path"), std::string::npos);
  auto no_block = sqlite_job_store::open({.path = ":memory:", .id_block_size = 0});
  ASSERT_FALSE(no_block.ok());
  EXPECT_EQ(no_block.error().code, store_errc::bad_configuration);
}

TEST(SqliteStore, AnUnopenableFileIsACleanError) {
  auto store = sqlite_job_store::open({.path = "/nonexistent-dir/for/sure/jobs.db"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, store_errc::io_error);
}

TEST(SqliteStore, GroupCommitPutsWritesThatArriveDuringACommitIntoOneTransaction) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  std::vector<job_id> ids;
  for (int i = 0; i < 500; ++i) ids.push_back(store.allocate_id().value());
  const auto before = store.stats();

  // Another connection holds the write lock, so the writer's next transaction waits (busy
  // timeout) exactly as it would behind a slow fsync: everything submitted meanwhile must go
  // into the transaction after it, not one transaction each.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<std::future<store_result<std::vector<submit_outcome>>>> acks;
  for (job_id id : ids) {
    auto p = std::make_shared<std::promise<store_result<std::vector<submit_outcome>>>>();
    acks.push_back(p->get_future());
    store.submit_async({{.id = id, .request = {.user = "ann", .kind = "noop"}, .time = t0}},
                       [p](auto r) { p->set_value(std::move(r)); });
  }
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  for (auto& ack : acks) {
    ASSERT_EQ(ack.wait_for(60s), std::future_status::ready);
    auto r = ack.get();
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  const auto after = store.stats();
  EXPECT_EQ(after.writes - before.writes, 500u);
  EXPECT_EQ(after.writes_failed, 0u);
  EXPECT_LE(after.transactions - before.transactions, 3u)
      << "500 writes that queued up behind one transaction should share the next";
}

// Holds the write lock from another connection while `writes` submits queue up, so that they
// share the writer's next transaction(s).
void submit_behind_a_lock(const std::string& path, sqlite_job_store& store, int writes) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<std::future<store_result<std::vector<submit_outcome>>>> acks;
  for (int i = 0; i < writes; ++i) {
    auto p = std::make_shared<std::promise<store_result<std::vector<submit_outcome>>>>();
    acks.push_back(p->get_future());
    store.submit_async({{.id = store.allocate_id().value(), .request = {.user = "ann", .kind = "noop"},
                         .time = t0}},
                       [p](auto r) { p->set_value(std::move(r)); });
  }
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  for (auto& ack : acks) ASSERT_TRUE(ack.get().ok());
}

// The writer waits for company only right after a transaction that had some: a write that comes
// to an idle writer is committed at once, however long gather_wait is.
TEST(SqliteStore, ALoneWriteToAnIdleStoreDoesNotWaitForCompany) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path,
                                        .synchronous = sqlite_options::synchronous_mode::off,
                                        .gather_wait = 300ms});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  (void)store.allocate_id();  // the id block's reservation, out of the way
  submit_behind_a_lock(path, store, 50);  // transactions of many writes
  std::this_thread::sleep_for(400ms);     // then idle, past gather_wait
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store.submit({{.id = store.allocate_id().value(),
                             .request = {.user = "ann", .kind = "noop"}, .time = t0}}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms)
      << "a lone write on an idle store waited for company";
}

// Background checkpoints (a tiny threshold here) run while the writer writes and a reader reads;
// every job stays readable, then and after reopening.
TEST(SqliteStore, BackgroundCheckpointsRunBesideTheWriter) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path,
                                        .synchronous = sqlite_options::synchronous_mode::off,
                                        .checkpoint_pages = 8});
  ASSERT_TRUE(opened.ok());
  auto& store = *opened.value();
  std::vector<job_id> ids;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      auto page = store.list_unfinished(0, 100);
      ASSERT_TRUE(page.ok()) << page.error().message;
    }
  });
  for (int round = 0; round < 40; ++round) {
    std::vector<submission> batch;
    for (int i = 0; i < 20; ++i) {
      ids.push_back(store.allocate_id().value());
      batch.push_back({.id = ids.back(), .request = {.user = "u" + std::to_string(i % 4), .kind = "noop"},
                       .time = t0});
    }
    ASSERT_TRUE(store.submit(std::move(batch)).ok());
  }
  done = true;
  reader.join();
  EXPECT_GT(store.stats().checkpoints, 0u);
  for (job_id id : ids) ASSERT_TRUE(store.get(id).ok()) << "job " << id;
  opened.value().reset();
  auto reopened = sqlite_job_store::open({.path = path});
  ASSERT_TRUE(reopened.ok());
  for (job_id id : ids) ASSERT_TRUE(reopened.value()->get(id).ok()) << "job " << id << " after reopening";
}

TEST(SqliteStore, WritesQueuedWhenTheStoreClosesAreCommittedBeforeItCloses) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  std::atomic<int> acknowledged{0};
  std::vector<job_id> ids;
  {
    auto opened = sqlite_job_store::open({.path = path});
    ASSERT_TRUE(opened.ok());
    auto& store = *opened.value();
    for (int i = 0; i < 100; ++i) {
      ids.push_back(store.allocate_id().value());
      store.submit_async({{.id = ids.back(), .request = {.user = "ann", .kind = "noop"},
                           .time = t0}},
                         [&](auto r) { acknowledged += r.ok() ? 1 : 0; });
    }
  }  // the destructor runs what is queued, then stops the writer
  EXPECT_EQ(acknowledged.load(), 100);
  auto reopened = sqlite_job_store::open({.path = path});
  ASSERT_TRUE(reopened.ok());
  for (job_id id : ids) EXPECT_TRUE(reopened.value()->get(id).ok()) << "job " << id;
}

}  // namespace
}  // namespace respawn::store
