// value_or_error<T, E>: the value of an operation that can fail in an expected way, or the E that
// says why it failed (STYLE.md: expected failures are values). std::expected is C++23 and GCC 12
// in C++20 mode does not have it. Each domain names its own: result<T> (calls, with call_error),
// store::store_result<T> (store_error), user_result<T> (user_error).
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace respawn {

template <class T, class E>
class value_or_error {
 public:
  value_or_error(T value) : v_{std::in_place_index<0>, std::move(value)} {}  // NOLINT: implicit by design
  value_or_error(E error) : v_{std::in_place_index<1>, std::move(error)} {}  // NOLINT: implicit by design

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
  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

}  // namespace respawn
