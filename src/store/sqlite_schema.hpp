// The SQLite schema and its version (PRAGMA user_version): created on first open, checked on
// every open, so that an older binary never writes into a newer database it does not understand.
#pragma once

#include <optional>

#include "store/sqlite_connection.hpp"
#include "store/store_error.hpp"

namespace respawn::store {

inline constexpr int sqlite_schema_version = 4;

// Creates the schema in a new database, migrates an older one, or checks an existing one's version.
std::optional<store_error> prepare_sqlite_schema(sqlite_connection& db);

}  // namespace respawn::store
