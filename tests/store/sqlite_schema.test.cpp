// The SQLite schema's versions: old files are migrated when opened (version 1 and 3 files built
// here as those releases wrote them), and version 4's point, the request stored once (F9): an
// event no longer rewrites it.
#include <gtest/gtest.h>

#include <string>

#include "respawn/jobs/fold.hpp"
#include "sqlite_file.hpp"
#include "store/sqlite_job_store.hpp"
#include "temp_dir.hpp"

namespace respawn::store {
namespace {
using testing::exec_sql;
using testing::query_sql;
const jobs::job_time t0 = jobs::from_microseconds(1'700'000'000'000'000);

// Version 3's schema, as that release created it.
const char* const schema_v3 = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('next_job_id', 100);
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY, user_name TEXT NOT NULL, kind TEXT NOT NULL, priority INTEGER NOT NULL,
  idempotency_key TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL,
  last_sequence INTEGER NOT NULL, created_at_us INTEGER NOT NULL, updated_at_us INTEGER NOT NULL,
  retry_at_us INTEGER, state TEXT NOT NULL);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (user_name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_user ON jobs (user_name, id);
CREATE INDEX jobs_by_user_status ON jobs (user_name, status, id);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_kind ON jobs (kind, id);
CREATE INDEX jobs_unfinished ON jobs (id)
  WHERE status = 'queued' OR status = 'running' OR status = 'failed';
CREATE TABLE events (job_id INTEGER NOT NULL, sequence INTEGER NOT NULL, time_us INTEGER NOT NULL,
  type TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (job_id, sequence)) WITHOUT ROWID;
PRAGMA user_version = 3;
)sql";

// The rows a version-3 store wrote for a job: its events, and its state row with the request in
// it (the whole jobs::job_state as JSON).
std::string v3_job_rows(const std::vector<jobs::event>& log, const std::string& key) {
  const jobs::job_state state = jobs::fold(log);
  std::string sql = "INSERT INTO jobs VALUES (" + std::to_string(state.id) + ", '" +
                    state.request.user + "', '" + state.request.kind + "', 0, " +
                    (key.empty() ? "NULL" : "'" + key + "'") + ", '" +
                    std::string(jobs::to_string(state.status)) + "', " +
                    std::to_string(state.attempts) + ", " + std::to_string(state.last_sequence) +
                    ", " + std::to_string(jobs::to_microseconds(state.created_at)) + ", " +
                    std::to_string(jobs::to_microseconds(state.updated_at)) + ", NULL, '" +
                    nlohmann::json(state).dump() + "');\n";
  for (const auto& e : log) {
    sql += "INSERT INTO events VALUES (" + std::to_string(e.job) + ", " +
           std::to_string(e.sequence) + ", " + std::to_string(jobs::to_microseconds(e.time)) +
           ", '" + std::string(jobs::to_string(e.type)) + "', '" + e.payload.dump() + "');\n";
  }
  return sql;
}

std::vector<jobs::event> a_log(job_id id, const std::string& key, int outputs) {
  jobs::job_request request{.user = "ann", .kind = "sum", .args = {{"n", 1.5}, {"xs", {1, 2, 3}}}};
  if (!key.empty()) request.idempotency_key = key;
  std::vector<jobs::event> log{jobs::make_submitted(id, t0, request), jobs::make_claimed(id, 2, t0, 1)};
  for (int i = 0; i < outputs; ++i) {
    log.push_back(jobs::make_output(id, log.size() + 1, t0, nlohmann::json{{"line", i}}));
  }
  return log;
}

TEST(SqliteSchema, MigratesAVersionThreeDatabase) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  const auto running = a_log(7, "key-7", 2);
  auto finished = a_log(8, "", 0);
  finished.push_back(jobs::make_succeeded(8, 3, t0, 42));
  exec_sql(path, std::string(schema_v3) + v3_job_rows(running, "key-7") + v3_job_rows(finished, ""));

