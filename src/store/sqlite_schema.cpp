// Schema version 4 (docs/store.md explains each table), and the migrations from versions 1, 2 and
// 3. The event log is append-only while a job lives: rows of `events` are inserted, never updated;
// retention deletes a finished job's events with its row once its TTL is past. `jobs` holds each
// job's current state, the fold of its events, rewritten in the same transaction as every append;
// its JSON `state` column is the jobs::job_state without its request, the other columns are copies
// kept for indexes and the store's own bookkeeping. The request is in `job_requests`, written once.
//
// Version 2 differs from 1 in one index: `jobs_unfinished`'s condition is written with OR instead
// of `status IN (...)`. SQLite evaluates an IN list of three or more constants through an
// ephemeral table, opened (a pager, allocations) by every statement that maintains the index:
// every insert and update of a job row paid for it.
//
// Version 3 adds `jobs_by_user_status` (user, status, id): a user's list filtered by state
// (GET /v1/jobs?state=queued) walked the user's jobs by id until it found one in that state --
// thousands of rows once most of them had finished.
//
// Version 4 moves the request out of the state row (F9: every event rewrote the whole request,
// 1 MB of args made each progress report a 1 MB write), and adds what retention and quarantine
// need: `stored_at_us` and `finished_at_us` (the store's own clock, not the events' times),
// `output_bytes` (the per-job output cap), the `jobs_finished` index and the `quarantine` table.
#include "store/sqlite_schema.hpp"

#include <string>

namespace respawn::store {
namespace {
// The jobs table and its indexes, as version 4 has them (a new database, and the v3 -> v4 rebuild).
#define RESPAWN_JOBS_V4_COLUMNS                                                                    \
  "  id              INTEGER PRIMARY KEY,\n"                                                     \
  "  user_name       TEXT NOT NULL,\n"                                                           \
  "  kind            TEXT NOT NULL,\n"                                                           \
  "  priority        INTEGER NOT NULL,\n"                                                        \
  "  idempotency_key TEXT,\n"                                                                    \
  "  status          TEXT NOT NULL,\n"                                                           \
  "  attempts        INTEGER NOT NULL,\n"                                                        \
  "  last_sequence   INTEGER NOT NULL,\n"                                                        \
  "  created_at_us   INTEGER NOT NULL,\n"                                                        \
  "  updated_at_us   INTEGER NOT NULL,\n"                                                        \
  "  retry_at_us     INTEGER,\n"                                                                 \
  "  stored_at_us    INTEGER NOT NULL,\n"                                                        \
  "  finished_at_us  INTEGER,\n"                                                                 \
  "  output_bytes    INTEGER NOT NULL DEFAULT 0,\n"                                              \
  "  state           TEXT NOT NULL\n"

#define RESPAWN_JOBS_V4_INDEXES                                                                    \
  "CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (user_name, idempotency_key)\n"           \
  "  WHERE idempotency_key IS NOT NULL;\n"                                                       \
  "CREATE INDEX jobs_by_user ON jobs (user_name, id);\n"                                         \
  "CREATE INDEX jobs_by_user_status ON jobs (user_name, status, id);\n"                          \
  "CREATE INDEX jobs_by_status ON jobs (status, id);\n"                                          \
  "CREATE INDEX jobs_by_kind ON jobs (kind, id);\n"                                              \
  "CREATE INDEX jobs_unfinished ON jobs (id)\n"                                                  \
  "  WHERE status = 'queued' OR status = 'running' OR status = 'failed';\n"                      \
  "CREATE INDEX jobs_finished ON jobs (finished_at_us) WHERE finished_at_us IS NOT NULL;\n"

#define RESPAWN_V4_NEW_TABLES                                                                      \
  "CREATE TABLE job_requests (\n"                                                                \
  "  job_id  INTEGER PRIMARY KEY,\n"                                                             \
  "  request TEXT NOT NULL\n"                                                                    \
  ");\n"                                                                                         \
  "CREATE TABLE quarantine (\n"                                                                  \
  "  job_id   INTEGER NOT NULL,\n"                                                               \
  "  sequence INTEGER NOT NULL,\n"                                                               \
  "  reason   TEXT NOT NULL,\n"                                                                  \
  "  at_us    INTEGER NOT NULL,\n"                                                               \
  "  PRIMARY KEY (job_id, sequence)\n"                                                           \
  ") WITHOUT ROWID;\n"

constexpr const char* schema_v4 =
    "CREATE TABLE meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO meta (key, value) VALUES ('next_job_id', 1);\n"
    "CREATE TABLE jobs (\n" RESPAWN_JOBS_V4_COLUMNS ");\n" RESPAWN_JOBS_V4_INDEXES
    RESPAWN_V4_NEW_TABLES
    "CREATE TABLE events (\n"
    "  job_id   INTEGER NOT NULL,\n"
    "  sequence INTEGER NOT NULL,\n"
    "  time_us  INTEGER NOT NULL,\n"
    "  type     TEXT NOT NULL,\n"
    "  payload  TEXT NOT NULL,\n"
    "  PRIMARY KEY (job_id, sequence)\n"
    ") WITHOUT ROWID;\n"
    "PRAGMA user_version = 4;\n";

constexpr const char* migrate_v1_to_v2 = R"sql(
DROP INDEX jobs_unfinished;
CREATE INDEX jobs_unfinished ON jobs (id)
  WHERE status = 'queued' OR status = 'running' OR status = 'failed';
PRAGMA user_version = 2;
)sql";

constexpr const char* migrate_v2_to_v3 = R"sql(
CREATE INDEX jobs_by_user_status ON jobs (user_name, status, id);
PRAGMA user_version = 3;
)sql";

