// SQLite connection and statement wrappers (see sqlite_connection.hpp).
#include "store/sqlite_connection.hpp"

#include <sqlite3.h>

#include <cerrno>

#include "store/countdown_fault.hpp"

namespace respawn::store {

store_errc classify(int sqlite_code, int system_errno) {
  switch (sqlite_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return store_errc::busy;
    case SQLITE_FULL:
      return store_errc::disk_full;
    case SQLITE_IOERR:
      return system_errno == ENOSPC ? store_errc::disk_full : store_errc::io_error;
    default:
      return store_errc::io_error;
  }
}

namespace {
[[noreturn]] void throw_injected(const char* where) {
  throw sqlite_failure(SQLITE_IOERR, std::string("injected fault at ") + where, true);
}
}  // namespace

sqlite_statement::sqlite_statement(sqlite3* db, std::string_view sql, countdown_fault* fault)
    : db_(db), fault_(fault) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &statement_, nullptr);
  if (rc != SQLITE_OK) {
    throw sqlite_failure(rc, "cannot prepare \"" + std::string(sql) + "\": " + sqlite3_errmsg(db));
  }
}

sqlite_statement::~sqlite_statement() { sqlite3_finalize(statement_); }

void sqlite_statement::check(int rc, const char* what) {
  if (rc != SQLITE_OK) throw sqlite_failure(rc, std::string(what) + ": " + sqlite3_errmsg(db_));
}

sqlite_statement& sqlite_statement::bind(int index, std::int64_t value) {
  check(sqlite3_bind_int64(statement_, index, value), "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind(int index, std::string_view value) {
  // A null data pointer would bind NULL, not the empty string.
  const char* data = value.data() != nullptr ? value.data() : "";
  check(sqlite3_bind_text(statement_, index, data, static_cast<int>(value.size()), SQLITE_TRANSIENT),
        "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind_static(int index, std::string_view value) {
  const char* data = value.data() != nullptr ? value.data() : "";
  check(sqlite3_bind_text(statement_, index, data, static_cast<int>(value.size()), SQLITE_STATIC),
        "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

sqlite_statement& sqlite_statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

sqlite_statement& sqlite_statement::bind_null(int index) {
  check(sqlite3_bind_null(statement_, index), "bind");
  return *this;
}

bool sqlite_statement::step() {
  if (fault_ != nullptr && fault_->should_fail()) throw_injected(sqlite3_sql(statement_));
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string message = sqlite3_errmsg(db_);
  const int system_errno = sqlite3_system_errno(db_);
  sqlite3_reset(statement_);
  throw sqlite_failure(rc, std::string(sqlite3_sql(statement_)) + ": " + message, false, system_errno);
}

void sqlite_statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

std::int64_t sqlite_statement::column_int64(int index) {
  return sqlite3_column_int64(statement_, index);
}

std::string sqlite_statement::column_text(int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, index));
  const int size = sqlite3_column_bytes(statement_, index);
  return text == nullptr ? std::string() : std::string(text, static_cast<std::size_t>(size));
}

bool sqlite_statement::column_is_null(int index) {
  return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

sqlite_connection::sqlite_connection(const std::string& path, countdown_fault* fault)
    : fault_(fault) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw sqlite_failure(rc, "cannot open " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

sqlite_connection::~sqlite_connection() {
  statements_.clear();  // finalize every statement before closing
  sqlite3_close_v2(db_);
}

statement_use sqlite_connection::prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it = statements_.emplace(std::string(sql), std::make_unique<sqlite_statement>(db_, sql, fault_))
             .first;
  }
  it->second->reset();
  return statement_use(*it->second);
}

void sqlite_connection::exec(const std::string& sql) {
  if (fault_ != nullptr && fault_->should_fail()) throw_injected(sql.c_str());
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw sqlite_failure(rc, sql + ": " + message, false, sqlite3_system_errno(db_));
  }
}

void sqlite_connection::run(std::string_view sql) {
  auto s = prepare(sql);
  while (s->step()) {
  }
}

bool sqlite_connection::exec_unfaulted(const std::string& sql) noexcept {
  return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::string sqlite_connection::query_text(const std::string& sql) {
  sqlite_statement statement(db_, sql, fault_);
  std::string value;
  if (statement.step()) value = statement.column_text(0);
  while (statement.step()) {
  }
  return value;
}

bool sqlite_connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace respawn::store