  // The store's clock a minute after the jobs' times: the key has not expired.
  auto opened = sqlite_job_store::open(
      {.path = path, .clock = [] { return t0 + std::chrono::minutes(1); }});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& store = *opened.value();
  EXPECT_EQ(query_sql(path, "PRAGMA user_version"), "4");
  // Every state reads back as it was, request included; the request is in its own table and no
  // longer in the state row.
  EXPECT_EQ(store.get(7).value(), jobs::fold(running));
  EXPECT_EQ(store.get(8).value(), jobs::fold(finished));
  EXPECT_EQ(query_sql(path, "SELECT json_type(state, '$.request') FROM jobs WHERE id = 7"), "");
  EXPECT_EQ(query_sql(path, "SELECT output_bytes FROM jobs WHERE id = 7"),
            std::to_string(running[2].payload.dump().size() + running[3].payload.dump().size()));
  EXPECT_NE(query_sql(path, "SELECT finished_at_us FROM jobs WHERE id = 8"), "");
  auto unfinished = store.list_unfinished(0, 10);
  ASSERT_TRUE(unfinished.ok()) << unfinished.error().message;
  ASSERT_EQ(unfinished.value().jobs.size(), 1u);
  EXPECT_EQ(unfinished.value().jobs[0].id, 7u);
  // Writable, and the idempotency key still names its job.
  EXPECT_TRUE(store.append({jobs::make_succeeded(7, 5, t0, 1)}).ok());
  auto again = store.submit({{.id = store.allocate_id().value(), .request = running[0].payload.at("request").get<jobs::job_request>(), .time = t0}});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again.value()[0], (submit_outcome{.id = 7, .existing = true}));
  EXPECT_GE(store.allocate_id().value(), 100u) << "next_job_id survives the migration";
}

// A version-1 file: its unfinished-jobs index is rebuilt with the version-2 condition, and it goes
// on through versions 3 and 4.
TEST(SqliteSchema, MigratesAVersionOneDatabase) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  const auto log = a_log(3, "", 0);
  exec_sql(path, std::string(schema_v3) + v3_job_rows(log, "") +
                     "DROP INDEX jobs_unfinished; CREATE INDEX jobs_unfinished ON jobs (id) "
                     "WHERE status IN ('queued', 'running', 'failed'); DROP INDEX jobs_by_user_status; "
                     "PRAGMA user_version = 1;");
  auto store = sqlite_job_store::open({.path = path});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(query_sql(path, "PRAGMA user_version"), "4");
  auto unfinished = store.value()->list_unfinished(0, 10);
  ASSERT_TRUE(unfinished.ok()) << unfinished.error().message;
  ASSERT_EQ(unfinished.value().jobs.size(), 1u);
  EXPECT_EQ(unfinished.value().jobs[0], jobs::fold(log));
  EXPECT_TRUE(store.value()->append({jobs::make_succeeded(3, 3, t0, 1)}).ok());
}

// F9: every event used to rewrite the job's row, request and all: 1 MB of args made each progress
// report a 1 MB write. The request is now written once; an event writes its own row and the
// small derived state. Measured in pages written to the WAL, not in time.
TEST(SqliteSchema, ProgressEventsDoNotRewriteTheRequest) {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "jobs.db").string();
  auto opened = sqlite_job_store::open({.path = path,
                                        .synchronous = sqlite_options::synchronous_mode::off});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& store = *opened.value();
  const std::size_t args_bytes = 1u << 20;
  const job_id id = store.allocate_id().value();
  const jobs::job_request request{.user = "ann", .kind = "sum",
                                  .args = {{"blob", std::string(args_bytes, 'x')}}};
  ASSERT_TRUE(store.submit({{.id = id, .request = request, .time = t0}}).ok());
  ASSERT_TRUE(store.append({jobs::make_claimed(id, 2, t0, 1)}).ok());
  std::vector<jobs::event> log{jobs::make_submitted(id, t0, request), jobs::make_claimed(id, 2, t0, 1)};

  const std::uint64_t page_size = std::stoull(query_sql(path, "PRAGMA page_size"));
  const std::uint64_t before = store.stats().wal_pages;
  constexpr int events = 40;
  for (int i = 0; i < events; ++i) {
    log.push_back(jobs::make_progress(id, log.size() + 1, t0, nlohmann::json{{"done", i}}));
    ASSERT_TRUE(store.append({log.back()}).ok());
  }
  const std::uint64_t written = (store.stats().wal_pages - before) * page_size;
  EXPECT_LT(written * 25, events * args_bytes)
      << events << " progress events wrote " << written << " bytes: the request is being rewritten";
  // The folded state reads back unchanged, request included.
  auto state = store.get(id);
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(state.value(), jobs::fold(log));
  EXPECT_EQ(state.value().request, request);
}

}  // namespace
}  // namespace respawn::store
