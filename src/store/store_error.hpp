// What can go wrong at the store seam, as values (STYLE.md: expected failures are values, one
// enum of codes per domain), and store_result<T>, a value or the store_error that prevented it.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

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
};

std::string_view to_string(store_errc code);

struct store_error {
  store_errc code = store_errc::io_error;
  std::string message{};
};

// Returned by writes: the write is durable (its transaction committed).
struct committed {};

template <class T>
class store_result {
 public:
  store_result(T value) : v_{std::in_place_index<0>, std::move(value)} {}           // NOLINT
  store_result(store_error error) : v_{std::in_place_index<1>, std::move(error)} {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const store_error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, store_error> v_;
};

}  // namespace respawn::store