// The request leaves the state row for a table of its own (written once, at submission), and the
// jobs table is rebuilt with the v4 columns (the store's clock at submission and at the end, the
// bytes of output so far), so that its layout is a new database's. A row whose JSON is unreadable
// is copied as it is (without a request row): reads quarantine it (docs/store.md).
constexpr const char* migrate_v3_to_v4 =
    RESPAWN_V4_NEW_TABLES
    "INSERT INTO job_requests (job_id, request)\n"
    "  SELECT id, json_extract(state, '$.request') FROM jobs\n"
    "  WHERE json_valid(state) AND json_type(state, '$.request') = 'object';\n"
    "CREATE TABLE jobs_v4 (\n" RESPAWN_JOBS_V4_COLUMNS ");\n"
    "INSERT INTO jobs_v4 (id, user_name, kind, priority, idempotency_key, status, attempts,\n"
    "    last_sequence, created_at_us, updated_at_us, retry_at_us, stored_at_us, finished_at_us,\n"
    "    output_bytes, state)\n"
    "  SELECT id, user_name, kind, priority, idempotency_key, status, attempts, last_sequence,\n"
    "    created_at_us, updated_at_us, retry_at_us, created_at_us,\n"
    "    CASE WHEN status = 'succeeded' OR status = 'dead' OR status = 'cancelled'\n"
    "         THEN updated_at_us END,\n"
    "    (SELECT COALESCE(SUM(length(CAST(payload AS BLOB))), 0) FROM events\n"
    "       WHERE events.job_id = jobs.id AND events.type = 'output'),\n"
    "    CASE WHEN json_valid(state) THEN json_remove(state, '$.request') ELSE state END\n"
    "  FROM jobs;\n"
    "DROP TABLE jobs;\n"
    "ALTER TABLE jobs_v4 RENAME TO jobs;\n" RESPAWN_JOBS_V4_INDEXES
    "PRAGMA user_version = 4;\n";

// Runs `sql` in one transaction, so that a crash leaves the database as it was or done.
void in_one_transaction(sqlite_connection& db, const char* sql) {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(sql);
    db.exec("COMMIT");
  } catch (...) {
    db.exec_unfaulted("ROLLBACK");
    throw;
  }
}
}  // namespace

std::optional<store_error> prepare_sqlite_schema(sqlite_connection& db) {
  const int version = std::stoi(db.query_text("PRAGMA user_version"));
  if (version == sqlite_schema_version) return std::nullopt;
  if (version > sqlite_schema_version) {
    return store_error{store_errc::schema_too_new,
                       "the database has schema version " + std::to_string(version) +
                           ", newer than this build's " + std::to_string(sqlite_schema_version) +
                           ": run a newer Respawn"};
  }
  if (version == 0) {
    in_one_transaction(db, schema_v4);  // a new database
    return std::nullopt;
  }
  if (version == 1) in_one_transaction(db, migrate_v1_to_v2);
  if (version <= 2) in_one_transaction(db, migrate_v2_to_v3);
  if (version <= 3) in_one_transaction(db, migrate_v3_to_v4);
  return std::nullopt;
}

}  // namespace respawn::store
