// A thin RAII layer over one SQLite connection: prepared statements kept for the connection's
// life (prepared once, reset after each use), errors raised as sqlite_failure, and the countdown
// fault hook on every step. Exceptions stay inside src/store: the backend turns them into
// store_error values at the seam.
//
// Not thread-safe: a connection is used by one thread at a time (its owner holds a mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/store_error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace respawn::store {

class countdown_fault;

class sqlite_failure : public std::runtime_error {
 public:
  sqlite_failure(int code, const std::string& message, bool injected = false, int system_errno = 0)
      : std::runtime_error(message), code_(code), injected_(injected), system_errno_(system_errno) {}
  int code() const { return code_; }
  bool injected() const { return injected_; }
  int system_errno() const { return system_errno_; }  // sqlite3_system_errno at the failure

 private:
  int code_;
  bool injected_;
  int system_errno_;
};

// Which store_errc a SQLite failure is (its primary code; extended codes are masked):
// SQLITE_BUSY / SQLITE_LOCKED -> busy, SQLITE_FULL (and an I/O error whose errno was ENOSPC)
// -> disk_full, anything else -> io_error. busy and disk_full are transient: the process that
// met them retries with backoff (docs/engine.md).
store_errc classify(int sqlite_code, int system_errno = 0);
inline store_errc classify(const sqlite_failure& failure) { return classify(failure.code(), failure.system_errno()); }

class sqlite_statement {
 public:
  sqlite_statement(sqlite3* db, std::string_view sql, countdown_fault* fault);
  ~sqlite_statement();
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;

  sqlite_statement& bind(int index, std::int64_t value);
  // Text is copied by SQLite (a temporary argument is safe).
  sqlite_statement& bind(int index, std::string_view value);
  // Text bound without a copy (SQLITE_STATIC), for the store's hot path: `value` must outlive
  // the step (bind, step and reset within one statement_use, on an lvalue or a literal).
  sqlite_statement& bind_static(int index, std::string_view value);
  sqlite_statement& bind(int index, std::optional<std::int64_t> value);
  sqlite_statement& bind(int index, const std::optional<std::string>& value);
  sqlite_statement& bind_null(int index);

  // True when a row is ready, false when done. Throws sqlite_failure (also for an injected fault).
  bool step();
  void reset();

  std::int64_t column_int64(int index);
  std::string column_text(int index);
  bool column_is_null(int index);

 private:
  void check(int rc, const char* what);
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  countdown_fault* fault_;
};

// Resets its statement when it goes out of scope, so that no statement is left mid-way holding
// a read snapshot (which in WAL mode would keep checkpoints from finishing).
class statement_use {
 public:
  explicit statement_use(sqlite_statement& s) : s_(s) {}
  ~statement_use() { s_.reset(); }
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  sqlite_statement* operator->() { return &s_; }
  sqlite_statement& operator*() { return s_; }

 private:
  sqlite_statement& s_;
};

class sqlite_connection {
 public:
  // Opens (creating if needed) the database at `path` (":memory:" for a private in-memory one).
  sqlite_connection(const std::string& path, countdown_fault* fault);
  ~sqlite_connection();
  sqlite_connection(const sqlite_connection&) = delete;
  sqlite_connection& operator=(const sqlite_connection&) = delete;

  // The statement for `sql`, prepared on first use and kept; reset and unbound. Looked up by
  // string_view, so a call with a literal allocates nothing.
  statement_use prepare(std::string_view sql);
  // Runs SQL (one or more statements), counted by the fault hook.
  void exec(const std::string& sql);
  // Runs one statement that returns no rows through its kept prepared statement: for the
  // writer's BEGIN / SAVEPOINT / RELEASE / COMMIT, run for every write, so not parsed each time.
  void run(std::string_view sql);
  // Runs SQL without the fault hook: for ROLLBACK, which must be able to undo an injected fault.
  // False if it failed (the connection's state is then unknown).
  bool exec_unfaulted(const std::string& sql) noexcept;
  // A single-value query (a PRAGMA) as text.
  std::string query_text(const std::string& sql);
  bool in_transaction() const;

  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  countdown_fault* fault_;
  struct sql_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<sqlite_statement>, sql_hash, std::equal_to<>>
      statements_{};
};

}  // namespace respawn::store
