// What can go wrong at the store seam, as values (STYLE.md: expected failures are values, one
// enum of codes per domain), and store_result<T>, a value or the store_error that prevented it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "respawn/value_or_error.hpp"

namespace respawn::store {

enum class store_errc : std::uint8_t {
  idempotency_conflict,  // the user's idempotency key names a job with a different request
  not_found,             // no such job
  invalid_transition,    // an appended event does not follow the job's state (jobs::apply)
  invalid_request,       // the call itself is wrong (a job id already used, an empty batch, ...)
  io_error,              // the database failed (or a fault was injected): nothing was written
  schema_too_new,        // the database was written by a newer Respawn
  bad_configuration,     // an option is out of range; the message says which
  overloaded,            // the writer's queue is at its bound: try again later
  closed,                // the store is shutting down
  busy,                  // the database is locked by another connection (SQLITE_BUSY/LOCKED): transient
  disk_full,             // the disk is full (SQLITE_FULL, ENOSPC): transient, node-wide
};

std::string_view to_string(store_errc code);

struct store_error {
  store_errc code = store_errc::io_error;
  std::string message{};
};

// Returned by writes: the write is durable (its transaction committed).
struct committed {};

template <class T>
using store_result = value_or_error<T, store_error>;

}  // namespace respawn::store
