// Schema version 3 (docs/store.md explains each table), and the migrations from versions 1 and 2. The
// event log is append-only: rows of `events` are inserted, never updated or deleted. `jobs` holds
// each job's current state, the fold of its events, rewritten in the same transaction as every
// append; its JSON `state` column is the whole jobs::job_state, the other columns are copies kept
// for indexes.
//
// Version 2 differs from 1 in one index: `jobs_unfinished`'s condition is written with OR instead
// of `status IN (...)`. SQLite evaluates an IN list of three or more constants through an
// ephemeral table, opened (a pager, allocations) by every statement that maintains the index:
// every insert and update of a job row paid for it.
//
// Version 3 adds `jobs_by_user_status` (user, status, id): a user's list filtered by state
// (GET /v1/jobs?state=queued) walked the user's jobs by id until it found one in that state --
// thousands of rows once most of them had finished.
#include "store/sqlite_schema.hpp"

#include <string>

namespace respawn::store {
namespace {
constexpr const char* schema_v3 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('next_job_id', 1);

CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  user_name       TEXT NOT NULL,
  kind            TEXT NOT NULL,
  priority        INTEGER NOT NULL,
  idempotency_key TEXT,
  status          TEXT NOT NULL,
  attempts        INTEGER NOT NULL,
  last_sequence   INTEGER NOT NULL,
  created_at_us   INTEGER NOT NULL,
  updated_at_us   INTEGER NOT NULL,
  retry_at_us     INTEGER,
  state           TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (user_name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_by_user ON jobs (user_name, id);
CREATE INDEX jobs_by_user_status ON jobs (user_name, status, id);
CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_kind ON jobs (kind, id);
CREATE INDEX jobs_unfinished ON jobs (id)
  WHERE status = 'queued' OR status = 'running' OR status = 'failed';

CREATE TABLE events (
  job_id   INTEGER NOT NULL,
  sequence INTEGER NOT NULL,
  time_us  INTEGER NOT NULL,
  type     TEXT NOT NULL,
  payload  TEXT NOT NULL,
  PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;

PRAGMA user_version = 3;
)sql";

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
    in_one_transaction(db, schema_v3);  // a new database
    return std::nullopt;
  }
  if (version == 1) in_one_transaction(db, migrate_v1_to_v2);
  if (version <= 2) in_one_transaction(db, migrate_v2_to_v3);
  return std::nullopt;
}

}  // namespace respawn::store
